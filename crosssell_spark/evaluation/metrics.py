"""Ranking metrics at K as DataFrame transforms (windows and array functions, no collect).

Inputs share two shapes:
    recs   (query_id, item_id, item_category, rank, score): a method's ranked list per query
    truth  (query_id, item_id, item_category): the held-out items that count as relevant

Definitions (binary relevance; `rel` = the query's relevant items, `hits` = relevant items in the top K):
    HitRate@K   = 1 if hits > 0                 Precision@K = hits / K
    Recall@K    = hits / |rel|                  NDCG@K = DCG / IDCG, DCG = sum over hits of 1 / log2(rank + 1)
    AP@K        = sum over hits of (hits so far / rank) / min(|rel|, K)   (as Spark's meanAveragePrecisionAtK)
Every query in `truth` counts; a query without a list scores 0. Coverage, intra-list diversity and
novelty describe the lists themselves, not their accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.schemas import EVAL_CATEGORY, ITEM_CATEGORY, ITEM_ID, METRIC, QUERIES, RANK, SCORE, VALUE

QUERY = "query_id"  # evaluation-internal; the columns of lists and of the evaluation table are in schemas

HIT_RATE, PRECISION, RECALL, NDCG, MAP = "hit_rate", "precision", "recall", "ndcg", "map"
COVERAGE, DIVERSITY, NOVELTY = "coverage", "diversity", "novelty"
ACCURACY_METRICS = (HIT_RATE, PRECISION, RECALL, NDCG, MAP)
LIST_METRICS = (COVERAGE, DIVERSITY, NOVELTY)

N_RELEVANT, HITS, DCG, AP_SUM, IS_HIT = "n_relevant", "hits", "dcg", "ap_sum", "is_hit"


def _validate(df: DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {df.columns}")


def top_k(k: int) -> Callable[[DataFrame], DataFrame]:
    """Keep each query's K best-ranked distinct items, renumbered 1..K (ties by item id)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")

    def transform(recs: DataFrame) -> DataFrame:
        _validate(recs, (QUERY, ITEM_ID, RANK), "recs")
        best = recs.groupBy(*[c for c in recs.columns if c not in (RANK, SCORE)]).agg(
            F.min(RANK).alias(RANK), F.max(SCORE).alias(SCORE) if SCORE in recs.columns else F.lit(None).alias(SCORE)
        )
        order = Window.partitionBy(QUERY).orderBy(F.col(RANK), F.col(ITEM_ID))
        return best.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= k)

    return transform


def _ideal_dcg(n_relevant: Column, k: int) -> Column:
    positions = F.sequence(F.lit(1), F.least(n_relevant, F.lit(k)).cast("int"))
    return F.aggregate(positions, F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1))


def mark_hits(recs: DataFrame, truth: DataFrame, k: int) -> DataFrame:
    """Top-K recs with `is_hit` (1/0): the rows every accuracy metric is computed from."""
    relevant = truth.select(QUERY, ITEM_ID).distinct().withColumn(IS_HIT, F.lit(1))
    return recs.transform(top_k(k)).join(relevant, [QUERY, ITEM_ID], "left").fillna(0, [IS_HIT])


def per_query(recs: DataFrame, truth: DataFrame, k: int) -> DataFrame:
    """One row per query of `truth`: n_relevant, hits and its HitRate, Precision, Recall, NDCG, AP at K."""
    _validate(truth, (QUERY, ITEM_ID), "truth")
    marked = mark_hits(recs, truth, k)
    running = Window.partitionBy(QUERY).orderBy(RANK).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    scored = (
        marked.withColumn("_hits_so_far", F.sum(IS_HIT).over(running))
        .groupBy(QUERY)
        .agg(
            F.sum(IS_HIT).alias(HITS),
            F.sum(F.col(IS_HIT) / F.log2(F.col(RANK) + 1)).alias(DCG),
            F.sum(F.col(IS_HIT) * F.col("_hits_so_far") / F.col(RANK)).alias(AP_SUM),
        )
    )
    relevant = truth.groupBy(QUERY).agg(F.countDistinct(ITEM_ID).alias(N_RELEVANT))
    joined = relevant.join(scored, QUERY, "left").fillna(0, [HITS, DCG, AP_SUM])
    return joined.select(
        QUERY,
        N_RELEVANT,
        F.col(HITS).cast("long").alias(HITS),
        (F.col(HITS) > 0).cast("double").alias(HIT_RATE),
        (F.col(HITS) / F.lit(k)).alias(PRECISION),
        (F.col(HITS) / F.col(N_RELEVANT)).alias(RECALL),
        (F.col(DCG) / _ideal_dcg(F.col(N_RELEVANT), k)).alias(NDCG),
        (F.col(AP_SUM) / F.least(F.col(N_RELEVANT), F.lit(k))).alias(MAP),
    )


def _long(summary: DataFrame, metrics: tuple[str, ...]) -> DataFrame:
    """One wide summary row -> (metric, value) rows."""
    return summary.select(
        F.explode(F.array(*[F.struct(F.lit(m).alias(METRIC), F.col(m).cast("double").alias(VALUE)) for m in metrics]))
    ).select("col.*")


def accuracy(recs: DataFrame, truth: DataFrame, k: int) -> DataFrame:
    """(metric, value, queries): the mean of each accuracy metric over every query of `truth`."""
    scores = per_query(recs, truth, k)
    summary = scores.agg(*[F.avg(m).alias(m) for m in ACCURACY_METRICS], F.count(F.lit(1)).alias(QUERIES))
    return _long(summary, ACCURACY_METRICS).crossJoin(summary.select(QUERIES))


def catalogue_coverage(recs: DataFrame, catalogue: DataFrame, k: int) -> DataFrame:
    """(metric, value): distinct items in any top-K list / items in the catalogue (item_id rows)."""
    shown = recs.transform(top_k(k)).select(ITEM_ID).distinct().agg(F.count(F.lit(1)).alias("_shown"))
    total = catalogue.select(ITEM_ID).distinct().agg(F.count(F.lit(1)).alias("_total"))
    return shown.crossJoin(total).select(
        F.lit(COVERAGE).alias(METRIC), (F.col("_shown") / F.greatest(F.col("_total"), F.lit(1))).alias(VALUE)
    )


def intra_list_diversity(recs: DataFrame, k: int) -> DataFrame:
    """(metric, value): mean over lists of >= 2 items of the share of item pairs in different categories."""
    per_category = recs.transform(top_k(k)).groupBy(QUERY, ITEM_CATEGORY).agg(F.count(F.lit(1)).alias("_n_c"))
    per_list = per_category.groupBy(QUERY).agg(
        F.sum("_n_c").alias("_n"), F.sum(F.col("_n_c") * F.col("_n_c")).alias("_sq")
    )
    pairs = F.col("_n") * (F.col("_n") - 1)
    return (
        per_list.where(F.col("_n") >= 2)
        .agg(F.avg((F.col("_n") * F.col("_n") - F.col("_sq")) / pairs).alias(VALUE))
        .select(F.lit(DIVERSITY).alias(METRIC), F.coalesce(F.col(VALUE), F.lit(0.0)).alias(VALUE))
    )


def novelty(recs: DataFrame, item_users: DataFrame, n_users: int, k: int) -> DataFrame:
    """(metric, value): mean self-information -log2((users_i + 1) / (n_users + 1)) of the recommended items.

    `item_users` has (item_id, users): distinct training users per item; unseen items count 0 users.
    """
    users = item_users.select(ITEM_ID, F.col("users").alias("_users"))
    slots = recs.transform(top_k(k)).select(QUERY, ITEM_ID).join(users, ITEM_ID, "left").fillna(0, ["_users"])
    bits = -F.log2((F.col("_users") + 1) / F.lit(n_users + 1))
    return slots.agg(F.avg(bits).alias(VALUE)).select(
        F.lit(NOVELTY).alias(METRIC), F.coalesce(F.col(VALUE), F.lit(0.0)).alias(VALUE)
    )


def per_category_hit_rate(recs: DataFrame, truth: DataFrame, k: int) -> DataFrame:
    """(category, value, queries): among queries with relevant items of a category, the share whose top K
    holds one of them. Shows which categories the method serves and which it misses."""
    _validate(truth, (QUERY, ITEM_ID, ITEM_CATEGORY), "truth")
    wanted = truth.select(QUERY, ITEM_ID, F.col(ITEM_CATEGORY).alias(EVAL_CATEGORY)).distinct()
    hits = mark_hits(recs, truth, k).where(F.col(IS_HIT) == 1).select(QUERY, ITEM_ID)
    found = wanted.join(hits.withColumn("_found", F.lit(1)), [QUERY, ITEM_ID], "left").fillna(0, ["_found"])
    per_pair = found.groupBy(QUERY, EVAL_CATEGORY).agg(F.max("_found").alias("_hit"))
    return per_pair.groupBy(EVAL_CATEGORY).agg(
        F.avg("_hit").cast("double").alias(VALUE), F.count(F.lit(1)).alias(QUERIES)
    )
