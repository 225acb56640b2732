"""Similarity config for unit tests: base.yaml with per-test overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from crosssell_spark.config import SimilarityConfig
from tests.conftest import make_test_config


@pytest.fixture
def similarity(tmp_path: Path) -> Callable[..., SimilarityConfig]:
    """similarity section of base.yaml, with `--set`-style overrides relative to `similarity.`."""

    def build(*overrides: str) -> SimilarityConfig:
        return make_test_config(tmp_path / "lh", *[f"similarity.{o}" for o in overrides]).similarity

    return build
