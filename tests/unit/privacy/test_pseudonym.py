"""Pseudonyms: the Spark column equals Python's hmac, blanks stay blank, keys never come from the repo."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import PrivacyConfig
from crosssell_spark.privacy.pseudonym import (
    PrivacyKeyError,
    check_startup,
    load_key,
    pseudonym,
    pseudonymise_ids,
    require_key,
)
from crosssell_spark.schemas import RAW_EVENTS_SCHEMA
from tests.conftest import PROJECT_ROOT, make_test_config

KEY = "k" * 32


def privacy(tmp_path: Path, *overrides: str) -> PrivacyConfig:
    return make_test_config(tmp_path / "lh", *[f"privacy.{o}" for o in overrides]).privacy


def test_pseudonym_is_hmac_sha256_of_the_trimmed_id() -> None:
    expected = hmac.new(KEY.encode(), b"U0000042", hashlib.sha256).hexdigest()
    assert pseudonym(KEY.encode(), " U0000042 ") == expected
    assert pseudonym(KEY.encode(), "U0000042") != pseudonym(b"x" * 32, "U0000042")  # keyed


def test_spark_pseudonyms_match_python_and_keep_blanks(spark: SparkSession, tmp_path: Path) -> None:
    cfg = privacy(tmp_path, "pseudonymise=true")
    raw = spark.createDataFrame(
        [
            ("U1", "i1", "view", "2026-10-01T10:00:00", "S1", "1", "1.0"),
            (" U2 ", "i1", "view", "2026-10-01T10:00:00", None, "1", "1.0"),
            ("  ", "i2", "cart", "2026-10-01T10:00:00", "", "1", "1.0"),
            (None, "i2", "cart", "2026-10-01T10:00:00", "S3", "1", "1.0"),
        ],
        RAW_EVENTS_SCHEMA,
    )
    out = raw.transform(pseudonymise_ids(cfg, {cfg.key_env: KEY})).collect()
    key = KEY.encode()
    assert [r["user_id"] for r in out] == [pseudonym(key, "U1"), pseudonym(key, "U2"), "  ", None]
    assert [r["session_id"] for r in out] == [pseudonym(key, "S1"), None, "", pseudonym(key, "S3")]
    assert [r["item_id"] for r in out] == ["i1", "i1", "i2", "i2"]  # other columns untouched


def test_off_means_identity(spark: SparkSession, tmp_path: Path) -> None:
    raw = spark.createDataFrame([("U1", "i1", "view", "t", "S1", "1", "1")], RAW_EVENTS_SCHEMA)
    assert raw.transform(pseudonymise_ids(privacy(tmp_path), {})).collect() == raw.collect()


def test_key_from_env_wins_over_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("f" * 40 + "\n")
    cfg = privacy(tmp_path, f"key_file={secret}")
    assert load_key(cfg, {}) == b"f" * 40  # trailing newline stripped
    assert load_key(cfg, {cfg.key_env: KEY}) == KEY.encode()


def test_no_key_refuses_with_a_clear_error(tmp_path: Path) -> None:
    cfg = privacy(tmp_path, "pseudonymise=true")
    assert load_key(cfg, {}) is None
    with pytest.raises(PrivacyKeyError, match=r"CROSSSELL_PSEUDONYM_KEY or privacy\.key_file"):
        check_startup(cfg, {})
    with pytest.raises(PrivacyKeyError, match="refusing to start"):
        pseudonymise_ids(cfg, {})
    check_startup(privacy(tmp_path), {})  # off: no key needed


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("short", "fewer than 32"),
        ("missing", "does not exist"),
        ("in_repo", "inside the repository"),
    ],
)
def test_unusable_keys_are_refused(tmp_path: Path, setup: str, message: str) -> None:
    if setup == "short":
        cfg, env = privacy(tmp_path), {"CROSSSELL_PSEUDONYM_KEY": "too-short"}
    elif setup == "missing":
        cfg, env = privacy(tmp_path, f"key_file={tmp_path / 'nope.key'}"), {}
    else:
        cfg, env = privacy(tmp_path, f"key_file={PROJECT_ROOT / 'conf' / 'base.yaml'}"), {}
    with pytest.raises(PrivacyKeyError, match=message):
        require_key(cfg, env)
