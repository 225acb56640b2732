"""Adapters that deliver raw events and catalogue in the input contract, chosen by `input.source`."""

from __future__ import annotations

from datetime import date

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig, resolve_root
from crosssell_spark.schemas import RAW_EVENTS_SCHEMA, RAW_ITEMS_SCHEMA
from crosssell_spark.sources.contract import InputError, RawInputs

DAY_PARTITION = "event_date"  # one day's raw events live in <events folder>/event_date=YYYY-MM-DD/
# CSV read the RFC 4180 way: a doubled quote inside a quoted field is one quote (Spark's default escape
# is a backslash, which keeps `"24"" monitor"` doubled or splits it), and a quoted field may hold a
# line break (Spark's default reads it as two rows). Options given in config still win.
RFC4180_CSV = {"escape": '"', "multiLine": "true"}


def day_partition(path: str, day: date) -> str:
    """The folder of one day's raw events under a day-partitioned events folder."""
    return f"{path.rstrip('/')}/{DAY_PARTITION}={day.isoformat()}"


def read_sample_world(spark: SparkSession, path: str, run_date: date | None = None) -> RawInputs:
    """The generated sample world's raw Parquet files (only `run_date`'s events when given)."""
    root = resolve_root(path)
    events = f"{root}/events" if run_date is None else day_partition(f"{root}/events", run_date)
    return RawInputs(
        events=spark.read.schema(RAW_EVENTS_SCHEMA).parquet(events),
        items=spark.read.schema(RAW_ITEMS_SCHEMA).parquet(f"{root}/catalogue"),
    )


def load_raw_inputs(spark: SparkSession, config: AppConfig, run_date: date | None = None) -> RawInputs:
    """Read the configured source (generating the sample world first when needed).

    With `run_date`, only that day's partition of the events is read (the catalogue is a
    snapshot and always read whole); only the day-partitioned sources `sample` and `files` allow it.

    Raises:
        InputError: a configured path does not exist, or a mapped column is missing.
    """
    try:
        return _load(spark, config, run_date)
    except AnalysisException as err:
        if err.getCondition() != "PATH_NOT_FOUND":
            raise
        missing = (err.getMessageParameters() or {}).get("path")
        raise InputError(f"input.source={config.input.source}: no such file or folder {missing}") from None


def _load(spark: SparkSession, config: AppConfig, run_date: date | None) -> RawInputs:
    source = config.input.source
    if source == "sample":
        from crosssell_spark.sources import sample_world

        spec = sample_world.SampleWorldSpec(
            events=config.sample.events, seed=config.sample.seed, by_day=config.sample.by_day
        )
        sample_world.ensure_generated(config.sample.path, spec)
        if run_date is not None and not spec.by_day:
            raise ValueError("--run-date with input.source=sample needs sample.by_day=true (day partitions)")
        return read_sample_world(spark, config.sample.path, run_date)
    if source == "files":
        from crosssell_spark.sources import files

        return files.read_raw(spark, config.input, run_date)
    if run_date is not None:
        raise ValueError(f"--run-date needs day-partitioned events (input.source sample or files), not {source}")
    assert config.input.path, "validated by InputConfig"
    if source == "instacart":
        from crosssell_spark.sources import instacart as adapter
    elif source == "rees46":
        from crosssell_spark.sources import rees46 as adapter  # type: ignore[no-redef]
    else:
        from crosssell_spark.sources import uci_online_retail as adapter  # type: ignore[no-redef]
    return adapter.read_raw(spark, config.input.path)
