"""The streaming input: clickstream files landing in a folder (or a Kafka topic) in the input contract.

Every source yields the contract's string columns plus `_corrupt_record` (the raw text of a line
that could not be parsed) and `source_file` (where the row came from), so that a bad file becomes
quarantine rows instead of stopping the query. JSON lines are read by field name: a missing field
is null (the row is quarantined as `null_key` if it is a key), an extra field is ignored. CSV files
are read the RFC 4180 way, as the batch sources read them (`sources.RFC4180_CSV`), and must carry a
header in the contract's column order; a file whose header differs is quarantined whole by the batch
writer (`bad_header`), never mis-read by position.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from crosssell_spark.config import AppConfig, resolve_root
from crosssell_spark.schemas import RAW_EVENT_COLUMNS, RAW_EVENTS_SCHEMA
from crosssell_spark.sources import RFC4180_CSV

CORRUPT_RECORD = "_corrupt_record"
SOURCE_FILE = "source_file"
STREAM_EVENTS_SCHEMA = StructType([*RAW_EVENTS_SCHEMA.fields, StructField(CORRUPT_RECORD, StringType(), True)])
KAFKA_PREFIX = "kafka:"
log = logging.getLogger(__name__)


def landing_dir(config: AppConfig) -> str:
    """Folder the file source watches."""
    return config.streaming.landing_dir or f"{resolve_root(config.lakehouse.root)}/_landing/stream"


def checkpoint_location(config: AppConfig) -> str:
    """The query's checkpoint (offsets and commits)."""
    return config.streaming.checkpoint_dir or f"{resolve_root(config.lakehouse.root)}/_checkpoints/stream"


def read_stream(spark: SparkSession, config: AppConfig) -> DataFrame:
    """The configured streaming source as (contract columns..., _corrupt_record, source_file)."""
    cfg = config.streaming
    if cfg.source == "kafka":
        return _read_kafka(spark, config)
    reader = (
        spark.readStream.format(cfg.format)
        .schema(STREAM_EVENTS_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .option("maxFilesPerTrigger", cfg.max_files_per_trigger)
    )
    if cfg.format == "csv":
        # The header row is skipped; columns are checked against it per file by the batch writer.
        # RFC 4180 as in batch (doubled quotes, quoted line breaks); `streaming.options` still win.
        reader = reader.option("header", "true").option("enforceSchema", "true").options(**RFC4180_CSV)
    stream = reader.options(**cfg.options).load(landing_dir(config))
    return stream.select(*RAW_EVENT_COLUMNS, CORRUPT_RECORD, F.col("_metadata.file_path").alias(SOURCE_FILE))


def _read_kafka(spark: SparkSession, config: AppConfig) -> DataFrame:
    """Kafka messages whose value is one JSON event; `source_file` names topic, partition and offset."""
    kafka = config.streaming.kafka
    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("subscribe", kafka.topic)
        .option("startingOffsets", kafka.starting_offsets)
        .option("failOnDataLoss", "false")
        .options(**kafka.options)
        .load()
    )
    parsed = F.from_json(
        F.col("value").cast("string"),
        STREAM_EVENTS_SCHEMA,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD},
    )
    origin = F.concat_ws("/", F.col("topic"), F.col("partition"), F.col("offset"))
    events = stream.select(parsed.alias("e"), F.concat(F.lit(KAFKA_PREFIX), origin).alias(SOURCE_FILE))
    return events.select("e.*", SOURCE_FILE).select(*RAW_EVENT_COLUMNS, CORRUPT_RECORD, SOURCE_FILE)


def header_matches(header: str) -> bool:
    """A CSV header names the contract's columns in contract order (quotes, case, blanks ignored)."""
    columns = [c.strip().strip('"').strip().lower() for c in header.lstrip("\ufeff").split(",")]
    return columns == list(RAW_EVENT_COLUMNS)


def first_line(spark: SparkSession, path: str) -> str | None:
    """The first line of a file on any Hadoop file system (None when it is empty)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(hadoop_path), "UTF-8"))
    try:
        line = reader.readLine()
        return None if line is None else str(line)
    finally:
        reader.close()


def bad_header_files(spark: SparkSession, config: AppConfig, files: Sequence[str]) -> list[str]:
    """Landed CSV files whose header row is not the contract's columns in order."""
    if config.streaming.source != "file" or config.streaming.format != "csv":
        return []
    bad = []
    for path in files:
        if path.startswith(KAFKA_PREFIX):
            continue
        header = first_line(spark, path)
        if header is not None and not header_matches(header):
            log.error("%s: header %r is not %s; the file is quarantined", path, header, ",".join(RAW_EVENT_COLUMNS))
            bad.append(path)
    return bad
