"""Typed configuration: `conf/base.yaml` plus overlays, merged and validated at start-up.

`conf/base.yaml` is the single source of defaults. Overlays (`--conf FILE`, repeatable) and
`--set dotted.key=value` overrides are deep-merged on top in order. Every error names the file
(or override) that set the offending key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crosssell_spark.schemas import CANONICAL_EVENT_TYPES, RAW_EVENT_COLUMNS, RAW_ITEM_COLUMNS

BASE_CONFIG_NAME = "base.yaml"
CONF_DIR_ENV = "CROSSSELL_CONF_DIR"


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the source and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Section):
    app_name: str
    master: str | None = None  # None: keep spark-submit's master, else local[*]
    shuffle_partitions: int = Field(gt=0)
    log_level: str
    checkpoint_dir: str | None = None  # None: <lakehouse.root>/_checkpoints
    conf: dict[str, str] = {}


class LakehouseConfig(_Section):
    root: str
    database: str | None = None  # also register published tables in this catalog database
    staging_dir: str = "_staging"


InputSource = Literal["sample", "files", "instacart", "rees46", "uci_online_retail"]
FileFormat = Literal["csv", "parquet", "json", "delta"]


class TableInputConfig(_Section):
    """Where one raw input lives and how its columns map onto the input contract."""

    path: str | None = None
    format: FileFormat = "csv"
    options: dict[str, str] = {}
    columns: dict[str, str] = {}  # contract column -> source column
    category_columns: list[str] = []  # catalogue only: level columns, root first, instead of a path
    category_separator: str | None = None  # catalogue only: separator used by the source path

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class InputConfig(_Section):
    source: InputSource
    path: str | None = None  # data folder of a named public source (instacart, rees46, ...)
    events: TableInputConfig = TableInputConfig()
    catalogue: TableInputConfig = TableInputConfig()

    @model_validator(mode="after")
    def _paths_present(self) -> InputConfig:
        if self.source in ("instacart", "rees46", "uci_online_retail") and not self.path:
            raise ValueError(f"input.path is required for input.source={self.source}")
        if self.source == "files":
            for name, table in (("events", self.events), ("catalogue", self.catalogue)):
                if not table.path:
                    raise ValueError(f"input.{name}.path is required for input.source=files")
        for table, allowed in ((self.events, RAW_EVENT_COLUMNS), (self.catalogue, RAW_ITEM_COLUMNS)):
            unknown = sorted(set(table.columns) - set(allowed))
            if unknown:
                raise ValueError(f"unknown contract columns {unknown}; allowed: {list(allowed)}")
        return self


class SampleConfig(_Section):
    events: int = Field(gt=0)
    seed: int
    path: str  # where the generated raw files land


class CleaningConfig(_Section):
    event_type_aliases: dict[str, list[str]]  # canonical or extra type -> raw spellings
    timestamp_formats: list[str]
    min_event_ts: str
    max_future_skew_hours: int = Field(ge=0)
    near_duplicate_window_seconds: int = Field(ge=0)
    bot_max_events_per_day: int = Field(gt=0)
    session_gap_minutes: int = Field(gt=0)
    max_price: float = Field(gt=0)
    max_quantity: int = Field(gt=0)
    unknown_category: str
    default_in_stock: bool

    @field_validator("event_type_aliases")
    @classmethod
    def _canonical_types_present(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        missing = [t for t in CANONICAL_EVENT_TYPES if t not in value]
        if missing:
            raise ValueError(f"canonical event types missing: {missing}")
        return value


Severity = Literal["critical", "warning", "info"]


class QualityConfig(_Section):
    gx_dir: str | None = None  # None: <lakehouse.root>/_gx (local roots) or ./gx
    row_count_tolerance: float = Field(gt=0)
    row_count_severity: Severity
    max_event_age_days: int = Field(gt=0)
    freshness_severity: Severity
    sample_size: int = Field(ge=0, le=100)


class CategoriesConfig(_Section):
    cross_level: int = Field(ge=1)  # hierarchy level at which "another category" is judged


class AppConfig(_Section):
    spark: SparkConfig
    lakehouse: LakehouseConfig
    input: InputConfig
    sample: SampleConfig
    cleaning: CleaningConfig
    categories: CategoriesConfig
    quality: QualityConfig


# --- loading --------------------------------------------------------------------------------------


def _deep_merge(
    base: dict[str, Any],
    overlay: Mapping[str, Any],
    origin: str,
    origins: dict[tuple[str, ...], str],
    prefix: tuple[str, ...] = (),
) -> None:
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            origins[path] = origins.get(path, origin)
            _deep_merge(base[key], value, origin, origins, path)
        else:
            base[key] = _expand_env(value)
            _mark_origin(value, origin, origins, path)


def _mark_origin(value: Any, origin: str, origins: dict[tuple[str, ...], str], path: tuple[str, ...]) -> None:
    origins[path] = origin
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _mark_origin(inner, origin, origins, (*path, str(key)))


def _expand_env(value: Any) -> Any:
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, Mapping):
        return {k: _expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn `a.b.c=value` into a nested mapping; the value is parsed as YAML (numbers, lists...)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected dotted.key=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"--set {text!r}: empty key")
    value: Any = yaml.safe_load(raw) if raw.strip() else None
    for key in reversed(keys):
        value = {key: value}
    return value


def find_base_config(overlays: Iterable[Path] = ()) -> Path:
    """base.yaml: $CROSSSELL_CONF_DIR, else beside the first overlay, else ./conf."""
    if os.environ.get(CONF_DIR_ENV):
        return Path(os.environ[CONF_DIR_ENV]) / BASE_CONFIG_NAME
    for overlay in overlays:
        candidate = Path(overlay).parent / BASE_CONFIG_NAME
        if candidate.exists():
            return candidate
    return Path("conf") / BASE_CONFIG_NAME


def load_config(
    overlays: Iterable[str | Path] = (), overrides: Iterable[str] = (), base: str | Path | None = None
) -> AppConfig:
    """Merge base.yaml, overlay files and `key=value` overrides, then validate."""
    overlay_paths = [Path(p) for p in overlays]
    base_path = Path(base) if base else find_base_config(overlay_paths)
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for path in [base_path, *[p for p in overlay_paths if p.resolve() != base_path.resolve()]]:
        _deep_merge(merged, _read_yaml(path), str(path), origins)
    for override in overrides:
        _deep_merge(merged, parse_override(override), f"--set {override}", origins)
    try:
        return AppConfig.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_describe(err, origins, str(base_path))) from None


def _describe(err: ValidationError, origins: dict[tuple[str, ...], str], base: str) -> str:
    lines = []
    for problem in err.errors():
        loc = tuple(str(p) for p in problem["loc"])
        origin = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), base)
        key = ".".join(loc) or "<root>"
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{problem['msg']} (got {problem.get('input')!r})"
        lines.append(f"{origin}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
