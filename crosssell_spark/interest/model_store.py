"""Saved ALS models: <root>/_models/als/<run_id>/{model/, metadata.json} and a LATEST pointer.

A run writes its own folder before the quality gate (nothing reads it yet) and moves LATEST to
it only after its tables are published, so LATEST always names the model behind the published
factor tables. Files go through Hadoop's FileSystem, so any lakehouse URI works.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession

MODELS_DIR = "_models/als"
LATEST = "LATEST"
MODEL, METADATA = "model", "metadata.json"


def model_dir(root: str, run_id: str) -> str:
    return f"{root}/{MODELS_DIR}/{run_id}"


def _filesystem(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Create or replace a small text file."""
    fs, hadoop_path = _filesystem(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small text file's content, None when it does not exist."""
    fs, hadoop_path = _filesystem(spark, path)
    if not fs.exists(hadoop_path):
        return None
    row = spark.read.text(path, wholetext=True).first()
    return None if row is None else str(row[0])


def save_model(spark: SparkSession, root: str, run_id: str, model: ALSModel, metadata: dict[str, Any]) -> str:
    """Save the model (MLlib format) and its metadata JSON beside it; returns the run's model folder."""
    folder = model_dir(root, run_id)
    model.write().overwrite().save(f"{folder}/{MODEL}")
    write_text(spark, f"{folder}/{METADATA}", json.dumps(metadata, indent=2, sort_keys=True, default=str))
    return folder


def mark_latest(spark: SparkSession, root: str, run_id: str) -> None:
    write_text(spark, f"{root}/{MODELS_DIR}/{LATEST}", run_id)


def latest_run_id(spark: SparkSession, root: str) -> str | None:
    text = read_text(spark, f"{root}/{MODELS_DIR}/{LATEST}")
    return text.strip() if text else None


def load_latest(spark: SparkSession, root: str) -> tuple[ALSModel, dict[str, Any]]:
    """The model behind the published factor tables and its metadata."""
    run_id = latest_run_id(spark, root)
    if run_id is None:
        raise FileNotFoundError(f"no ALS model published under {root}/{MODELS_DIR}")
    folder = model_dir(root, run_id)
    metadata = json.loads(read_text(spark, f"{folder}/{METADATA}") or "{}")
    return ALSModel.load(f"{folder}/{MODEL}"), metadata
