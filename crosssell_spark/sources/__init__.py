"""Adapters that deliver raw events and catalogue in the input contract, chosen by `input.source`."""

from __future__ import annotations

from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import resolve_root
from crosssell_spark.schemas import RAW_EVENTS_SCHEMA, RAW_ITEMS_SCHEMA
from crosssell_spark.sources.contract import RawInputs


def read_sample_world(spark: SparkSession, path: str) -> RawInputs:
    """The generated sample world's raw Parquet files, read with the contract schemas."""
    root = resolve_root(path)
    return RawInputs(
        events=spark.read.schema(RAW_EVENTS_SCHEMA).parquet(f"{root}/events"),
        items=spark.read.schema(RAW_ITEMS_SCHEMA).parquet(f"{root}/catalogue"),
    )


def load_raw_inputs(spark: SparkSession, config: AppConfig) -> RawInputs:
    """Read the configured source (generating the sample world first when needed)."""
    source = config.input.source
    if source == "sample":
        from crosssell_spark.sources import sample_world

        spec = sample_world.SampleWorldSpec(events=config.sample.events, seed=config.sample.seed)
        sample_world.ensure_generated(config.sample.path, spec)
        return read_sample_world(spark, config.sample.path)
    if source == "files":
        from crosssell_spark.sources import files

        return files.read_raw(spark, config.input)
    assert config.input.path, "validated by InputConfig"
    if source == "instacart":
        from crosssell_spark.sources import instacart as adapter
    elif source == "rees46":
        from crosssell_spark.sources import rees46 as adapter  # type: ignore[no-redef]
    else:
        from crosssell_spark.sources import uci_online_retail as adapter  # type: ignore[no-redef]
    return adapter.read_raw(spark, config.input.path)
