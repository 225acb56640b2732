"""Content similarity: the stage's exact blocked join and the banded MinHash LSH join against the
exact Spark self-join and a one-core sparse product (the limit).

For each catalogue size (BENCH_LSH_ITEMS, comma-separated, default 20000,100000) a sample world's raw
catalogue is cleaned with the cleaning stage's transforms and turned into content features exactly
as the similarity stage does (tokens, learnt stop list, shingles), materialised once. Then, from the
same features, both joins write their pairs (Jaccard >= threshold, different categories):

- blocked (`method: exact`, the default): items cut into blocks, one sparse product A_i . A_j^T per
  pair of blocks inside a Spark task (similarity/blocked.py);
- LSH (`method: lsh`): HashingTF -> MinHashLSH (Spark MLlib) -> bands -> capped buckets -> candidates
  -> exact Jaccard;
- exact Spark join: features exploded, self-joined on the feature, grouped per pair;
- one-core limit: the same features collected to this process, one scipy sparse product A . A^T on
  one core (the blocked join's task code with a single block), pairs filtered the same way.

Reported per size: seconds of each (the fastest of BENCH_LSH_REPEATS runs, default 3), the recall of
the exact pairs, LSH's candidate pairs before the distance filter, and the pair counts. Settings come
from conf/base.yaml (`similarity.content`); BENCH_LSH_SET takes extra `key=value` overrides, `;`-separated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from bench.timing import fastest, written
from crosssell_spark.cleaning.catalogue import classify_items, clean_items
from crosssell_spark.config import AppConfig, load_config
from crosssell_spark.schemas import CATEGORY_ID, ITEM_A, ITEM_B, ITEM_ID
from crosssell_spark.session import get_spark
from crosssell_spark.similarity.blocked import BLOCK, IDS, TASK, block_count, block_pairs, blocked_exact_pairs
from crosssell_spark.similarity.minhash import (
    exact_pairs,
    lsh_pairs,
    min_hash_signatures,
    vectorise,
)
from crosssell_spark.similarity.tokens import FEATURES, TOKEN, content_features, item_tokens, stop_words
from crosssell_spark.sources.sample_world import SampleWorldSpec, generate
from crosssell_spark.sources.sample_world.writer import CATALOGUE_DIR, PART_FORMAT

DEFAULT_SIZES = "20000,100000"
WORLD_EVENTS = 10_000  # the catalogue is what matters here; events are the generator's minimum
SEED = 20240601
PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_LSH_REPEATS", "3"))


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


def _one_core_limit(features: DataFrame, threshold: float) -> tuple[float, int]:
    """The same features on this process: one sparse product on one core, as one block."""
    ids = F.array_distinct(F.transform(FEATURES, lambda f: F.xxhash64(f)))
    local = features.select(ITEM_ID, CATEGORY_ID, ids.alias(IDS)).toPandas().assign(**{BLOCK: 0, TASK: 0})
    pairs = []
    seconds = fastest(lambda: pairs.append(len(block_pairs(local, 1, threshold))), REPEATS)
    return seconds, pairs[-1]


def measure(spark: SparkSession, config: AppConfig, items: int, scratch: Path) -> dict[str, Any]:
    """One catalogue size: each method from the same features, timed; recall of the exact pairs."""
    cfg = config.similarity.content
    world = scratch / f"world-{items}"
    generate(world, SampleWorldSpec(events=WORLD_EVENTS, seed=SEED, items=items))
    features, stop = _features(spark, config, world, scratch / f"features-{items}")
    n_features = features.count()
    threshold = cfg.jaccard_threshold

    blocks = block_count(n_features, cfg.block_items, spark.sparkContext.defaultParallelism)
    blocked_join = features.transform(blocked_exact_pairs(threshold, blocks))
    blocked_seconds = fastest(written(blocked_join, scratch / f"blocked-{items}"), REPEATS)
    observations: list[Observation] = []  # one per run: an Observation serves one DataFrame
    signature_path = str(scratch / f"sig-{items}")

    def lsh_job() -> None:  # as in the stage: hash once and persist the signatures, then bucket, pair, filter
        features.transform(vectorise(cfg)).transform(min_hash_signatures(cfg)).write.mode("overwrite").parquet(
            signature_path
        )
        observations.append(Observation(f"candidates_{items}_{len(observations)}"))
        lsh = spark.read.parquet(signature_path).transform(lsh_pairs(cfg, observations[-1]))
        lsh.write.mode("overwrite").parquet(str(scratch / f"lsh-{items}"))

    lsh_seconds = fastest(lsh_job, REPEATS)
    exact_seconds = fastest(written(features.transform(exact_pairs(threshold)), scratch / f"exact-{items}"), REPEATS)
    limit_seconds, limit_pairs = _one_core_limit(features, threshold)

    def pairs(name: str) -> DataFrame:
        return spark.read.parquet(str(scratch / f"{name}-{items}")).select(ITEM_A, ITEM_B)

    exact, lsh_found, blocked = pairs("exact"), pairs("lsh"), pairs("blocked")
    exact_count = exact.count()

    def recall(found: DataFrame) -> float | None:
        return round(exact.join(found, [ITEM_A, ITEM_B]).count() / exact_count, 4) if exact_count else None

    return {
        "items": items,
        "items_with_features": n_features,
        "stop_words": stop,
        "blocks": blocks,
        "blocked_seconds": round(blocked_seconds, 1),
        "lsh_seconds": round(lsh_seconds, 1),
        "exact_seconds": round(exact_seconds, 1),
        "one_core_seconds": round(limit_seconds, 1),
        "blocked_vs_limit": round(blocked_seconds / limit_seconds, 2),
        "blocked_recall": recall(blocked),
        "lsh_recall": recall(lsh_found),
        "candidate_pairs": int(observations[-1].get["candidates"]),
        "blocked_pairs": blocked.count(),
        "lsh_pairs": lsh_found.count(),
        "exact_pairs": exact_count,
        "one_core_pairs": limit_pairs,
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
        "block_items": cfg.block_items,
        "repeats": REPEATS,
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
        "| items | blocks | blocked s | LSH s | exact Spark join s | one-core limit s | blocked / limit | "
        "blocked recall | LSH recall | LSH candidates | exact pairs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    markdown += [
        f"| {r['items']:,} | {r['blocks']} | {r['blocked_seconds']} | {r['lsh_seconds']} | {r['exact_seconds']} | "
        f"{r['one_core_seconds']} | {r['blocked_vs_limit']}x | {r['blocked_recall']} | {r['lsh_recall']} | "
        f"{r['candidate_pairs']:,} | {r['exact_pairs']:,} |"
        for r in rows
    ]
    return {"settings": settings, "sizes": rows, "markdown": markdown}


if __name__ == "__main__":
    import json
    import tempfile

    print(json.dumps(run(Path(tempfile.mkdtemp(prefix="bench-lsh-"))), indent=2))
