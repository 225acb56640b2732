"""MinHash LSH join: same pairs as the exact join, seeded, blocked by category, bounded on hot buckets."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import ContentSimilarityConfig
from crosssell_spark.similarity.minhash import (
    BAND_KEYS,
    BUCKET_SIZE,
    MEMBERS,
    candidate_pairs,
    capped_buckets,
    exact_pairs,
    lsh_pairs,
    min_hash_signatures,
    vectorise,
)

FEATURES = "item_id string, category_id string, features array<string>"


def lsh_join(features: DataFrame, cfg: ContentSimilarityConfig) -> DataFrame:
    return features.transform(vectorise(cfg)).transform(min_hash_signatures(cfg)).transform(lsh_pairs(cfg))


def as_set(pairs: DataFrame) -> set[tuple]:
    return {(r.item_a, r.item_b, r.category_a, r.category_b, round(r.jaccard, 6)) for r in pairs.collect()}


def catalogue(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("P1", "phones", ["samsung", "galaxy", "s23"]),
            ("P2", "cases", ["spigen", "galaxy", "s23", "case"]),  # 2/5 with P1
            ("P3", "phones", ["samsung", "galaxy", "s23"]),  # P1's twin, same category
            ("P4", "pasta", ["penne", "rigate"]),  # nothing in common with anyone
            ("P5", "cases", ["samsung", "galaxy", "s23"]),  # P1's twin in another category
            ("P6", "sauces", ["spigen", "penne", "x1", "y2", "z3"]),  # 1/8 with P2: below the threshold
        ],
        FEATURES,
    )


def test_lsh_returns_exactly_the_cross_category_pairs_above_the_threshold(spark, similarity):
    cfg = similarity("content.jaccard_threshold=0.3").content
    expected = {
        ("P1", "P2", "phones", "cases", 0.4),
        ("P2", "P3", "cases", "phones", 0.4),
        ("P1", "P5", "phones", "cases", 1.0),
        ("P3", "P5", "phones", "cases", 1.0),
    }  # never P1-P3 (same category) nor P2-P5 (same category); P2-P6 is 1/8
    assert as_set(catalogue(spark).transform(exact_pairs(0.3))) == expected
    assert as_set(lsh_join(catalogue(spark), cfg)) == expected


def test_signatures_are_seeded(spark, similarity):
    def keys(cfg: ContentSimilarityConfig) -> list:
        vectors = catalogue(spark).transform(vectorise(cfg))
        signatures = vectors.transform(min_hash_signatures(cfg))
        return [r[BAND_KEYS] for r in signatures.orderBy("item_id").collect()]

    first, again = keys(similarity().content), keys(similarity().content)
    assert first == again and len(first[0]) == similarity().content.bands
    assert keys(similarity("content.seed=7").content) != first


def test_many_identical_titles_yield_candidates_bounded_by_the_bucket_cap(spark, similarity):
    """2,000 identical titles over 20 categories share one bucket per band: uncapped, that is
    2000 * 1900 / 2 = 1.9 million cross-category pairs per band."""
    cap, bands = 40, 10
    cfg = similarity(
        f"content.bucket_cap={cap}", f"content.num_hash_tables={2 * bands}", "content.hashes_per_band=2"
    ).content
    identical = spark.range(2000).select(
        F.format_string("P%04d", "id").alias("item_id"),
        F.format_string("c%02d", F.col("id") % 20).alias("category_id"),
        F.array(F.lit("identical"), F.lit("title"), F.lit("words")).alias("features"),
    )
    vectors = identical.transform(vectorise(cfg))
    buckets = vectors.transform(min_hash_signatures(cfg)).transform(capped_buckets(cfg))
    shape = buckets.select(BUCKET_SIZE, F.size(MEMBERS).alias("kept")).distinct().collect()
    assert [(r[BUCKET_SIZE], r["kept"]) for r in shape] == [(2000, cap)]
    candidates = candidate_pairs(buckets)
    stats = candidates.agg(F.count(F.lit(1)).alias("n"), F.min("jaccard").alias("j")).first()
    assert 0 < stats["n"] <= bands * cap * (cap - 1) // 2
    assert stats["j"] == 1.0
    assert candidates.where(F.col("category_a") == F.col("category_b")).count() == 0
