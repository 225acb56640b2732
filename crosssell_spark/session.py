"""The one SparkSession builder: Delta configured, local defaults only outside spark-submit."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig, load_config, resolve_root

log = logging.getLogger(__name__)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# Defaults that suit every deployment; config `spark.conf` entries win over them.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # toPandas / createDataFrame(pandas) through Arrow (falls back to rows for unsupported types)
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Compiled query classes kept for reuse (default 100). A stream micro-batch runs ~300 (its own
    # and Delta's); at 100 about 190 were recompiled every batch and the JIT never settled.
    "spark.sql.codegen.cache.maxEntries": "1000",
    # plan strings (explain, logs, UI) keep up to this many fields; at the default 25 the wide
    # feature frames made Spark warn "Truncated the string representation of a plan" every run
    "spark.sql.debug.maxToStringFields": "500",
}
# Only for local mode: a laptop gains nothing from 50-way Delta log replays.
LOCAL_CONF = {
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    # The throughput collector instead of G1 for the one local JVM: its many short Spark jobs make
    # garbage fast and G1's concurrent threads take cores from them (60k-event run_all: 202 -> 193 s
    # alone, 420 -> 396 s for two at once on 2 cores; docs/benchmarks.md)
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}

# glibc malloc told to keep freed memory for reuse instead of handing it back to the OS at once. A
# stream micro-batch builds its users' lists in pandas on the driver, allocating and freeing arrays
# of tens of MB; by default glibc maps each one fresh and unmaps it on free, so every batch pays the
# page faults again. On a VM that reports free pages to its host they are dear: a 100-file batch
# spent 4-6 s of system time in them (docs/streaming.md#measured). One arena: the batch runs on a
# callback thread, whose own arena would trim its heaps regardless. By glibc's environment name:
# (mallopt option, value in bytes or arenas).
MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": (-3, 256 << 20),
    "MALLOC_TRIM_THRESHOLD_": (-1, 1 << 30),
    "MALLOC_ARENA_MAX": (-8, 1),
}


def retain_freed_memory() -> dict[str, int]:
    """Apply `MALLOC_SETTINGS` to this process (glibc `mallopt`), each unless the environment sets
    it (glibc read that at start); returns what was applied (nothing without glibc)."""
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    mallopt = getattr(ctypes.CDLL(libc_name), "mallopt", None) if libc_name else None
    applied: dict[str, int] = {}
    for name, (option, value) in MALLOC_SETTINGS.items():
        if mallopt is None or name in os.environ:
            continue
        if mallopt(option, value):
            applied[name] = value
        else:
            log.warning("mallopt refused %s=%d", name, value)
    return applied


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a Spark SQL conf for the body only, then put back what was there (or nothing)."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def launched_by_spark_submit() -> bool:
    """True when spark-submit (or a platform) started the JVM and owns master and jars."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(config: AppConfig, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Return the active session (Databricks, notebooks, tests) or build one from config."""
    spark = SparkSession.getActiveSession() or _build(config, extra_conf or {})
    spark.conf.set("spark.sql.shuffle.partitions", str(config.spark.shuffle_partitions))
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.sparkContext.setCheckpointDir(checkpoint_dir(config))
    return spark


def checkpoint_dir(config: AppConfig) -> str:
    """Where ALS and other iterative jobs truncate lineage."""
    if config.spark.checkpoint_dir:
        return config.spark.checkpoint_dir
    return f"{resolve_root(config.lakehouse.root)}/_checkpoints"


def _build(config: AppConfig, extra_conf: dict[str, str]) -> SparkSession:
    submitted = launched_by_spark_submit()
    builder = SparkSession.builder
    if not submitted:  # spark-submit's --master and --name (one per job) win over config
        builder = builder.appName(config.spark.app_name).master(config.spark.master or "local[*]")
        # Local Python workers must use this interpreter (its venv has pandas and pyarrow).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {**BASE_CONF, **({} if submitted else LOCAL_CONF), **DELTA_CONF, **config.spark.conf, **extra_conf}
    settings["spark.sql.shuffle.partitions"] = str(config.spark.shuffle_partitions)
    for key, value in settings.items():
        builder = builder.config(key, value)
    if not submitted and "spark.jars" not in settings:
        # Resolves io.delta:delta-spark_<spark>_<scala>:<delta-spark version> from Maven Central
        # through Ivy once; later runs reuse the ~/.ivy2 cache.
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    log.info("Spark %s session started (master=%s)", spark.version, spark.sparkContext.master)
    return spark


def fetch_delta_jars() -> None:
    """Start and stop one local session so the Delta jars sit in the Ivy cache.

    Run before starting several Spark processes at once (parallel test workers): concurrent
    first-time Ivy resolutions into one cache can trip over each other.
    """
    config = load_config(overrides=["spark.master=local[1]", "spark.log_level=ERROR"])
    _build(config, {"spark.ui.enabled": "false"}).stop()


if __name__ == "__main__":
    fetch_delta_jars()
