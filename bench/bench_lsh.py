"""Content similarity: the banded, capped MinHash LSH join against the exact cross-category Jaccard join.

For each catalogue size (BENCH_LSH_ITEMS, comma-separated, default 20000,100000) a sample world's raw
catalogue is cleaned with the cleaning stage's transforms and turned into content features exactly
as the similarity stage does (tokens, learnt stop list, shingles), materialised once. Then, from the
same features, both joins write their pairs (Jaccard >= threshold, different categories):

- LSH: HashingTF -> MinHashLSH (Spark MLlib) -> bands -> capped buckets -> candidates -> exact Jaccard;
- exact: features exploded, self-joined on the feature, grouped per pair (quadratic per feature).

Reported per size: wall time of each, the speed-up, LSH recall of the exact pairs, the LSH
candidate pairs generated before the distance filter, and the pair counts. Settings come from
conf/base.yaml (`similarity.content`); BENCH_LSH_SET takes extra `key=value` overrides, `;`-separated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession

from crosssell_spark.cleaning.catalogue import classify_items, clean_items
from crosssell_spark.config import AppConfig, load_config
from crosssell_spark.schemas import ITEM_A, ITEM_B
from crosssell_spark.session import get_spark
from crosssell_spark.similarity.minhash import (
    exact_pairs,
    lsh_pairs,
    min_hash_signatures,
    vectorise,
)
from crosssell_spark.similarity.tokens import TOKEN, content_features, item_tokens, stop_words
from crosssell_spark.sources.sample_world import SampleWorldSpec, generate
from crosssell_spark.sources.sample_world.writer import CATALOGUE_DIR, PART_FORMAT

DEFAULT_SIZES = "20000,100000"
WORLD_EVENTS = 10_000  # the catalogue is what matters here; events are the generator's minimum
SEED = 20240601
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _config() -> AppConfig:
    extra = [s for s in os.environ.get("BENCH_LSH_SET", "").split(";") if s.strip()]
    return load_config(
        [PROJECT_ROOT / "conf" / "local.yaml"],
        overrides=extra,
        base=PROJECT_ROOT / "conf" / "base.yaml",
    )


def _features(spark: SparkSession, config: AppConfig, world: Path, out: Path) -> tuple[DataFrame, int]:
    """Cleaned catalogue -> content features, written once to Parquet; returns them and the stop-list size."""
    raw = spark.read.parquet(str(world / CATALOGUE_DIR / PART_FORMAT.format(0)))
    items = clean_items(raw.transform(classify_items(config.cleaning)))
    tokens = items.transform(item_tokens(config.similarity.content, config.categories.cross_level))
    stop = [row[TOKEN] for row in tokens.transform(stop_words(config.similarity.content)).collect()]
    tokens.transform(content_features(config.similarity.content, stop)).write.mode("overwrite").parquet(str(out))
    return spark.read.parquet(str(out)), len(stop)


def _timed_write(df: DataFrame, out: Path) -> float:
    started = time.perf_counter()
    df.write.mode("overwrite").parquet(str(out))
    return time.perf_counter() - started


def measure(spark: SparkSession, config: AppConfig, items: int, scratch: Path) -> dict[str, Any]:
    """One catalogue size: LSH and exact joins from the same features, timed, and the LSH recall."""
    cfg = config.similarity.content
    world = scratch / f"world-{items}"
    generate(world, SampleWorldSpec(events=WORLD_EVENTS, seed=SEED, items=items))
    features, stop = _features(spark, config, world, scratch / f"features-{items}")
    n_features = features.count()

    observed = Observation(f"candidates_{items}")
    started = time.perf_counter()
    # as in the stage: hash once and persist the signatures, then bucket, pair and filter
    signature_path = str(scratch / f"sig-{items}")
    features.transform(vectorise(cfg)).transform(min_hash_signatures(cfg)).write.mode("overwrite").parquet(
        signature_path
    )
    lsh = spark.read.parquet(signature_path).transform(lsh_pairs(cfg, observed))
    lsh.write.mode("overwrite").parquet(str(scratch / f"lsh-{items}"))
    lsh_seconds = time.perf_counter() - started
    exact_seconds = _timed_write(features.transform(exact_pairs(cfg.jaccard_threshold)), scratch / f"exact-{items}")

    lsh_found = spark.read.parquet(str(scratch / f"lsh-{items}")).select(ITEM_A, ITEM_B)
    exact = spark.read.parquet(str(scratch / f"exact-{items}")).select(ITEM_A, ITEM_B)
    exact_count, lsh_count = exact.count(), lsh_found.count()
    found = exact.join(lsh_found, [ITEM_A, ITEM_B]).count()
    return {
        "items": items,
        "items_with_features": n_features,
        "stop_words": stop,
        "lsh_seconds": round(lsh_seconds, 1),
        "exact_seconds": round(exact_seconds, 1),
        "speedup": round(exact_seconds / lsh_seconds, 2),
        "recall": round(found / exact_count, 4) if exact_count else None,
        "candidate_pairs": int(observed.get["candidates"]),
        "lsh_pairs": lsh_count,
        "exact_pairs": exact_count,
    }


def run(scratch: Path) -> dict[str, Any]:
    sizes = [int(s) for s in os.environ.get("BENCH_LSH_ITEMS", DEFAULT_SIZES).split(",")]
    config = _config()
    spark = get_spark(config, {"spark.driver.memory": "8g", "spark.ui.enabled": "false"})
    cfg = config.similarity.content
    rows = []
    for items in sizes:
        rows.append(measure(spark, config, items, scratch))
        print(rows[-1], flush=True)
    settings = {
        "jaccard_threshold": cfg.jaccard_threshold,
        "num_hash_tables": cfg.num_hash_tables,
        "hashes_per_band": cfg.hashes_per_band,
        "bands": cfg.bands,
        "bucket_cap": cfg.bucket_cap,
        "max_doc_freq": cfg.max_doc_freq,
        "shuffle_partitions": config.spark.shuffle_partitions,
    }
    markdown = [
        f"Settings: {settings}",
        "",
        "| items | LSH s | exact s | speed-up | recall | candidate pairs | LSH pairs | exact pairs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    markdown += [
        f"| {r['items']:,} | {r['lsh_seconds']} | {r['exact_seconds']} | {r['speedup']}x | {r['recall']} | "
        f"{r['candidate_pairs']:,} | {r['lsh_pairs']:,} | {r['exact_pairs']:,} |"
        for r in rows
    ]
    return {"settings": settings, "sizes": rows, "markdown": markdown}


if __name__ == "__main__":
    import json
    import tempfile

    print(json.dumps(run(Path(tempfile.mkdtemp(prefix="bench-lsh-"))), indent=2))
