"""Weekly table maintenance: OPTIMIZE (file compaction, optional Z-order) and VACUUM of every published table.

VACUUM keeps `maintenance.retention_hours` of history (7 days by default, Delta's own safety
minimum), so `crosssell rollback` and time travel within that window keep working. A shorter
retention is refused by config validation unless `allow_short_retention` is set, and then Delta's
check is lifted only around this job's VACUUM calls, with a warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from crosssell_spark import tables
from crosssell_spark.config import DELTA_MIN_RETENTION_HOURS, AppConfig
from crosssell_spark.export_folders import Exports
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import Run, StageResult
from crosssell_spark.session import session_conf
from crosssell_spark.tables import TableSpec

log = logging.getLogger(__name__)

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def published_specs() -> dict[str, TableSpec]:
    """Every table the pipeline publishes (the TableSpecs of crosssell_spark.tables)."""
    return {spec.name: spec for spec in vars(tables).values() if isinstance(spec, TableSpec)}


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    files_before: int
    files_after: int
    files_compacted: int  # files OPTIMIZE removed (rewritten into `files_added`)
    files_added: int
    files_vacuumed: int  # data files VACUUM deleted from storage
    version: int


def select_tables(lake: Lakehouse, config: AppConfig) -> list[str]:
    """The configured tables (all published ones by default) that exist; unknown names are errors."""
    known = published_specs()
    wanted = config.maintenance.tables or sorted(known)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"maintenance.tables: unknown tables {unknown}; known: {sorted(known)}")
    return [name for name in wanted if lake.exists(name)]


def _num_files(lake: Lakehouse, table: str) -> int:
    return int(DeltaTable.forPath(lake.spark, lake.path(table)).detail().collect()[0]["numFiles"])


def optimize(lake: Lakehouse, table: str, zorder_by: list[str]) -> tuple[int, int]:
    """Compact (or Z-order) a table; returns (files removed, files added)."""
    builder = DeltaTable.forPath(lake.spark, lake.path(table)).optimize()
    result = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
    metrics = result.collect()[0]["metrics"]
    return int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])


@contextmanager
def _retention_check(spark: SparkSession, retention_hours: int) -> Iterator[None]:
    """Lift Delta's retention check only when a deliberately short retention asks for it."""
    if retention_hours >= DELTA_MIN_RETENTION_HOURS:
        yield
        return
    log.warning(
        "VACUUM with retention %d h < %d h: Delta's retention check is lifted for this job; "
        "time travel and concurrent readers older than that lose their files",
        retention_hours, DELTA_MIN_RETENTION_HOURS,
    )  # fmt: skip
    with session_conf(spark, RETENTION_CHECK, "false"):
        yield


def vacuum(lake: Lakehouse, table: str, retention_hours: int) -> int:
    """VACUUM a table; returns the number of data files deleted (listed by a DRY RUN first)."""
    target = f"delta.`{lake.path(table)}` RETAIN {retention_hours} HOURS"
    with _retention_check(lake.spark, retention_hours):
        listed = [row[0] for row in lake.spark.sql(f"VACUUM {target} DRY RUN").collect()]
        if listed:
            lake.spark.sql(f"VACUUM {target}").collect()
    return sum(not path.endswith(".crc") for path in listed)  # local file systems add .crc checksum files


def maintain_table(lake: Lakehouse, config: AppConfig, table: str) -> TableMaintenance:
    settings = config.maintenance
    before = _num_files(lake, table)
    removed = added = vacuumed = 0
    if settings.optimize:
        removed, added = optimize(lake, table, settings.zorder_by.get(table, []))
    if settings.vacuum:
        vacuumed = vacuum(lake, table, settings.retention_hours)
    after = _num_files(lake, table)
    outcome = TableMaintenance(table, before, after, removed, added, vacuumed, int(lake.latest_version(table) or 0))
    log.info("maintained %s: %s", table, outcome)
    return outcome


def run_maintenance(spark: SparkSession, config: AppConfig, run: Run) -> tuple[StageResult, list[TableMaintenance]]:
    """OPTIMIZE and VACUUM every selected table; the StageResult maps table -> version after."""
    lake = Lakehouse(spark, config.lakehouse)
    outcomes = [maintain_table(lake, config, table) for table in select_tables(lake, config)]
    pruned = Exports(spark, lake.root).prune(config.maintenance.keep_exports)
    result = StageResult(
        "maintain",
        published={o.table: o.version for o in outcomes},
        metrics={
            "tables": len(outcomes),
            "files_compacted": sum(o.files_compacted for o in outcomes),
            "files_vacuumed": sum(o.files_vacuumed for o in outcomes),
            "retention_hours": config.maintenance.retention_hours,
            "export_folders_removed": pruned,
        },
    )
    return result, outcomes


def format_report(outcomes: list[TableMaintenance], retention_hours: int) -> str:
    """The table `crosssell maintain` prints."""
    lines = [f"{'table':<26}{'files':>7}{'->':>4}{'after':>7}{'compacted':>11}{'vacuumed':>10}{'version':>9}"]
    lines += [
        f"{o.table:<26}{o.files_before:>7}{'':>4}{o.files_after:>7}{o.files_compacted:>11}{o.files_vacuumed:>10}"
        f"{o.version:>9}"
        for o in outcomes
    ]
    lines.append(f"VACUUM retention: {retention_hours} h")
    return "\n".join(lines)
