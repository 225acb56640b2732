"""The candidates stage: published interest and similarity graphs -> item_cross_sell, user_cross_sell."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig, CrossSellConfig, StrategyRules
from crosssell_spark.crosssell import rules
from crosssell_spark.crosssell.candidates import (
    ANCHOR_ITEM,
    allowed_user_categories,
    item_candidates,
    score_item_candidates,
    score_user_candidates,
    user_candidates,
)
from crosssell_spark.crosssell.reasons import explain
from crosssell_spark.crosssell.reports import category_exposure, list_gaps
from crosssell_spark.crosssell.signals import (
    category_names,
    category_shares,
    item_attributes,
    item_popularity,
    purchases_within,
)
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate, quality_summary
from crosssell_spark.run import Run, StageResult
from crosssell_spark.schemas import (
    EVENT_TYPE,
    IS_NEW_CATEGORY,
    ITEM_ID,
    PURCHASE,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    USER_ID,
)
from crosssell_spark.tables import CATEGORY_EXPOSURE, CROSS_SELL_GAPS, ITEM_CROSS_SELL, USER_CROSS_SELL

log = logging.getLogger(__name__)
SERVED_COLUMNS = ("rank", "item_id", "score", "reason", "reason_codes")
WITHHELD = "withheld"


def apply_rules(
    key: str, strategy: StrategyRules, k: int, balance: float, shares: DataFrame, withheld: Observation | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Every strategy rule in a fixed order, then the final ranking to K; `withheld` counts the
    candidates whose crowd (support) is below `min_support` (the minimum-crowd rule)."""

    def observe(df: DataFrame) -> DataFrame:
        below = F.count(F.when(F.col(rules.SUPPORT) < strategy.min_support, 1)).alias(WITHHELD)
        return df if withheld is None else df.observe(withheld, below)

    def transform(scored: DataFrame) -> DataFrame:
        return (
            scored.transform(rules.other_category_only())
            .transform(rules.category_pairs(strategy.allow_pairs, strategy.deny_pairs))
            .transform(rules.price_ceiling(strategy.max_price_ratio))
            .transform(rules.in_stock_only(strategy.in_stock_only))
            .transform(observe)
            .transform(rules.minimum(strategy.min_score, strategy.min_support))
            .transform(rules.balance_categories(balance, shares))
            .transform(
                rules.rank_lists(
                    key, k, strategy.per_category_cap, strategy.min_distinct_categories, strategy.evidence_first
                )
            )
        )

    return transform


def build_user_lists(
    cs: CrossSellConfig,
    allowed: DataFrame,
    events: DataFrame,
    similarity: DataFrame,
    popularity: DataFrame,
    attributes: DataFrame,
    user_factors: DataFrame,
    item_factors: DataFrame,
    shares: DataFrame,
    names: DataFrame,
) -> DataFrame:
    """user_cross_sell rows (without run columns) for the users in `allowed`: candidates, blend,
    owned-item exclusion, strategy rules and reasons. The batch stage and the streaming refresh
    both call this, so a refreshed list is built exactly like a batch one.

    Args:
        allowed: `allowed_user_categories` of the users to list.
        events: events_clean rows of (at least) those users: recent purchases and owned items.
    """
    purchases = events.filter(F.col(EVENT_TYPE) == PURCHASE).select(
        USER_ID, F.col(ITEM_ID).alias(rules.ITEM), "event_ts"
    )
    return (
        user_candidates(allowed, purchases, similarity, popularity, cs.user, cs.item.popular_fallback_items)
        .transform(
            lambda c: score_user_candidates(c, allowed, attributes, popularity, user_factors, item_factors, cs.user)
        )
        .transform(rules.exclude_items(USER_ID, purchases_within(events, cs.rules.exclude_owned_days)))
        .transform(apply_rules(USER_ID, cs.rules, cs.k, cs.balance_strength, shares))
        .transform(lambda ranked: explain(ranked, names))
        .withColumn(IS_NEW_CATEGORY, F.coalesce(F.col(IS_NEW_CATEGORY), F.lit(False)))
    )


def serving_export(lists: DataFrame, key: str) -> DataFrame:
    """One JSON object per key with its ranked items, for a web service to load."""
    ordered = F.array_sort(F.collect_list(F.struct(*SERVED_COLUMNS)))
    return lists.groupBy(key).agg(ordered.alias("items"))


def run_candidates(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Build, rule-shape, explain, audit and publish both cross-sell lists."""
    lake = Lakehouse(spark, config.lakehouse)
    cs, level = config.crosssell, config.categories.cross_level
    events, similarity, affinity = (
        lake.read("events_clean"),
        lake.read("item_similarity"),
        lake.read("category_affinity"),
    )
    item_factors, user_factors = lake.read("item_factors"), lake.read("user_factors")
    attributes = item_attributes(lake.read("items_clean"), level)
    popularity = lake.stage_intermediate("popularity", item_popularity(events, attributes), run.run_id)
    shares, names = category_shares(popularity), category_names(lake.read("categories"))
    with_run = F.lit(run.run_id).alias(RUN_ID)

    anchors = attributes.select(
        F.col(rules.ITEM).alias(ANCHOR_ITEM), F.col(rules.ITEM_CATEGORY).alias(rules.ANCHOR_CATEGORY)
    )
    below_crowd = Observation("item_candidates_below_min_support")
    item_lists = (
        item_candidates(anchors, similarity, affinity, popularity, cs.item)
        .transform(lambda c: score_item_candidates(c, attributes, popularity, affinity, item_factors, cs.item))
        .transform(apply_rules(ANCHOR_ITEM, cs.rules, cs.k, cs.balance_strength, shares, below_crowd))
        .transform(lambda ranked: explain(ranked, names))
    )
    items_staged = lake.stage(ITEM_CROSS_SELL, item_lists.select("*", with_run), run.run_id)

    allowed = allowed_user_categories(lake.read("user_category_interest"), cs.user)
    user_lists = build_user_lists(
        cs, allowed, events, similarity, popularity, attributes, user_factors, item_factors, shares, names
    )
    not_refreshed = (F.lit(None).cast("timestamp").alias(REFRESHED_AT), F.lit(None).cast("long").alias(REFRESH_BATCH))
    users_staged = lake.stage(USER_CROSS_SELL, user_lists.select("*", with_run, *not_refreshed), run.run_id)

    catalogue = attributes.select(rules.ITEM, rules.ITEM_CATEGORY)
    gaps = list_gaps(anchors, items_staged, ANCHOR_ITEM, "item", cs.k).unionByName(
        list_gaps(allowed.select(USER_ID), users_staged, USER_ID, "user", cs.k)
    )
    exposure = category_exposure(items_staged, catalogue, names, "item").unionByName(
        category_exposure(users_staged, catalogue, names, "user")
    )
    gaps_staged = lake.stage(CROSS_SELL_GAPS, gaps.select("*", with_run), run.run_id)
    exposure_staged = lake.stage(CATEGORY_EXPOSURE, exposure.select("*", with_run), run.run_id)

    gate = QualityGate(spark, config, lake, run)
    outcomes = gate.audit({ITEM_CROSS_SELL.name: items_staged, USER_CROSS_SELL.name: users_staged})
    published = {
        spec.name: lake.publish(spec, staged)
        for spec, staged in (
            (ITEM_CROSS_SELL, items_staged),
            (USER_CROSS_SELL, users_staged),
            (CROSS_SELL_GAPS, gaps_staged),
            (CATEGORY_EXPOSURE, exposure_staged),
        )
    }
    exports = {}
    if cs.export_json:
        exports = {
            spec.name: lake.export_json_lines(spec.name, serving_export(lake.read(spec.name), key))
            for spec, key in ((ITEM_CROSS_SELL, ANCHOR_ITEM), (USER_CROSS_SELL, USER_ID))
        }
    gap_counts = {
        f"{r['list_type']}_{r['status']}": r["count"]
        for r in gaps_staged.groupBy("list_type", "status").count().collect()
    }
    lake.drop_staging(run.run_id)
    return StageResult(
        stage="candidates",
        published=published,
        metrics={
            "lists_short_of_k": gap_counts,
            "item_candidates_withheld_by_min_support": int(below_crowd.get[WITHHELD]),
            "exports": exports,
            "quality": quality_summary(outcomes),
        },
    )
