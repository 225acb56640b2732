"""Interest config for unit tests: base.yaml with the test lakehouse."""

from __future__ import annotations

import pytest

from crosssell_spark.config import InterestConfig
from tests.conftest import make_test_config


@pytest.fixture(scope="session")
def interest(tmp_path_factory: pytest.TempPathFactory) -> InterestConfig:
    return make_test_config(tmp_path_factory.mktemp("interest-lh")).interest
