"""MinHash LSH across categories with banding, blocking and capped buckets.

Spark MLlib's `MinHashLSH` computes the signatures (seeded, `num_hash_tables` hash functions).
Its own `approxSimilarityJoin` only OR-amplifies single hashes, and a bucket shared by thousands of
near-identical titles makes it emit the square of that many candidates. So the join is done here on
`MinHashLSHModel.transform` output instead:

1. the signature is cut into `bands` of `hashes_per_band` (r) hashes; a band's key is a hash of its
   values, so two items share a band bucket only when all r hashes agree (AND), and become
   candidates when they share any band (OR): P(candidate) = 1 - (1 - J**r)**bands;
2. every (band, key) bucket keeps at most `bucket_cap` members, chosen by a hash of item and band
   (so a different subset in every band); a bucket therefore yields at most cap*(cap-1)/2 pairs,
   however many near-identical titles share it;
3. members of a bucket are paired only across categories (the blocking key), the exact Jaccard of
   each candidate is computed from the feature sets, and pairs under the threshold are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.ml.feature import HashingTF, MinHashLSH, MinHashLSHModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from crosssell_spark.config import ContentSimilarityConfig
from crosssell_spark.schemas import CATEGORY_A, CATEGORY_B, CATEGORY_ID, ITEM_A, ITEM_B, ITEM_ID, JACCARD
from crosssell_spark.similarity.tokens import FEATURES

VECTOR = "vector"
HASHES = "hashes"
FEATURE_IDS = "feature_ids"  # 64-bit hashes of the features: compact for the bucket shuffle
BAND_KEYS = "band_keys"
BAND = "band"
BAND_KEY = "band_key"
BUCKET_SIZE = "bucket_size"
MEMBERS = "members"
# bucket member fields; `order` first so that sorting the member list orders by it
_ORDER, _ITEM, _CATEGORY, _IDS = "order", "item", "category", "ids"


def vectorise(cfg: ContentSimilarityConfig) -> Callable[[DataFrame], DataFrame]:
    """Add the binary sparse vector of each item's feature set (HashingTF, binary=True); items
    without features are dropped, as MinHashLSH rejects empty vectors."""
    hashing = HashingTF(inputCol=FEATURES, outputCol=VECTOR, numFeatures=cfg.num_features, binary=True)

    def transform(features: DataFrame) -> DataFrame:
        return hashing.transform(features.where(F.size(FEATURES) > 0))

    return transform


def fit_minhash(cfg: ContentSimilarityConfig, vectors: DataFrame) -> MinHashLSHModel:
    """The seeded MinHash model (fitting reads only the vector size)."""
    lsh = MinHashLSH(inputCol=VECTOR, outputCol=HASHES, numHashTables=cfg.num_hash_tables, seed=cfg.seed)
    return lsh.fit(vectors)


def band_signatures(model: MinHashLSHModel, cfg: ContentSimilarityConfig) -> Callable[[DataFrame], DataFrame]:
    """vectors -> (item_id, category_id, feature_ids, band_keys): one key per band of the signature.

    Persist the result before bucketing: it is the one place the MinHash functions run.
    """
    rows = cfg.hashes_per_band

    def transform(vectors: DataFrame) -> DataFrame:
        hashed = model.transform(vectors).select(
            ITEM_ID,
            CATEGORY_ID,
            F.transform(FEATURES, lambda f: F.xxhash64(f)).alias(FEATURE_IDS),
            F.transform(F.col(HASHES), lambda v: vector_to_array(v)[0].cast("long")).alias("_values"),
        )
        values = F.col("_values")
        # element access, not slice(): slice with a computed start inside a lambda is ~20x slower
        keys = F.transform(
            F.sequence(F.lit(0), F.lit(cfg.bands - 1)),
            lambda band: F.xxhash64(*[values[band * rows + k] for k in range(rows)]),
        )
        return hashed.select(ITEM_ID, CATEGORY_ID, FEATURE_IDS, keys.alias(BAND_KEYS))

    return transform


def jaccard(a: Column, b: Column) -> Column:
    """Exact Jaccard similarity of two distinct-valued arrays."""
    inter = F.size(F.array_intersect(a, b))
    return inter / (F.size(a) + F.size(b) - inter)


def band_buckets(signatures: DataFrame) -> DataFrame:
    """signatures -> (band, band_key, item_id, category_id, feature_ids): one row per item and band."""
    # posexplode_outer: the inner form makes Spark push a size() filter below the persisted
    # projection, re-evaluating the whole signature once per band (band_keys is never empty)
    return signatures.select(ITEM_ID, CATEGORY_ID, FEATURE_IDS, F.posexplode_outer(BAND_KEYS).alias(BAND, BAND_KEY))


def capped_buckets(cfg: ContentSimilarityConfig) -> Callable[[DataFrame], DataFrame]:
    """signatures -> (band, band_key, bucket_size, members): buckets of two or more items, each
    keeping at most `bucket_cap` members (the smallest hashes of item and band)."""

    def transform(signatures: DataFrame) -> DataFrame:
        member = F.struct(
            F.xxhash64(ITEM_ID, BAND).alias(_ORDER),
            F.col(ITEM_ID).alias(_ITEM),
            F.col(CATEGORY_ID).alias(_CATEGORY),
            F.col(FEATURE_IDS).alias(_IDS),
        )
        buckets = (
            band_buckets(signatures)
            .groupBy(BAND, BAND_KEY)
            .agg(F.count(F.lit(1)).alias(BUCKET_SIZE), F.collect_list(member).alias(MEMBERS))
        )
        return buckets.where(F.col(BUCKET_SIZE) > 1).select(
            BAND, BAND_KEY, BUCKET_SIZE, F.slice(F.array_sort(MEMBERS), 1, cfg.bucket_cap).alias(MEMBERS)
        )

    return transform


def candidate_pairs(buckets: DataFrame) -> DataFrame:
    """Capped buckets -> one row per (band, item_a < item_b) of a bucket in different categories,
    with the exact Jaccard of the two feature sets: the LSH candidates, before the threshold.

    Blocked by category: a bucket's members are grouped per category and only groups of two
    different categories are crossed, so same-category members (near-duplicates, often most of a
    hot bucket) cost nothing. Everything stays in the buckets' partitioning: no further shuffle.
    """
    member = F.struct(F.col("_m")[_ITEM].alias(_ITEM), F.col("_m")[_IDS].alias(_IDS))
    group = F.struct(F.col(_CATEGORY), F.col(MEMBERS))
    # explode_outer: the inner form makes Spark push a size() filter that re-sorts every bucket
    groups = (
        buckets.select(BAND, BAND_KEY, F.explode_outer(MEMBERS).alias("_m"))
        .groupBy(BAND, BAND_KEY, F.col("_m")[_CATEGORY].alias(_CATEGORY))
        .agg(F.collect_list(member).alias(MEMBERS))
        .groupBy(BAND, BAND_KEY)
        .agg(F.collect_list(group).alias("_groups"))
        .where(F.size("_groups") > 1)
    )
    later = F.slice("_groups", F.col("_i") + 2, F.size("_groups"))
    crossed = (
        groups.select(BAND, "_groups", F.posexplode("_groups").alias("_i", "_g"))
        .select(BAND, "_g", F.explode(later).alias("_h"))
        .select(
            BAND,
            F.col("_g")[_CATEGORY].alias("_ca"),
            F.col("_h")[_CATEGORY].alias("_cb"),
            F.explode(F.col("_g")[MEMBERS]).alias("_x"),
            F.col("_h")[MEMBERS].alias("_mb"),
        )
        .select(BAND, "_ca", "_cb", "_x", F.explode("_mb").alias("_y"))
    )
    x, y = F.col("_x"), F.col("_y")
    x_first = x[_ITEM] < y[_ITEM]
    return crossed.select(
        BAND,
        F.when(x_first, x[_ITEM]).otherwise(y[_ITEM]).alias(ITEM_A),
        F.when(x_first, y[_ITEM]).otherwise(x[_ITEM]).alias(ITEM_B),
        F.when(x_first, F.col("_ca")).otherwise(F.col("_cb")).alias(CATEGORY_A),
        F.when(x_first, F.col("_cb")).otherwise(F.col("_ca")).alias(CATEGORY_B),
        jaccard(x[_IDS], y[_IDS]).alias(JACCARD),
    )


def similar_pairs(threshold: float) -> Callable[[DataFrame], DataFrame]:
    """LSH candidates -> distinct (item_a < item_b) pairs with Jaccard >= threshold."""

    def transform(candidates: DataFrame) -> DataFrame:
        return (
            candidates.where(F.col(JACCARD) >= threshold)
            .select(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, JACCARD)
            .dropDuplicates([ITEM_A, ITEM_B])
        )

    return transform


def min_hash_signatures(cfg: ContentSimilarityConfig) -> Callable[[DataFrame], DataFrame]:
    """vectors -> band signatures from the seeded MinHash model (persist them: steps 1 to 3 read them)."""

    def transform(vectors: DataFrame) -> DataFrame:
        return vectors.transform(band_signatures(fit_minhash(cfg, vectors), cfg))

    return transform


def lsh_pairs(
    cfg: ContentSimilarityConfig, candidates_seen: Observation | None = None
) -> Callable[[DataFrame], DataFrame]:
    """band signatures -> capped buckets -> cross-category candidates -> pairs at or above the threshold.

    `candidates_seen`, when given, counts the candidates before the Jaccard filter (as "candidates").
    """

    def transform(signatures: DataFrame) -> DataFrame:
        candidates = candidate_pairs(signatures.transform(capped_buckets(cfg)))
        if candidates_seen is not None:
            candidates = candidates.observe(candidates_seen, F.count(F.lit(1)).alias("candidates"))
        return candidates.transform(similar_pairs(cfg.jaccard_threshold))

    return transform


def exact_pairs(threshold: float) -> Callable[[DataFrame], DataFrame]:
    """features -> every cross-category pair (item_a < item_b) with Jaccard >= threshold, by a
    self-join on exploded features: exact, but quadratic in each feature's frequency. The
    reference that LSH recall is measured against."""

    def transform(features: DataFrame) -> DataFrame:
        exploded = features.select(ITEM_ID, CATEGORY_ID, F.size(FEATURES).alias("_n"), F.explode(FEATURES).alias("_f"))
        a = exploded.select(
            F.col(ITEM_ID).alias(ITEM_A), F.col(CATEGORY_ID).alias(CATEGORY_A), F.col("_n").alias("_na"), "_f"
        )
        b = exploded.select(
            F.col(ITEM_ID).alias(ITEM_B), F.col(CATEGORY_ID).alias(CATEGORY_B), F.col("_n").alias("_nb"), "_f"
        )
        shared = (
            a.join(b, "_f")
            .where((F.col(ITEM_A) < F.col(ITEM_B)) & (F.col(CATEGORY_A) != F.col(CATEGORY_B)))
            .groupBy(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, "_na", "_nb")
            .agg(F.count(F.lit(1)).alias("_shared"))
        )
        similarity = F.col("_shared") / (F.col("_na") + F.col("_nb") - F.col("_shared"))
        return shared.select(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, similarity.alias(JACCARD)).where(
            F.col(JACCARD) >= threshold
        )

    return transform
