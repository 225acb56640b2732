"""All Delta reads and writes: table paths, write-audit-publish, audit appends, restore.

A stage writes its result to a staging Delta table, audits the staged copy, and only then
publishes it to the table readers use in a single Delta commit. A failure before the publish
leaves the published table exactly as it was.
"""

from __future__ import annotations

import logging

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
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.config import LakehouseConfig, resolve_root
from crosssell_spark.tables import TableSpec

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


class Lakehouse:
    """Delta tables under one root (any Hadoop URI), optionally registered in a catalog database."""

    def __init__(self, spark: SparkSession, config: LakehouseConfig) -> None:
        self.spark = spark
        self.root = resolve_root(config.root)
        self.database = config.database
        self.staging_root = f"{self.root}/{config.staging_dir}"

    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(table))

    def version(self, table: str) -> int | None:
        """Latest Delta version of a table, None when it does not exist yet."""
        if not self.exists(table):
            return None
        return int(DeltaTable.forPath(self.spark, self.path(table)).history(1).collect()[0]["version"])

    def latest_version(self, table: str) -> int | None:
        """`version`, from the driver's Delta log (a listing of `_delta_log`, no Spark job): for the
        stream's per-batch checks. Uses open-source Delta's internal `DeltaLog`; where that class is
        not there (another Delta runtime), `version`."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        try:
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, self.path(table))
            nothing = jvm.scala.Option.empty()
            version = int(log.update(False, nothing, nothing).version())
        except Py4JError:
            return self.version(table)
        return None if version < 0 else version

    def history(self, table: str, limit: int = 20) -> DataFrame:
        return DeltaTable.forPath(self.spark, self.path(table)).history(limit)

    # --- write-audit-publish ------------------------------------------------------------------

    def stage(self, spec: TableSpec, df: DataFrame, run_id: str) -> DataFrame:
        """Write `df` to this run's staging area and return the staged copy for auditing."""
        return self.stage_intermediate(spec.name, conform(df, spec.schema), run_id)

    def stage_intermediate(self, name: str, df: DataFrame, run_id: str) -> DataFrame:
        """Materialise a run-private intermediate once so later steps do not recompute it."""
        staged_path = f"{self.staging_root}/{run_id}/{name}"
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(staged_path)
        return self.spark.read.format("delta").load(staged_path)

    def publish(self, spec: TableSpec, staged: DataFrame, replace_where: str | None = None) -> int:
        """Replace the published table (or the `replace_where` slice) with audited rows."""
        self.ensure_table(spec)
        writer = conform(staged, spec.schema).write.format("delta").mode("overwrite")
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        writer.save(self.path(spec.name))
        version = self.version(spec.name)
        log.info("published %s version %s", spec.name, version)
        return int(version or 0)

    def append(self, spec: TableSpec, df: DataFrame) -> int:
        """Append audit rows (reconciliation, quality results); never rewrites history."""
        self.ensure_table(spec)
        conform(df, spec.schema).write.format("delta").mode("append").save(self.path(spec.name))
        return int(self.version(spec.name) or 0)

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

    def export_json_lines(self, name: str, df: DataFrame) -> str:
        """Replace `<root>/_exports/<name>/` with `df` as JSON lines (one object per row)."""
        path = f"{self.root}/_exports/{name}"
        df.write.mode("overwrite").json(path)
        return path

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
        """Create the table with its explicit schema, partitioning and constraints if missing."""
        path = self.path(spec.name)
        if not self.exists(spec.name):
            builder = DeltaTable.createIfNotExists(self.spark).location(path).addColumns(spec.schema)
            if spec.partition_by:
                builder = builder.partitionedBy(*spec.partition_by)
            builder.execute()
            for name, expression in (spec.constraints or {}).items():
                self.spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {name} CHECK ({expression})")
        else:
            self._add_new_nullable_columns(spec)
        if self.database:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self.spark.sql(f"CREATE TABLE IF NOT EXISTS {self.database}.{spec.name} USING DELTA LOCATION '{path}'")

    def _add_new_nullable_columns(self, spec: TableSpec) -> None:
        """Evolve a table written by an older release: add the spec's new nullable columns (null in old rows)."""
        existing = set(self.read(spec.name).columns)
        added = [f for f in spec.schema.fields if f.name not in existing and f.nullable]
        if added:
            columns = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in added)
            self.spark.sql(f"ALTER TABLE delta.`{self.path(spec.name)}` ADD COLUMNS ({columns})")
            log.info("added columns %s to %s", [f.name for f in added], spec.name)

    def restore(self, table: str, version: int) -> int:
        """Restore a published table to an earlier version (a new commit; history is kept)."""
        DeltaTable.forPath(self.spark, self.path(table)).restoreToVersion(version)
        return int(self.version(table) or 0)
