"""The similarity stage: items_clean + events_clean -> item_similarity and category_affinity (and
item_embeddings when similarity.semantic is on)."""

from __future__ import annotations

import logging
import time
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig, ContentSimilarityConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.privacy.dp import pair_privacy
from crosssell_spark.quality.gate import QualityGate, quality_summary
from crosssell_spark.quality.publish import publish_audited
from crosssell_spark.run import Run, StageResult
from crosssell_spark.schemas import CATEGORY_A, CATEGORY_B, CATEGORY_ID, ITEM_A, ITEM_B, ITEM_ID, JACCARD
from crosssell_spark.similarity.blocked import block_count, blocked_exact_pairs
from crosssell_spark.similarity.cooccurrence import (
    BASKET,
    BASKET_SIZE,
    affinity_rows,
    basket_categories,
    basket_items,
    meets_floor,
    pair_statistics,
)
from crosssell_spark.similarity.graph import behavioural_neighbours, content_neighbours, item_similarity
from crosssell_spark.similarity.minhash import (
    BAND,
    BAND_KEY,
    band_buckets,
    lsh_pairs,
    min_hash_signatures,
    vectorise,
)
from crosssell_spark.similarity.semantic import (
    current_embeddings,
    embed,
    item_texts,
    model_name,
    semantic_neighbours,
    to_embed,
)
from crosssell_spark.similarity.tokens import DOC_SHARE, TOKEN, content_features, item_tokens, stop_words
from crosssell_spark.tables import (
    CATEGORY_AFFINITY,
    EVENTS_CLEAN,
    ITEM_EMBEDDINGS,
    ITEM_SIMILARITY,
    ITEMS_CLEAN,
    PRIVACY_LEDGER,
    TableSpec,
)

log = logging.getLogger(__name__)
STAGE = "similarity"
STOP_WORDS_REPORTED = 20
CONTENT_PAIRS_SCHEMA = f"{ITEM_A} string, {ITEM_B} string, {CATEGORY_A} string, {CATEGORY_B} string, {JACCARD} double"


def _content_pairs(
    spark: SparkSession, cfg: ContentSimilarityConfig, tokens: DataFrame, lake: Lakehouse, run: Run
) -> tuple[DataFrame, dict[str, Any]]:
    """Stop list, features, then the pairs: exactly (blocked sparse products), or by MinHash
    signatures (hashed once, persisted) and the capped bucket join."""
    stop = tokens.transform(stop_words(cfg)).collect()
    features = tokens.transform(content_features(cfg, [row[TOKEN] for row in stop]))
    metrics: dict[str, Any] = {
        "method": cfg.method,
        "stop_words": len(stop),
        "top_stop_words": {row[TOKEN]: round(row[DOC_SHARE], 4) for row in stop[:STOP_WORDS_REPORTED]},
    }
    if cfg.method == "exact":
        items = features.count()
        blocks = block_count(items, cfg.block_items, spark.sparkContext.defaultParallelism)
        exact = features.transform(blocked_exact_pairs(cfg.jaccard_threshold, blocks))
        pairs = lake.stage_intermediate("content_pairs", exact, run.run_id)
        return pairs, {**metrics, "items_compared": items, "blocks": blocks, "content_pairs": pairs.count()}
    vectors = features.transform(vectorise(cfg))
    if vectors.isEmpty():
        log.warning("no item has content features; content similarity is empty")
        return spark.createDataFrame([], CONTENT_PAIRS_SCHEMA), {**metrics, "items_hashed": 0}
    signatures = lake.stage_intermediate("item_signatures", vectors.transform(min_hash_signatures(cfg)), run.run_id)
    bucket_sizes = band_buckets(signatures).groupBy(BAND, BAND_KEY).count()
    observed = Observation("lsh_candidates")
    pairs = lake.stage_intermediate("content_pairs", signatures.transform(lsh_pairs(cfg, observed)), run.run_id)
    pair_count = pairs.count()
    metrics |= {
        "items_hashed": signatures.count(),
        "bands": cfg.bands,
        "hashes_per_band": cfg.hashes_per_band,
        "hot_buckets_capped": bucket_sizes.where(F.col("count") > cfg.bucket_cap).count(),
        "candidate_pairs": int(observed.get["candidates"]),
        "content_pairs": pair_count,
    }
    return pairs, metrics


def _semantic_pairs(
    spark: SparkSession, config: AppConfig, items: DataFrame, lake: Lakehouse, run: Run
) -> tuple[DataFrame | None, list[tuple[TableSpec, DataFrame]], dict[str, Any]]:
    """With similarity.semantic on: the embeddings (only new or changed item texts are encoded) staged
    for publishing, and each item's semantic neighbours; off: nothing."""
    cfg, top_n = config.similarity.semantic, config.similarity.top_n
    if not cfg.enabled:
        return None, [], {"enabled": False}
    started, model = time.perf_counter(), model_name()
    texts = lake.stage_intermediate(
        "item_texts", items.transform(item_texts(cfg.fields, config.categories.cross_level)), run.run_id
    )
    existing = lake.read(ITEM_EMBEDDINGS.name) if lake.exists(ITEM_EMBEDDINGS.name) else None
    pending = to_embed(texts, existing, model)
    to_encode = pending.count()
    parallelism = spark.sparkContext.defaultParallelism
    spread = pending.repartition(max(1, min(to_encode // cfg.batch_size, 4 * parallelism)))
    fresh = lake.stage_intermediate(
        "fresh_embeddings", spread.transform(embed(model, cfg.batch_size, run.run_id)), run.run_id
    )
    embedded = time.perf_counter() - started
    embeddings = lake.stage(ITEM_EMBEDDINGS, current_embeddings(texts, existing, fresh, model), run.run_id)
    vectors = embeddings.join(texts.select(ITEM_ID, CATEGORY_ID), ITEM_ID)
    items_embedded = embeddings.count()
    blocks = block_count(items_embedded, cfg.block_items, parallelism)
    pairs = lake.stage_intermediate(
        "semantic_pairs", vectors.transform(semantic_neighbours(cfg, top_n, blocks)), run.run_id
    )
    metrics = {
        "enabled": True,
        "model": model,
        "items": items_embedded,
        "embedded": to_encode,
        "reused": items_embedded - to_encode,
        "embed_seconds": round(embedded, 1),
        "blocks": blocks,
        "neighbour_rows": pairs.count(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return pairs, [(ITEM_EMBEDDINGS, embeddings)], metrics


def run_similarity(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Content (shared tokens) and behavioural (co-occurrence) neighbours across categories; publish
    item_similarity and category_affinity once they pass the quality gate."""
    lake = Lakehouse(spark, config.lakehouse)
    sim, level = config.similarity, config.categories.cross_level
    if sim.semantic.enabled:
        model_name()  # a missing encoder fails the stage here, before any work
    items, events = lake.read(ITEMS_CLEAN.name), lake.read(EVENTS_CLEAN.name)

    tokens = items.transform(item_tokens(sim.content, level))  # cheap: recomputed for the stop list and features
    content, content_metrics = _content_pairs(spark, sim.content, tokens, lake, run)
    semantic, semantic_staged, semantic_metrics = _semantic_pairs(spark, config, items, lake, run)

    floor = meets_floor(sim.cooccurrence)
    dp = pair_privacy(config.privacy.dp, sim.cooccurrence.min_users)  # None unless privacy.dp.enabled
    members = lake.stage_intermediate(
        "basket_items", events.transform(basket_items(sim.cooccurrence, items, level)), run.run_id
    )
    item_pairs = lake.stage_intermediate("item_pair_stats", pair_statistics(members, dp), run.run_id)
    category_pairs = lake.stage_intermediate(
        "category_pair_stats", pair_statistics(basket_categories(members), dp), run.run_id
    )

    similarity = item_similarity(sim)(
        content.transform(content_neighbours(sim.top_n)),
        item_pairs.where(floor).transform(behavioural_neighbours(sim.top_n)),
        semantic,
    )
    staged = [  # the tables behavioural counts reach (what a DP run's ledger accounts for)
        (ITEM_SIMILARITY, lake.stage(ITEM_SIMILARITY, similarity, run.run_id)),
        (CATEGORY_AFFINITY, lake.stage(CATEGORY_AFFINITY, affinity_rows(category_pairs.where(floor)), run.run_id)),
    ]
    baskets = members.select(BASKET, BASKET_SIZE).distinct()
    metrics: dict[str, object] = {  # counted from the staged intermediates, before publishing drops them
        "content": content_metrics,
        "semantic": semantic_metrics,
        "behavioural": {
            "baskets": baskets.count(),
            "baskets_capped": baskets.where(F.col(BASKET_SIZE) > sim.cooccurrence.max_items_per_basket).count(),
            "item_pairs_published": item_pairs.where(floor).count(),
            "item_pairs_withheld_by_floor": item_pairs.where(~floor).count(),
            "category_pairs_published": category_pairs.where(floor).count(),
            "category_pairs_withheld_by_floor": category_pairs.where(~floor).count(),
        },
    }
    ledger = []
    if dp is not None:  # the epsilon this run spent, per table
        ledger = [(PRIVACY_LEDGER, dp.ledger_rows(spark, run.run_id, run.started_at, [s.name for s, _ in staged]))]
    gate = QualityGate(spark, config, lake, run)
    done = publish_audited(gate, [*semantic_staged, *staged], stage=STAGE, appends=ledger)
    metrics |= {"quality": quality_summary(done.outcomes), "data_docs": gate.data_docs_index}
    log.info("similarity: %s", metrics)
    return StageResult(stage=STAGE, published=done.versions, metrics=metrics)
