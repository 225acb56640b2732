"""`crosssell maintain`: OPTIMIZE compacts, VACUUM keeps 7 days unless a short retention is asked for deliberately."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig, ConfigError
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.ops.maintenance import RETENTION_CHECK, published_specs, run_maintenance
from crosssell_spark.run import Run
from crosssell_spark.schemas import RECONCILIATION_SCHEMA
from crosssell_spark.tables import RECONCILIATION
from tests.conftest import BASE_CONF, make_test_config

BATCHES = 4


def _fragmented_table(spark: SparkSession, config: AppConfig) -> tuple[Lakehouse, int]:
    """reconciliation written as BATCHES appends (one small file each); returns the first append's version."""
    lake = Lakehouse(spark, config.lakehouse)
    versions = []
    for batch in range(BATCHES):
        row = (f"run-{batch}", "events", 10 + batch, 8, 1, 1 + batch, True, datetime(2026, 11, 28, batch), None)
        versions.append(lake.append(RECONCILIATION, spark.createDataFrame([row], RECONCILIATION_SCHEMA)))
    return lake, versions[0]


def _data_files(lake: Lakehouse, table: str) -> list[Path]:
    return [p for p in Path(lake.path(table)).rglob("*.parquet") if "_delta_log" not in p.parts]


def test_optimize_compacts_and_default_vacuum_keeps_history(
    spark: SparkSession, config_factory: Callable[..., AppConfig]
) -> None:
    config = config_factory()
    assert config.maintenance.retention_hours == 168  # the default is Delta's 7-day minimum
    lake, first_append = _fragmented_table(spark, config)
    rows_before = sorted(lake.read(RECONCILIATION.name).collect())

    result, outcomes = run_maintenance(spark, config, Run.start())

    assert [o.table for o in outcomes] == ["reconciliation"]  # only tables that exist
    outcome = outcomes[0]
    assert outcome.files_before == BATCHES and outcome.files_after == 1
    assert outcome.files_compacted == BATCHES and outcome.files_added == 1
    assert outcome.files_vacuumed == 0  # replaced files are younger than 7 days: time travel still works
    assert sorted(lake.read(RECONCILIATION.name).collect()) == rows_before
    assert lake.read(RECONCILIATION.name, version=first_append).count() == 1  # still readable after compaction
    assert result.published == {"reconciliation": outcome.version}
    assert lake.history(RECONCILIATION.name, 1).collect()[0]["operation"] == "OPTIMIZE"


def test_short_retention_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"retention_hours=24 is below Delta's 168 h safety minimum"):
        make_test_config(Path("/tmp/unused"), "maintenance.retention_hours=24")


def test_deliberate_short_retention_vacuums_with_a_warning(
    spark: SparkSession, config_factory: Callable[..., AppConfig], caplog: pytest.LogCaptureFixture
) -> None:
    config = config_factory("maintenance.retention_hours=0", "maintenance.allow_short_retention=true")
    lake, first_append = _fragmented_table(spark, config)
    check_before = spark.conf.get(RETENTION_CHECK, "true")

    with caplog.at_level(logging.WARNING, logger="crosssell_spark.ops.maintenance"):
        _, outcomes = run_maintenance(spark, config, Run.start())

    assert outcomes[0].files_vacuumed >= BATCHES  # the compacted files (and any other unreferenced ones)
    assert len(_data_files(lake, "reconciliation")) == 1  # only the compacted file is left
    assert lake.read(RECONCILIATION.name).count() == BATCHES
    with pytest.raises(Exception, match=r"(?i)file|not exist|not found"):
        lake.read(RECONCILIATION.name, version=first_append).collect()  # history beyond the retention is gone
    assert "retention check is lifted" in caplog.text
    assert spark.conf.get(RETENTION_CHECK, "true") == check_before  # lifted for the job only


def test_unknown_table_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    config = make_test_config(tmp_path / "lake", "maintenance.tables=[events_clean, no_such_table]")
    with pytest.raises(ValueError, match="no_such_table"):
        run_maintenance(spark, config, Run.start())
    assert {"events_clean", "item_cross_sell", "dq_results"} <= set(published_specs())
    assert BASE_CONF.exists()
