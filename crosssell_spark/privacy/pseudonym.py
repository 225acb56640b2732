"""Keyed pseudonyms: user and session ids become HMAC-SHA256(key, id) in hex at ingestion.

The key comes from an environment variable or a secret file named in config, never from the
repository; with `privacy.pseudonymise` on and no usable key, jobs refuse to start. The same key
gives the same pseudonym on every run, so tables stay joinable and a serving system can compute
a live user's pseudonym with Python's `hmac` (see README "Privacy").
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from crosssell_spark.config import ConfigError, PrivacyConfig
from crosssell_spark.schemas import SESSION_ID, USER_ID

PSEUDONYMISED_COLUMNS = (USER_ID, SESSION_ID)
REPO_ROOT = Path(__file__).resolve().parents[2]


class PrivacyKeyError(ConfigError):
    """Pseudonymisation is on but no usable key was found; the job must not start."""


def load_key(cfg: PrivacyConfig, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key from `$<key_env>` or `key_file` (the variable wins); None when neither is set.

    Raises:
        PrivacyKeyError: the key file is missing, lies inside the repository, or the key is too short.
    """
    env = os.environ if environ is None else environ
    if env.get(cfg.key_env):
        key, origin = env[cfg.key_env].encode("utf-8"), f"${cfg.key_env}"
    elif cfg.key_file:
        path = Path(cfg.key_file).expanduser().resolve()
        if path.is_relative_to(REPO_ROOT) and (REPO_ROOT / "pyproject.toml").exists():
            raise PrivacyKeyError(f"privacy.key_file {path} lies inside the repository {REPO_ROOT}: keep keys outside")
        if not path.is_file():
            raise PrivacyKeyError(f"privacy.key_file {path} does not exist or is not a file")
        key, origin = path.read_bytes().strip(), f"privacy.key_file {path}"
    else:
        return None
    if len(key) < cfg.min_key_bytes:
        raise PrivacyKeyError(f"the pseudonym key from {origin} has {len(key)} bytes, fewer than {cfg.min_key_bytes}")
    return key


def require_key(
    cfg: PrivacyConfig, environ: Mapping[str, str] | None = None, why: str = "privacy.pseudonymise is on"
) -> bytes:
    """The HMAC key, or a clear error saying why it is needed and where it may come from."""
    key = load_key(cfg, environ)
    if key is None:
        raise PrivacyKeyError(
            f"{why} but no pseudonym key was found: set the environment variable "
            f"{cfg.key_env} or privacy.key_file (a secret file outside the repository); refusing to start"
        )
    return key


def check_startup(cfg: PrivacyConfig, environ: Mapping[str, str] | None = None) -> None:
    """Refuse to start a job when pseudonymisation is on without a usable key, or secure DP noise
    is on without OpenDP (the `dp` extra)."""
    if cfg.pseudonymise:
        require_key(cfg, environ)
    if cfg.dp.enabled and cfg.dp.seed is None and importlib.util.find_spec("opendp") is None:
        raise ConfigError("privacy.dp.enabled needs OpenDP's secure samplers: pip install 'crosssell-spark[dp]'")


def pseudonym(key: bytes, value: str) -> str:
    """HMAC-SHA256 of the trimmed id in lower-case hex: what the pipeline stores for `value`."""
    return hmac.new(key, value.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonym_column(column: Column, key: bytes) -> Column:
    """Spark column of pseudonyms; null stays null. The key travels inside the UDF, never as a
    literal in a query plan (plans show up in the Spark UI and event logs)."""

    @pandas_udf(StringType())  # type: ignore[call-overload]
    def hmac_hex(values: pd.Series) -> pd.Series:
        return values.map(lambda v: pseudonym(key, v) if isinstance(v, str) else None)

    return hmac_hex(column)


def pseudonymise_ids(cfg: PrivacyConfig, environ: Mapping[str, str] | None = None) -> Callable[[DataFrame], DataFrame]:
    """Raw events -> the same rows with user and session ids pseudonymised (identity when off).

    Blank ids stay as they are, so cleaning still quarantines them as `null_key`; they carry no
    identity. Apply once, at ingestion, before anything is written.
    """
    if not cfg.pseudonymise:
        return lambda events: events
    key = require_key(cfg, environ)

    def transform(events: DataFrame) -> DataFrame:
        replaced = {}
        for name in PSEUDONYMISED_COLUMNS:
            trimmed = F.trim(F.col(name).cast("string"))
            blank = trimmed.isNull() | (trimmed == "")
            replaced[name] = F.when(blank, F.col(name).cast("string")).otherwise(pseudonym_column(trimmed, key))
        return events.withColumns(replaced)

    return transform
