"""Semantic similarity: the encoder's throughput, and each item's top-n neighbours by cosine from the
stage's blocked search, Spark MLlib's BucketedRandomProjectionLSH and a one-core dense product (the limit).

Encoder: `encode` on BENCH_SEMANTIC_TITLES (default 2000) synthetic titles on this process, after a
warm-up call that loads the model, as titles per second.

Neighbours, per size in BENCH_SEMANTIC_ITEMS (default 20000,50000): synthetic 512-d unit vectors (a
centre per ~25 items plus per-item noise: ~16 neighbours of other categories per item at cosine 0.5),
40 random categories, written once to Parquet. Each method writes every item's top_n neighbours of
other categories with cosine >= min_cosine:

- blocked (the stage's method): dense block products, blocks(blocks + 1)/2 Spark tasks;
- BRP-LSH: `approxSimilarityJoin` at distance sqrt(2 - 2 min_cosine), then top_n; BENCH_SEMANTIC_BRP =
  "bucketLength,numHashTables" (default 0.002,2). A projection of a 512-d unit vector spreads ~0.044,
  so Spark's hinted bucketLength (~1 here) puts every pair in one bucket, and with one projection per
  table (OR-amplification only) candidates grow about as fast as recall: the default keeps the join
  affordable and shows the recall it buys;
- one-core limit: the vectors collected to this process, one block, BLAS on one thread.

Reported per size: seconds (fastest of BENCH_SEMANTIC_REPEATS runs, default 3) and the recall of the
limit's top-n pairs. Settings: conf/base.yaml `similarity.semantic` and `similarity.top_n`.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml.feature import BucketedRandomProjectionLSH, BucketedRandomProjectionLSHModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from threadpoolctl import threadpool_limits

from bench.timing import fastest, written
from crosssell_spark.config import AppConfig, load_config
from crosssell_spark.schemas import CATEGORY_A, CATEGORY_B, CATEGORY_ID, EMBEDDING, ITEM_A, ITEM_B, ITEM_ID, SEMANTIC
from crosssell_spark.session import get_spark
from crosssell_spark.similarity.blocked import BLOCK, TASK, block_count
from crosssell_spark.similarity.graph import top_per_item
from crosssell_spark.similarity.semantic import block_neighbours, encode, semantic_neighbours

DEFAULT_SIZES = "20000,50000"
DIMS, CATEGORIES, ITEMS_PER_CENTRE = 512, 40, 25
NOISE = (0.4, 1.4)  # an item's noise norm relative to its centre: same-centre cosines ~0.35-0.85
SEED = 20240601
PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_SEMANTIC_REPEATS", "3"))
TITLES = int(os.environ.get("BENCH_SEMANTIC_TITLES", "2000"))
_BRP = os.environ.get("BENCH_SEMANTIC_BRP", "0.002,2").split(",")
BUCKET_LENGTH, HASH_TABLES = float(_BRP[0]), int(_BRP[1])
VECTOR, HASHES, DIST = "_vector", "_hashes", "_dist"
ADJECTIVES = ["organic", "wireless", "stainless steel", "kids", "vegan", "waterproof", "dark", "classic", "mini", "eco"]
NOUNS = ["pasta sauce", "headphones", "garden fork", "running shoes", "phone case", "whole milk", "chocolate bar",
         "coffee beans", "desk lamp", "yoga mat", "dog food", "tea cups", "backpack", "board game"]  # fmt: skip
SIZES = ["500g", "1kg", "2-pack", "XL", "250 ml", "set of 4", "size 42", "1 l"]


def _config() -> AppConfig:
    return load_config([PROJECT_ROOT / "conf" / "local.yaml"], base=PROJECT_ROOT / "conf" / "base.yaml")


def titles(n: int) -> list[str]:
    """`n` product-like titles: adjective + noun + size, seeded."""
    rng = random.Random(SEED)
    return [f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(SIZES)}" for _ in range(n)]


def encoder_rate(n: int) -> float:
    """Titles per second of `encode` on this process (after a warm-up call that loads the model)."""
    texts = titles(n)
    encode(texts[:8])
    return n / fastest(lambda: encode(texts), REPEATS)


def write_vectors(n: int, min_cosine: float, out: Path) -> list[float]:
    """`n` clustered unit vectors as Parquet (item_id, category_id, embedding array<float>); returns the
    mean, 5th and 95th percentile of neighbours of other categories at min_cosine (1,000 sampled items)."""
    rng = np.random.default_rng(SEED + n)
    centres = rng.normal(size=(max(1, n // ITEMS_PER_CENTRE), DIMS))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.uniform(*NOISE, size=(n, 1)) * rng.normal(size=(n, DIMS)) / math.sqrt(DIMS)
    vectors = centres[rng.integers(0, len(centres), n)] + noise
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    categories = rng.integers(0, CATEGORIES, n)
    embedding = pa.ListArray.from_arrays(np.arange(0, n * DIMS + 1, DIMS, dtype=np.int32), vectors.ravel())
    ids, category_ids = [f"I{i + 1:06d}" for i in range(n)], [f"c{c:02d}" for c in categories]
    table = pa.table({ITEM_ID: ids, CATEGORY_ID: category_ids, EMBEDDING: embedding})
    pq.write_table(table, out / "part-0.parquet")
    sample = rng.choice(n, min(n, 1000), replace=False)
    scores = vectors[sample] @ vectors.T
    scores[categories[sample][:, None] == categories[None, :]] = -1.0
    found = (scores >= min_cosine).sum(axis=1)
    return [round(float(found.mean()), 1), float(np.percentile(found, 5)), float(np.percentile(found, 95))]


def _lsh(items: DataFrame) -> tuple[DataFrame, BucketedRandomProjectionLSHModel]:
    """The items as (item_id, category_id, vector) and the LSH fitted on them."""
    vectors = items.select(ITEM_ID, CATEGORY_ID, array_to_vector(F.col(EMBEDDING)).alias(VECTOR))
    lsh = BucketedRandomProjectionLSH(
        inputCol=VECTOR, outputCol=HASHES, bucketLength=BUCKET_LENGTH, numHashTables=HASH_TABLES, seed=SEED
    )
    return vectors, lsh.fit(vectors)


def brp_neighbours(items: DataFrame, min_cosine: float, top_n: int) -> DataFrame:
    """BucketedRandomProjectionLSH self-join at distance sqrt(2 - 2 min_cosine) -> each item's top_n."""
    vectors, model = _lsh(items)
    joined = model.approxSimilarityJoin(vectors, vectors, math.sqrt(2 - 2 * min_cosine) + 1e-6, DIST)
    pairs = joined.select(
        F.col(f"datasetA.{ITEM_ID}").alias(ITEM_A),
        F.col(f"datasetB.{ITEM_ID}").alias(ITEM_B),
        F.col(f"datasetA.{CATEGORY_ID}").alias(CATEGORY_A),
        F.col(f"datasetB.{CATEGORY_ID}").alias(CATEGORY_B),
        (1 - F.col(DIST) ** 2 / 2).alias(SEMANTIC),  # unit vectors: |a - b|^2 = 2 - 2 cos
    ).where((F.col(CATEGORY_A) != F.col(CATEGORY_B)) & (F.col(SEMANTIC) >= min_cosine))
    return pairs.transform(top_per_item(top_n, F.col(SEMANTIC).desc()))


def brp_join_rows(items: DataFrame) -> int:
    """Rows of the LSH join before its distinct: (ordered) pairs sharing a bucket, summed over tables."""
    vectors, model = _lsh(items)
    hashes = model.transform(vectors).select(F.posexplode(HASHES).alias("table", "hash"))
    buckets = hashes.groupBy("table", vector_to_array(F.col("hash"))[0].alias("bucket")).count()
    return int(buckets.select(F.sum(F.col("count") * F.col("count"))).collect()[0][0])


def _one_core_limit(items: DataFrame, min_cosine: float, top_n: int) -> tuple[float, pd.DataFrame]:
    """The same vectors on this process: one block, one BLAS thread; returns seconds and the top-n pairs."""
    local = cast(pd.DataFrame, items.toPandas()).assign(**{BLOCK: 0, TASK: 0})
    found: list[pd.DataFrame] = []

    def job() -> None:
        pairs = block_neighbours(local, 1, min_cosine, top_n)
        ordered = pairs.sort_values([ITEM_A, SEMANTIC, ITEM_B], ascending=[True, False, True])
        found.append(ordered.groupby(ITEM_A).head(top_n)[[ITEM_A, ITEM_B]])

    with threadpool_limits(limits=1):
        seconds = fastest(job, REPEATS)
    return seconds, found[-1]


def measure(spark: SparkSession, config: AppConfig, items: int, scratch: Path) -> dict[str, Any]:
    """One size: each method from the same vectors, timed; recall of the limit's top-n pairs."""
    cfg, top_n = config.similarity.semantic, config.similarity.top_n
    source = scratch / f"vectors-{items}"
    source.mkdir()
    neighbours = write_vectors(items, cfg.min_cosine, source)
    vectors = spark.read.parquet(str(source))
    blocks = block_count(items, cfg.block_items, spark.sparkContext.defaultParallelism)
    blocked = vectors.transform(semantic_neighbours(cfg, top_n, blocks))
    blocked_seconds = fastest(written(blocked, scratch / f"blocked-{items}"), REPEATS)
    brp_seconds = fastest(written(brp_neighbours(vectors, cfg.min_cosine, top_n), scratch / f"brp-{items}"), REPEATS)
    limit_seconds, exact = _one_core_limit(vectors, cfg.min_cosine, top_n)

    def recall(name: str) -> float | None:
        found = cast(pd.DataFrame, spark.read.parquet(str(scratch / f"{name}-{items}")).toPandas())
        return round(len(exact.merge(found, on=[ITEM_A, ITEM_B])) / len(exact), 4) if len(exact) else None

    return {
        "items": items,
        "neighbours_per_item_mean_p5_p95": neighbours,
        "blocks": blocks,
        "blocked_seconds": round(blocked_seconds, 1),
        "brp_lsh_seconds": round(brp_seconds, 1),
        "one_core_seconds": round(limit_seconds, 1),
        "blocked_vs_limit": round(blocked_seconds / limit_seconds, 2),
        "blocked_recall": recall("blocked"),
        "brp_lsh_recall": recall("brp"),
        "brp_lsh_join_rows": brp_join_rows(vectors),
        "exact_pairs": len(exact),
    }


def run(scratch: Path) -> dict[str, Any]:
    sizes = [int(s) for s in os.environ.get("BENCH_SEMANTIC_ITEMS", DEFAULT_SIZES).split(",")]
    config = _config()
    spark = get_spark(config, {"spark.driver.memory": "8g", "spark.ui.enabled": "false"})
    cfg = config.similarity.semantic
    titles_per_second = round(encoder_rate(TITLES), 1)
    print({"encoder_titles": TITLES, "titles_per_second": titles_per_second}, flush=True)
    rows = []
    for items in sizes:
        rows.append(measure(spark, config, items, scratch))
        print(rows[-1], flush=True)
    settings = {
        "min_cosine": cfg.min_cosine,
        "top_n": config.similarity.top_n,
        "block_items": cfg.block_items,
        "repeats": REPEATS,
        "brp_bucket_length": BUCKET_LENGTH,
        "brp_num_hash_tables": HASH_TABLES,
        "shuffle_partitions": config.spark.shuffle_partitions,
    }
    markdown = [
        f"Settings: {settings}",
        "",
        f"Encoder: {titles_per_second:,} titles/s on one process ({TITLES:,} synthetic titles, fastest of {REPEATS}).",
        "",
        "| items | blocks | blocked s | BRP-LSH s | one-core limit s | blocked / limit | blocked recall | "
        "BRP-LSH recall | exact top-n pairs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    markdown += [
        f"| {r['items']:,} | {r['blocks']} | {r['blocked_seconds']} | {r['brp_lsh_seconds']} | "
        f"{r['one_core_seconds']} | {r['blocked_vs_limit']}x | {r['blocked_recall']} | {r['brp_lsh_recall']} | "
        f"{r['exact_pairs']:,} |"
        for r in rows
    ]
    return {"settings": settings, "encoder_titles_per_second": titles_per_second, "sizes": rows, "markdown": markdown}


if __name__ == "__main__":
    import json
    import tempfile

    print(json.dumps(run(Path(tempfile.mkdtemp(prefix="bench-semantic-"))), indent=2))
