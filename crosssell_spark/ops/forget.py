"""`crosssell forget`: delete users' rows from every table that holds user-level data, in one audited run.

A user is matched by the raw id and by its pseudonym, so rows written before or after
pseudonymisation was switched on both go. Each table gets one Delta DELETE (a new version);
`dq_results` keeps its rows but the user's ids are cut out of the sample values. The run appends
one `forget_log` row per user and table (pseudonym, time, rows deleted, the new version), never
the raw id. A DELETE leaves the old rows in earlier Delta versions until VACUUM removes files
older than the retention (`--vacuum`, `maintenance.retention_hours`); time travel to those
versions keeps the data until then. Every kept serving export loses the users' lists, and every
run report page (`crosssell report`) that shows one of the users is deleted (write it again with
`crosssell report`). A failed run can simply be repeated: deletes are idempotent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.crosssell.exports import export_lists
from crosssell_spark.export_folders import Exports
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.ops.maintenance import vacuum
from crosssell_spark.ops.published_sets import rollback_incomplete
from crosssell_spark.privacy.pseudonym import pseudonym, require_key
from crosssell_spark.run import RUN_REPORT_PAGE, RUN_REPORTS, Run, reports_dir
from crosssell_spark.schemas import (
    FORGET_LOG_SCHEMA,
    LIST_KEY,
    LIST_TYPE,
    SAMPLE,
    USER_ID,
)
from crosssell_spark.tables import (
    CROSS_SELL_GAPS,
    DQ_RESULTS,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    FORGET_LOG,
    USER_CATEGORY_INTEREST,
    USER_CROSS_SELL,
    USER_FACTORS,
    USER_ID_MAP,
)

log = logging.getLogger(__name__)
REDACTED = "[forgotten]"
FORGET_NEEDS_KEY = "forget records users by pseudonym only"


@dataclass(frozen=True)
class UserTable:
    """A published table holding user-level rows: the column with the user id, and which rows count."""

    name: str
    column: str
    only_where: str | None = None  # SQL condition restricting the rows the column identifies a user in


USER_TABLES = (
    UserTable(EVENTS_CLEAN.name, USER_ID),
    UserTable(EVENTS_QUARANTINE.name, USER_ID),
    UserTable(USER_ID_MAP.name, USER_ID),
    UserTable(USER_FACTORS.name, USER_ID),
    UserTable(USER_CATEGORY_INTEREST.name, USER_ID),
    UserTable(USER_CROSS_SELL.name, USER_ID),
    UserTable(CROSS_SELL_GAPS.name, LIST_KEY, f"{LIST_TYPE} = 'user'"),
)
REDACTED_COLUMNS = ((DQ_RESULTS.name, SAMPLE),)  # free text that may quote an id: ids are cut out, rows stay


@dataclass
class ForgetReport:
    """Rows deleted per table and user (by pseudonym), and the table versions written."""

    run_id: str
    users: list[str]  # pseudonyms
    deleted: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> pseudonym -> rows
    versions: dict[str, int] = field(default_factory=dict)  # table -> version after the delete
    redacted: dict[str, int] = field(default_factory=dict)  # table -> rows whose free text quoted an id
    vacuumed: dict[str, int] = field(default_factory=dict)  # table -> data files VACUUM removed
    exports: dict[str, int] = field(default_factory=dict)  # kept export folder (run id) -> user lists removed
    run_reports: list[str] = field(default_factory=list)  # run report pages deleted (they showed a user)

    def rows(self, table: str) -> int:
        return sum(self.deleted.get(table, {}).values())

    def describe(self) -> str:
        lines = [f"forget run {self.run_id}: {len(self.users)} user(s)"]
        lines += [f"  {t:<26}{self.rows(t):>10} rows  version {self.versions.get(t, '-')}" for t in self.deleted]
        lines += [
            f"  {t:<26}{n:>10} rows redacted  version {self.versions.get(t, '-')}" for t, n in self.redacted.items()
        ]
        lines += [f"  vacuumed {t}: {n} files" for t, n in self.vacuumed.items()]
        lines += [f"  export {r}: {n} user lists removed" for r, n in self.exports.items()]
        lines += [f"  run report {r} deleted (it showed a forgotten user)" for r in self.run_reports]
        return "\n".join(lines)


def read_user_ids(users: Iterable[str], users_file: str | None) -> list[str]:
    """Ids from --user options and a file of one id per line (blank lines and '#' comments skipped)."""
    ids = [u.strip() for u in users]
    if users_file:
        with open(users_file, encoding="utf-8") as handle:
            ids += [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    unique = list(dict.fromkeys(i for i in ids if i))
    if not unique:
        raise ValueError("no user ids given: use --user ID (repeatable) or --users-file FILE")
    return unique


def _matches(table: UserTable, values: list[str]) -> Column:
    condition = F.trim(F.col(table.column)).isin(values)
    return condition & F.expr(table.only_where) if table.only_where else condition


def forget_users(spark: SparkSession, config: AppConfig, run: Run, user_ids: list[str]) -> ForgetReport:
    """Delete every row of these users from every user-level table and log the request by pseudonym."""
    key = require_key(config.privacy, why=FORGET_NEEDS_KEY)
    lake = Lakehouse(spark, config.lakehouse)
    owner = {}  # every value that identifies one of the users -> that user's pseudonym
    for raw in user_ids:
        alias = pseudonym(key, raw)
        owner[raw], owner[alias] = alias, alias
    report = ForgetReport(run.run_id, list(dict.fromkeys(owner.values())))
    # an unfinished publish keeps readers on older versions, which the deletes below would not reach
    for done in rollback_incomplete(lake):
        log.warning("forget: rolled back the unfinished publish of %s run %s first", done.stage, done.run_id)
    values = sorted(owner)
    mapping = F.create_map(*[F.lit(v) for pair in owner.items() for v in pair])

    for table in USER_TABLES:
        if not lake.exists(table.name):
            continue
        condition = _matches(table, values)
        counts = (
            lake.read(table.name)
            .where(condition)
            .groupBy(mapping[F.trim(F.col(table.column))].alias("pseudonym"))
            .count()
            .collect()
        )
        report.deleted[table.name] = {row["pseudonym"]: int(row["count"]) for row in counts}
        if counts:
            DeltaTable.forPath(spark, lake.path(table.name)).delete(condition)
            report.versions[table.name] = int(lake.latest_version(table.name) or 0)
        log.info("forget: %s: %d rows deleted", table.name, report.rows(table.name))

    for name, column in REDACTED_COLUMNS:
        if lake.exists(name):
            _redact(lake, name, column, values, report)

    _refresh_exports(lake, config, report, values)
    report.run_reports = remove_run_reports(lake.root, values)
    lake.append(FORGET_LOG, forget_log_rows(spark, run, report))
    return report


def _redact(lake: Lakehouse, table: str, column: str, values: list[str], report: ForgetReport) -> None:
    """Cut the users' ids out of a free-text column; the rows themselves stay (they are audit history)."""
    pattern = "|".join(_regex_quote(v) for v in values)
    quoting = F.col(column).rlike(pattern)
    hits = lake.read(table).where(quoting).count()
    report.redacted[table] = hits
    if hits:
        DeltaTable.forPath(lake.spark, lake.path(table)).update(
            quoting, {column: F.regexp_replace(F.col(column), pattern, REDACTED)}
        )
        report.versions[table] = int(lake.latest_version(table) or 0)
    log.info("forget: %s: %d rows redacted", table, hits)


def _regex_quote(value: str) -> str:
    return "".join(f"\\{c}" if not c.isalnum() else c for c in value)


def _refresh_exports(lake: Lakehouse, config: AppConfig, report: ForgetReport, values: list[str]) -> None:
    """A new serving export from the cleaned lists (LATEST moves to it), then every export folder
    still kept rewritten without the users' lists."""
    exports = Exports(lake.spark, lake.root)
    if config.crosssell.export_json and report.rows(USER_CROSS_SELL.name):
        export_lists(lake, report.run_id, "forget")
    scrubbed = exports.scrub(USER_CROSS_SELL.name, F.trim(F.col(USER_ID)).isin(values))
    report.exports = {run_id: rows for run_id, rows in scrubbed.items() if rows}
    log.info("forget: %d kept export folders checked, lists removed from %s", len(scrubbed), report.exports)


def remove_run_reports(root: str, values: list[str]) -> list[str]:
    """Delete every run report page that holds one of `values` (a raw id or a pseudonym) as a
    whole word; the run ids of the pages deleted."""
    folder = reports_dir(root, RUN_REPORTS)
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(v)}(?![\w-])" for v in values))
    removed = []
    for page in sorted(folder.glob(f"*/{RUN_REPORT_PAGE}")) if folder.is_dir() else []:
        if pattern.search(page.read_text(encoding="utf-8")):
            page.unlink()
            removed.append(page.parent.name)
    log.info("forget: run report pages deleted: %s", removed or "none")
    return removed


def forget_log_rows(spark: SparkSession, run: Run, report: ForgetReport) -> DataFrame:
    """forget_log rows: one per user (pseudonym) and table checked; the raw id is never written."""
    rows = [
        (
            run.run_id,
            alias,
            run.started_at,
            table,
            deleted.get(alias, 0),
            report.versions.get(table) if deleted.get(alias, 0) else None,
        )
        for table, deleted in report.deleted.items()
        for alias in report.users
    ]
    return spark.createDataFrame(rows, FORGET_LOG_SCHEMA)


def vacuum_forgotten(lake: Lakehouse, config: AppConfig, report: ForgetReport) -> None:
    """Make the deletes physical: purge deletion vectors, then VACUUM with the maintenance retention.

    Until the retention has passed since the delete, VACUUM keeps the old files (time travel
    needs them); run again after the retention, or lower it deliberately (maintenance.*).
    """
    for table in report.versions:
        if str(lake.properties(table).get("delta.enableDeletionVectors", "false")).lower() == "true":
            lake.spark.sql(f"REORG TABLE delta.`{lake.path(table)}` APPLY (PURGE)")
        report.vacuumed[table] = vacuum(lake, table, config.maintenance.retention_hours)
