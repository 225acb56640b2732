"""`crosssell stream`: start the Structured Streaming query and run it (until stopped, or caught up)."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from crosssell_spark.config import AppConfig
from crosssell_spark.run import StageResult
from crosssell_spark.session import retain_freed_memory
from crosssell_spark.streaming.batch import StreamBatchWriter
from crosssell_spark.streaming.source import checkpoint_location, landing_dir, read_stream

log = logging.getLogger(__name__)
STAGE = "stream"


def _ensure_folder(spark: SparkSession, path: str) -> None:
    """The file source needs its folder to exist (any Hadoop file system)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).mkdirs(hadoop_path)


def start_stream(spark: SparkSession, config: AppConfig) -> tuple[StreamingQuery, StreamBatchWriter]:
    """Start the query with the configured source, trigger and checkpoint; returns it and its writer
    (call `writer.close()` once the query has stopped)."""
    cfg = config.streaming
    if cfg.source == "file":
        _ensure_folder(spark, landing_dir(config))
    applied = retain_freed_memory()  # each micro-batch's pandas steps reuse the memory the last one freed
    log.info("driver malloc settings: %s", applied or "as the environment set them")
    writer = StreamBatchWriter(spark, config)
    stream = (
        read_stream(spark, config)
        .writeStream.queryName(cfg.query_name)
        .option("checkpointLocation", checkpoint_location(config))
        .foreachBatch(writer)
    )
    if cfg.trigger == "availableNow":
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=cfg.processing_time)
    query = stream.start()
    log.info("stream %s started (%s, trigger %s, checkpoint %s)", cfg.query_name,
             landing_dir(config) if cfg.source == "file" else cfg.kafka.topic, cfg.trigger,
             checkpoint_location(config))  # fmt: skip
    return query, writer


def summarise(writer: StreamBatchWriter) -> dict[str, Any]:
    """Totals over the batches this process ran."""
    reports = writer.reports
    return {
        "batches": len(reports),
        "files": sum(len(r.files) for r in reports),
        "rows_read": sum(r.reconciliation.rows_read for r in reports),
        "rows_clean": sum(r.reconciliation.rows_clean for r in reports),
        "rows_quarantined": sum(r.reconciliation.rows_quarantined for r in reports),
        "rows_duplicate": sum(r.reconciliation.rows_duplicate for r in reports),
        "unbalanced_batches": [r.batch_id for r in reports if not r.reconciliation.balanced],
        "users_refreshed": sum(r.refreshed_users for r in reports),
        "bad_files": [f for r in reports for f in r.bad_files],
    }


def run_stream(spark: SparkSession, config: AppConfig) -> StageResult:
    """Run until the query stops: availableNow stops when caught up; processingTime runs until killed."""
    query, writer = start_stream(spark, config)
    try:
        query.awaitTermination()
    except KeyboardInterrupt:
        log.info("stopping stream %s", config.streaming.query_name)
        query.stop()
    finally:
        writer.close()
    return StageResult(stage=STAGE, metrics=summarise(writer))
