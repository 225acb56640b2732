"""Behavioural similarity: items (and categories) put in the same basket, with support, confidence, lift.

A basket is one session of one user. Each item in a basket counts with the weight of its strongest
event there (`event_weights`, e.g. cart 1.0, purchase 1.0; unlisted types such as views are
ignored unless given a weight). A basket keeps at most `max_items_per_basket` items, strongest
first, so one giant basket cannot explode the pairs. A pair in a basket counts w_a * w_b. Over all
baskets (B = number of baskets):

    co_weight = sum of pair weights       weight_a = sum of item a's weights
    confidence(a -> b) = co_weight / weight_a        lift = co_weight * B / (weight_a * weight_b)

which with every weight 1 are the textbook basket counts. `co_baskets` and `co_users` count
distinct baskets and users holding both; a pair is published only when `co_users >= min_users`
and `co_baskets >= min_baskets` (the privacy floor); the rest are withheld and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.config import CooccurrenceConfig
from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.schemas import (
    BASKETS_A,
    CATEGORY_A,
    CATEGORY_B,
    CATEGORY_ID,
    CO_BASKETS,
    CO_USERS,
    CONFIDENCE,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    LIFT,
    SESSION_ID,
    USER_ID,
)

if TYPE_CHECKING:
    from crosssell_spark.privacy.dp import PairPrivacy

BASKET = "basket"
WEIGHT = "weight"
KEY, KEY_A, KEY_B = "key", "key_a", "key_b"
CO_WEIGHT = "co_weight"
WEIGHT_A, WEIGHT_B = "weight_a", "weight_b"
BASKETS_B = "baskets_b"
CONFIDENCE_BA = "confidence_ba"
BASKETS_TOTAL = "baskets_total"
RANK_IN_BASKET = "rank_in_basket"
BASKET_SIZE = "basket_size"


def basket_items(cfg: CooccurrenceConfig, items: DataFrame, cross_level: int) -> Callable[[DataFrame], DataFrame]:
    """events_clean -> (basket, user_id, key=item_id, category_id, weight, basket_size, rank_in_basket),
    one row per item and basket; a basket keeps its `max_items_per_basket` strongest (then earliest) items
    and `basket_size` says how many it had."""
    weights = F.create_map(*[F.lit(v) for pair in sorted(cfg.event_weights.items()) for v in pair])
    categories = items.select(ITEM_ID, category_at_level(cross_level).alias(CATEGORY_ID))

    def transform(events: DataFrame) -> DataFrame:
        weighted = events.where(F.col(EVENT_TYPE).isin(*cfg.event_weights)).select(
            F.concat_ws("|", USER_ID, SESSION_ID).alias(BASKET),
            USER_ID,
            ITEM_ID,
            weights[F.col(EVENT_TYPE)].alias(WEIGHT),
            EVENT_TS,
        )
        per_item = weighted.groupBy(BASKET, USER_ID, ITEM_ID).agg(
            F.max(WEIGHT).alias(WEIGHT), F.min(EVENT_TS).alias("_first")
        )
        basket = Window.partitionBy(BASKET)
        strongest = basket.orderBy(F.col(WEIGHT).desc(), F.col("_first"), F.col(ITEM_ID))
        return (
            per_item.join(categories, ITEM_ID)
            .withColumn(BASKET_SIZE, F.count(F.lit(1)).over(basket))
            .withColumn(RANK_IN_BASKET, F.row_number().over(strongest))
            .where(F.col(RANK_IN_BASKET) <= cfg.max_items_per_basket)
            .select(BASKET, USER_ID, F.col(ITEM_ID).alias(KEY), CATEGORY_ID, WEIGHT, BASKET_SIZE, RANK_IN_BASKET)
        )

    return transform


def basket_categories(members: DataFrame) -> DataFrame:
    """Basket items -> (basket, user_id, key=category_id, category_id, weight): the strongest weight per category."""
    return (
        members.groupBy(BASKET, USER_ID, CATEGORY_ID)
        .agg(F.max(WEIGHT).alias(WEIGHT))
        .select(BASKET, USER_ID, F.col(CATEGORY_ID).alias(KEY), CATEGORY_ID, WEIGHT)
    )


def pair_statistics(members: DataFrame, privacy: PairPrivacy | None = None) -> DataFrame:
    """Basket members (basket, user_id, key, category_id, weight) -> one row per pair key_a < key_b
    in different categories with co_baskets, co_users, co_weight, both keys' weights and basket
    counts, confidence both ways and lift. With `privacy` (optional differential privacy, see
    privacy/dp.py) each user's contribution is bounded first and every count is noised before
    anything is derived from it or compared with the floor."""
    if privacy is not None:
        members = privacy.bound(members)
    totals = members.select(F.countDistinct(BASKET).alias(BASKETS_TOTAL))
    per_key = members.groupBy(KEY).agg(F.sum(WEIGHT).alias("_w"), F.countDistinct(BASKET).alias("_baskets"))
    a = members.select(
        BASKET, USER_ID, F.col(KEY).alias(KEY_A), F.col(CATEGORY_ID).alias(CATEGORY_A), F.col(WEIGHT).alias("_wa")
    )
    b = members.select(
        BASKET, F.col(KEY).alias(KEY_B), F.col(CATEGORY_ID).alias(CATEGORY_B), F.col(WEIGHT).alias("_wb")
    )
    pairs = (
        a.join(b, BASKET)
        .where((F.col(KEY_A) < F.col(KEY_B)) & (F.col(CATEGORY_A) != F.col(CATEGORY_B)))
        .groupBy(KEY_A, KEY_B, CATEGORY_A, CATEGORY_B)
        .agg(
            F.count(F.lit(1)).alias(CO_BASKETS),  # one row per basket and key, so rows = baskets
            F.countDistinct(USER_ID).alias(CO_USERS),
            F.sum(F.col("_wa") * F.col("_wb")).alias(CO_WEIGHT),
        )
    )
    if privacy is not None:
        totals, per_key, pairs = privacy.noise_totals(totals), privacy.noise_keys(per_key), privacy.noise_pairs(pairs)
    key_a = per_key.select(F.col(KEY).alias(KEY_A), F.col("_w").alias(WEIGHT_A), F.col("_baskets").alias(BASKETS_A))
    key_b = per_key.select(F.col(KEY).alias(KEY_B), F.col("_w").alias(WEIGHT_B), F.col("_baskets").alias(BASKETS_B))
    stats = (
        pairs.join(key_a, KEY_A)
        .join(key_b, KEY_B)
        .crossJoin(totals)
        .select(
            KEY_A,
            KEY_B,
            CATEGORY_A,
            CATEGORY_B,
            CO_BASKETS,
            CO_USERS,
            CO_WEIGHT,
            BASKETS_A,
            BASKETS_B,
            (F.col(CO_WEIGHT) / F.col(WEIGHT_A)).alias(CONFIDENCE),
            (F.col(CO_WEIGHT) / F.col(WEIGHT_B)).alias(CONFIDENCE_BA),
            (F.col(CO_WEIGHT) * F.col(BASKETS_TOTAL) / (F.col(WEIGHT_A) * F.col(WEIGHT_B))).alias(LIFT),
        )
    )
    return stats if privacy is None else privacy.consistent(stats)


def meets_floor(cfg: CooccurrenceConfig) -> Column:
    """The privacy floor a behavioural pair must meet to be published."""
    return (F.col(CO_USERS) >= cfg.min_users) & (F.col(CO_BASKETS) >= cfg.min_baskets)


def both_directions(pairs: DataFrame) -> DataFrame:
    """Pair statistics (key_a < key_b) -> one row per direction; confidence is directional, the
    other statistics are symmetric."""
    symmetric = [CATEGORY_A, CATEGORY_B, CO_BASKETS, CO_USERS, CO_WEIGHT, LIFT]
    forward = pairs.select(KEY_A, KEY_B, *symmetric, BASKETS_A, CONFIDENCE)
    backward = pairs.select(
        F.col(KEY_B).alias(KEY_A),
        F.col(KEY_A).alias(KEY_B),
        F.col(CATEGORY_B).alias(CATEGORY_A),
        F.col(CATEGORY_A).alias(CATEGORY_B),
        CO_BASKETS,
        CO_USERS,
        CO_WEIGHT,
        LIFT,
        F.col(BASKETS_B).alias(BASKETS_A),
        F.col(CONFIDENCE_BA).alias(CONFIDENCE),
    )
    return forward.unionByName(backward)


def affinity_rows(pairs: DataFrame) -> DataFrame:
    """Published category pair statistics -> category_affinity rows, both directions."""
    return both_directions(pairs).select(
        F.col(KEY_A).alias(CATEGORY_A),
        F.col(KEY_B).alias(CATEGORY_B),
        CO_BASKETS,
        CO_USERS,
        BASKETS_A,
        CONFIDENCE,
        LIFT,
    )
