"""All Delta reads and writes: table paths, write-audit-publish, published sets, audit appends, restore.

A stage writes its result to a staging Delta table, audits the staged copy, and only then
publishes it to the table readers use in a single Delta commit. A failure before the publish
leaves the published table exactly as it was.

A stage publishes several tables, one commit each, so a crash between them would leave readers a
mix of runs. `published_sets` makes the stage's tables one set: a row recording each table's version
before the stage publishes, and a row with the new versions after its last table. Until the second
row exists the run is incomplete, and `read` serves that stage's tables at their versions before it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from py4j.java_gateway import JavaObject
from py4j.protocol import Py4JError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.config import LakehouseConfig, resolve_root
from crosssell_spark.schemas import (
    PUBLISHED_SETS_SCHEMA,
    RECORDED_AT,
    RUN_ID,
    SET_PUBLISHED,
    SET_PUBLISHING,
    SET_STATUS,
    STAGE,
    TABLE_VERSIONS,
)
from crosssell_spark.tables import PUBLISHED_SETS, TableSpec

log = logging.getLogger(__name__)
# Delta's commit conflicts. In delta-spark's Python API each is its own subclass of PySparkException
# (ConcurrentAppendException is not a DeltaConcurrentModificationException there), so all are named.
DELTA_CONFLICTS = (
    DeltaConcurrentModificationException,
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentWriteException,
    ConcurrentTransactionException,
    MetadataChangedException,
    ProtocolChangedException,
)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select the schema's columns in order, cast to its types; a missing column is an error."""
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"DataFrame lacks columns {missing} required by the table schema")
    current = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return df.select(
        [
            F.col(f.name) if current[f.name] == f.dataType.simpleString() else F.col(f.name).cast(f.dataType)
            for f in schema.fields
        ]
    )


def _spaceless(expression: str) -> str:
    """A constraint's text without whitespace: Delta stores an added constraint re-spaced
    (`coalesce ( a , false )`), so texts are compared without it."""
    return re.sub(r"\s+", "", expression)


@dataclass(frozen=True)
class PublishedSet:
    """A stage's latest `published_sets` row: `complete` once its run published every table; while
    not, `versions` are the tables' versions before that run began publishing (-1: table was new)."""

    run_id: str
    stage: str
    status: str
    versions: dict[str, int]
    recorded_at: datetime

    @property
    def complete(self) -> bool:
        return self.status != SET_PUBLISHING


UNVERSIONED = (-1, -1)  # `_sets_version` where the Delta log is not readable from the driver
# `published_sets` as this process last read or wrote it: table path -> ((version, commit time), each
# stage's latest row). A version is a fixed state, so this copy serves every read until the table
# moves; the commit time tells a table made again at the same path from the one seen.
_SETS_SEEN: dict[str, tuple[tuple[int, int], dict[str, PublishedSet]]] = {}


class Lakehouse:
    """Delta tables under one root (any Hadoop URI), optionally registered in a catalog database."""

    def __init__(self, spark: SparkSession, config: LakehouseConfig) -> None:
        self.spark = spark
        self.root = resolve_root(config.root)
        self.database = config.database
        self.staging_root = f"{self.root}/{config.staging_dir}"
        self._pins: dict[str, int] = {}
        self._pins_at: int | None = -1  # published_sets version the pins were read at (-1: never)
        self._sets_ready = False  # published_sets created (or checked) by this Lakehouse

    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """A table at `version`; by default its latest, or, while the stage publishing it has not
        finished its set, the version before that stage began (`pins`)."""
        reader = self.spark.read.format("delta")
        if version is None:
            version = self.pins().get(table)
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(table))

    def read_version(self, table: str) -> int | None:
        """The version `read(table)` serves (None: the table does not exist)."""
        pinned = self.pins().get(table)
        return pinned if pinned is not None else self.latest_version(table)

    def latest_version(self, table: str) -> int | None:
        """Latest Delta version of a table (None: no table yet), from the driver's Delta log: a listing
        of `_delta_log`, no Spark job (~10 ms against ~0.2 s for a `history` query)."""
        snapshot = self._snapshot(table)
        if snapshot is None:
            return int(self.history(table, 1).collect()[0]["version"]) if self.exists(table) else None
        version = int(snapshot.version())
        return None if version < 0 else version

    def properties(self, table: str) -> dict[str, str]:
        """An existing table's properties (CHECK constraints among them), from the driver's Delta log:
        no Spark job (~30 ms against 0.6-0.9 s for `DESCRIBE DETAIL` on a table not read before)."""
        snapshot = self._snapshot(table)
        if snapshot is None:
            detail = DeltaTable.forPath(self.spark, self.path(table)).detail().first()
            return dict((detail["properties"] if detail is not None else None) or {})
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        return dict(jvm.scala.jdk.javaapi.CollectionConverters.asJava(snapshot.metadata().configuration()))

    def _snapshot(self, table: str) -> JavaObject | None:
        """The table's latest snapshot in open-source Delta's internal `DeltaLog` (version -1: no
        table); None where that class is not there (another Delta runtime): callers then ask Spark."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        try:
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, self.path(table))
            nothing = jvm.scala.Option.empty()
            return log.update(False, nothing, nothing)
        except Py4JError:
            return None

    def history(self, table: str, limit: int = 20) -> DataFrame:
        return DeltaTable.forPath(self.spark, self.path(table)).history(limit)

    # --- published sets -----------------------------------------------------------------------

    def latest_sets(self) -> list[PublishedSet]:
        """Each stage's latest `published_sets` row, in stage order of first publish. Read by a Spark
        job only when the table has moved since this process last read or wrote it (`_SETS_SEEN`)."""
        at = self._sets_version()
        if at is None:
            return []
        seen = _SETS_SEEN.get(self.path(PUBLISHED_SETS.name))
        if seen is not None and seen[0] == at:
            return list(seen[1].values())
        reader = self.spark.read.format("delta")
        if at != UNVERSIONED:
            reader = reader.option("versionAsOf", at[0])
        latest: dict[str, PublishedSet] = {}
        for row in sorted(reader.load(self.path(PUBLISHED_SETS.name)).collect(), key=lambda r: r[RECORDED_AT]):
            versions = {t: int(v) for t, v in row[TABLE_VERSIONS].items()}
            latest[row[STAGE]] = PublishedSet(row[RUN_ID], row[STAGE], row[SET_STATUS], versions, row[RECORDED_AT])
        if at != UNVERSIONED:
            _SETS_SEEN[self.path(PUBLISHED_SETS.name)] = (at, latest)
        return list(latest.values())

    def _sets_version(self) -> tuple[int, int] | None:
        """`published_sets`' (latest version, its commit time), None without the table, and
        `UNVERSIONED` where the driver cannot see the Delta log (another Delta runtime)."""
        snapshot = self._snapshot(PUBLISHED_SETS.name)
        if snapshot is None:
            return UNVERSIONED if self.exists(PUBLISHED_SETS.name) else None
        return None if snapshot.version() < 0 else (int(snapshot.version()), int(snapshot.timestamp()))

    def pins(self) -> dict[str, int]:
        """Tables of an incomplete set -> the version readers get (the one before that run published);
        read again only when `published_sets` has moved (a look at its Delta log, no Spark job)."""
        at = self.latest_version(PUBLISHED_SETS.name)
        if at != self._pins_at:
            incomplete = [s for s in self.latest_sets() if not s.complete]
            self._pins = {t: v for s in incomplete for t, v in s.versions.items() if v >= 0}
            self._pins_at = at
            for s in incomplete:
                log.warning(
                    "run %s of stage %s began publishing at %s and did not finish: %s are read at their "
                    "versions before it (%s)", s.run_id, s.stage, s.recorded_at, ", ".join(s.versions),
                    "; `crosssell rollback --incomplete` restores them, the stage's next run replaces them",
                )  # fmt: skip
        return self._pins

    def begin_set(self, run_id: str, stage: str, tables: Iterable[str]) -> None:
        """Record, before `stage` publishes `tables`, each one's current version (-1: none yet)."""
        versions = {t: self.latest_version(t) for t in tables}
        self._record_set(run_id, stage, SET_PUBLISHING, {t: -1 if v is None else v for t, v in versions.items()})

    def complete_set(self, run_id: str, stage: str, versions: Mapping[str, int], status: str = SET_PUBLISHED) -> None:
        """The commit point of a stage's publish: from here on readers get `versions` and later."""
        self._record_set(run_id, stage, status, dict(versions))

    def _record_set(self, run_id: str, stage: str, status: str, versions: dict[str, int]) -> None:
        if not self._sets_ready:  # once per Lakehouse: the check reads the table's schema
            self.ensure_table(PUBLISHED_SETS)
            self._sets_ready = True
        path = self.path(PUBLISHED_SETS.name)
        before, now = self._sets_version(), datetime.now(UTC).replace(tzinfo=None)
        row = self.spark.createDataFrame([(run_id, stage, status, versions, now)], PUBLISHED_SETS_SCHEMA)
        row.write.format("delta").mode("append").save(path)
        # the next read of the sets is this row on top of what was seen, if what was seen is the
        # version before this commit, nobody else committed (one version on) and the row is the
        # stage's newest (`_SETS_SEEN` never holds UNVERSIONED)
        after, seen = self._sets_version(), _SETS_SEEN.pop(path, None)
        if seen is None or seen[0] != before or after is None or after[0] != seen[0][0] + 1:
            return
        earlier = seen[1].get(stage)
        if earlier is None or earlier.recorded_at <= now:
            _SETS_SEEN[path] = (after, {**seen[1], stage: PublishedSet(run_id, stage, status, versions, now)})

    # --- write-audit-publish ------------------------------------------------------------------

    def stage(self, spec: TableSpec, df: DataFrame, run_id: str) -> DataFrame:
        """Write `df` to this run's staging area and return the staged copy for auditing."""
        return self.stage_intermediate(spec.name, conform(df, spec.schema), run_id)

    def stage_intermediate(self, name: str, df: DataFrame, run_id: str) -> DataFrame:
        """Materialise a run-private intermediate once so later steps do not recompute it.

        Plain Parquet, not Delta: the copy is written once, read by this run only and dropped with
        the staging area, so a transaction log buys nothing; skipping it (the commit, the log replay
        on every read) cut the default world's pipeline by about 30 s (docs/benchmarks.md)."""
        staged_path = f"{self.staging_root}/{run_id}/{name}"
        df.write.mode("overwrite").parquet(staged_path)
        return self.spark.read.parquet(staged_path)

    def publish(self, spec: TableSpec, staged: DataFrame, replace_where: str | None = None) -> int:
        """Replace the published table (or the `replace_where` slice) with audited rows."""
        self.ensure_table(spec)
        writer = conform(staged, spec.schema).write.format("delta").mode("overwrite")
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        writer.save(self.path(spec.name))
        version = self.latest_version(spec.name)
        log.info("published %s version %s", spec.name, version)
        return int(version or 0)

    def append(self, spec: TableSpec, df: DataFrame) -> int:
        """Append audit rows (reconciliation, quality results); never rewrites history."""
        self.ensure_table(spec)
        conform(df, spec.schema).write.format("delta").mode("append").save(self.path(spec.name))
        return int(self.latest_version(spec.name) or 0)

    def insert_new_keys(self, spec: TableSpec, rows: DataFrame, key: str) -> int:
        """Insert the `rows` whose `key` the (existing) table lacks in one MERGE; how many went in.

        Nothing inserted, nothing committed. The MERGE reads the whole table, so a commit that adds or
        removes rows between its read and its own fails it with a Delta conflict (a
        `ConcurrentAppendException`, ...); a scan of this table inside `rows` reads the MERGE's own
        snapshot (guards against a stale plan go there)."""
        merge = (
            DeltaTable.forPath(self.spark, self.path(spec.name))
            .alias("t")
            .merge(conform(rows, spec.schema).alias("s"), f"t.{key} = s.{key}")
            .whenNotMatchedInsertAll()
        )
        metrics = merge.execute().first()
        return int(metrics["num_inserted_rows"]) if metrics is not None else 0

    def delete_where(self, spec: TableSpec, condition: Column) -> None:
        """Delete the rows matching `condition` in one commit (none matching: no commit)."""
        DeltaTable.forPath(self.spark, self.path(spec.name)).delete(condition)

    def drop_staging(self, run_id: str) -> None:
        """Remove a run's staging tables; a failure here never affects published data."""
        jvm = self.spark.sparkContext._jvm  # Hadoop FileSystem works for every storage scheme
        assert jvm is not None
        path = jvm.org.apache.hadoop.fs.Path(f"{self.staging_root}/{run_id}")
        try:
            path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)
        except Exception as err:
            log.warning("could not remove staging %s: %s", path, err)

    # --- table management ---------------------------------------------------------------------

    def ensure_table(self, spec: TableSpec) -> None:
        """Create the table if missing, in one commit: explicit schema, partitioning, CHECK constraints
        (Delta keeps each as the table property `delta.constraints.<name>`) and table properties."""
        path = self.path(spec.name)
        if not self.exists(spec.name):
            builder = DeltaTable.createIfNotExists(self.spark).location(path).addColumns(spec.schema)
            if spec.partition_by:
                builder = builder.partitionedBy(*spec.partition_by)
            properties = {f"delta.constraints.{n}": e for n, e in (spec.constraints or {}).items()}
            for key, value in {**properties, **(spec.properties or {})}.items():
                builder = builder.property(key, value)
            builder.execute()
        else:
            self._add_new_nullable_columns(spec)
            held = self.properties(spec.name)
            self._sync_constraints(spec, held)
            self._sync_properties(spec, held)
        if self.database:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self.spark.sql(f"CREATE TABLE IF NOT EXISTS {self.database}.{spec.name} USING DELTA LOCATION '{path}'")

    def _add_new_nullable_columns(self, spec: TableSpec) -> None:
        """Evolve a table written by an older release: add the spec's new nullable columns (null in old rows)."""
        existing = set(self.spark.read.format("delta").load(self.path(spec.name)).columns)
        added = [f for f in spec.schema.fields if f.name not in existing and f.nullable]
        if added:
            columns = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in added)
            self.spark.sql(f"ALTER TABLE delta.`{self.path(spec.name)}` ADD COLUMNS ({columns})")
            log.info("added columns %s to %s", [f.name for f in added], spec.name)

    def _sync_constraints(self, spec: TableSpec, properties: dict[str, str]) -> None:
        """Evolve a table written by an older release to the spec's CHECK constraints: drop the ones
        gone or changed, add the new text (each an ALTER TABLE commit; none when they already match)."""
        prefix = "delta.constraints."
        held = {k[len(prefix) :]: _spaceless(v) for k, v in properties.items() if k.startswith(prefix)}
        wanted = spec.constraints or {}
        changed = {n for n in {*held, *wanted} if held.get(n) != (_spaceless(wanted[n]) if n in wanted else None)}
        table = f"delta.`{self.path(spec.name)}`"
        for name in sorted(changed & held.keys()):
            self.spark.sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name in sorted(changed & wanted.keys()):
            self.spark.sql(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({wanted[name]})")
            log.info("constraint %s of %s is now: %s", name, spec.name, wanted[name])

    def _sync_properties(self, spec: TableSpec, properties: dict[str, str]) -> None:
        """Evolve a table written by an older release to the spec's table properties (one ALTER TABLE
        commit; none when they already match). Properties the spec does not name are left alone."""
        changed = {k: v for k, v in (spec.properties or {}).items() if properties.get(k) != v}
        if changed:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(changed.items()))
            self.spark.sql(f"ALTER TABLE delta.`{self.path(spec.name)}` SET TBLPROPERTIES ({settings})")
            log.info("table properties of %s are now: %s", spec.name, settings)

    def restore(self, table: str, version: int) -> int:
        """Restore a published table to an earlier version (a new commit; history is kept)."""
        DeltaTable.forPath(self.spark, self.path(table)).restoreToVersion(version)
        return int(self.latest_version(table) or 0)
