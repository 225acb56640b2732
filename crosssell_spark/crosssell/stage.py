"""The candidates stage: published interest and similarity graphs -> item_cross_sell, user_cross_sell."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.crosssell.build import build_item_lists, build_user_lists, list_inputs, list_rows
from crosssell_spark.crosssell.candidates import (
    allowed_user_categories,
)
from crosssell_spark.crosssell.exports import export_lists
from crosssell_spark.crosssell.lists import WITHHELD
from crosssell_spark.crosssell.reports import category_exposure, list_gaps
from crosssell_spark.crosssell.signals import (
    category_names,
    item_attributes,
    item_popularity,
)
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate, quality_summary
from crosssell_spark.quality.publish import publish_audited
from crosssell_spark.run import Run, StageResult
from crosssell_spark.schemas import (
    AFFINITY,
    ANCHOR_ITEM_ID,
    ITEM_CATEGORY,
    ITEM_ID,
    POPULAR,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    SOURCE_NAME,
    USER_ID,
)
from crosssell_spark.tables import (
    CATEGORIES,
    CATEGORY_AFFINITY,
    CATEGORY_EXPOSURE,
    CROSS_SELL_GAPS,
    EVENTS_CLEAN,
    ITEM_CROSS_SELL,
    ITEMS_CLEAN,
    USER_CATEGORY_INTEREST,
    USER_CROSS_SELL,
    USER_FACTORS,
)

log = logging.getLogger(__name__)
STAGE = "candidates"


def run_candidates(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Build, rule-shape, explain, audit and publish both cross-sell lists."""
    lake = Lakehouse(spark, config.lakehouse)
    cs, level = config.crosssell, config.categories.cross_level
    events, affinity = lake.read(EVENTS_CLEAN.name), lake.read(CATEGORY_AFFINITY.name)
    attributes = item_attributes(lake.read(ITEMS_CLEAN.name), level)
    popularity = lake.stage_intermediate(
        "popularity", item_popularity(events, attributes, config.similarity.cooccurrence.basket_types), run.run_id
    )
    inputs = list_inputs(spark, lake, config, popularity, attributes)
    with_run = F.lit(run.run_id).alias(RUN_ID)

    finished = build_item_lists(cs, inputs, affinity).persist()  # the lists, then the withheld counts
    items_staged = lake.stage(ITEM_CROSS_SELL, list_rows(finished, ANCHOR_ITEM_ID).select("*", with_run), run.run_id)
    withheld = finished.agg(F.sum(WITHHELD)).first()
    sources = {r[SOURCE_NAME]: int(r["count"]) for r in items_staged.groupBy(SOURCE_NAME).count().collect()}
    finished.unpersist()

    allowed = allowed_user_categories(lake.read(USER_CATEGORY_INTEREST.name), cs.user)
    user_lists = build_user_lists(cs, inputs, allowed, events, lake.read(USER_FACTORS.name))
    not_refreshed = (F.lit(None).cast("timestamp").alias(REFRESHED_AT), F.lit(None).cast("long").alias(REFRESH_BATCH))
    users_staged = lake.stage(USER_CROSS_SELL, user_lists.select("*", with_run, *not_refreshed), run.run_id)
    anchors = attributes.select(F.col(ITEM_ID).alias(ANCHOR_ITEM_ID))

    catalogue = attributes.select(ITEM_ID, ITEM_CATEGORY)
    gaps = list_gaps(anchors, items_staged, ANCHOR_ITEM_ID, "item", cs.k).unionByName(
        list_gaps(allowed.select(USER_ID), users_staged, USER_ID, "user", cs.k)
    )
    names_df = category_names(lake.read(CATEGORIES.name))
    exposure = category_exposure(items_staged, catalogue, names_df, "item").unionByName(
        category_exposure(users_staged, catalogue, names_df, "user")
    )
    gaps_staged = lake.stage(CROSS_SELL_GAPS, gaps.select("*", with_run), run.run_id)
    exposure_staged = lake.stage(CATEGORY_EXPOSURE, exposure.select("*", with_run), run.run_id)

    gap_counts = {
        f"{r['list_type']}_{r['status']}": r["count"]
        for r in gaps_staged.groupBy("list_type", "status").count().collect()
    }
    lists = (ITEM_CROSS_SELL, items_staged), (USER_CROSS_SELL, users_staged)
    reports = (CROSS_SELL_GAPS, gaps_staged), (CATEGORY_EXPOSURE, exposure_staged)
    gate = QualityGate(spark, config, lake, run)
    done = publish_audited(gate, [*lists, *reports], stage=STAGE, audited=[spec.name for spec, _ in lists])
    exports = export_lists(lake, run.run_id, STAGE).tables if cs.export_json else {}
    return StageResult(
        stage=STAGE,
        published=done.versions,
        metrics={
            "lists_short_of_k": gap_counts,
            "item_candidates_withheld_by_min_support": int((withheld[0] if withheld else None) or 0),
            "item_slots_by_source": sources,
            # slots chosen by popularity alone: globally popular, or popular in an affine category
            "item_slots_popularity_only_share": round(
                sum(n for s, n in sources.items() if s in (POPULAR, AFFINITY)) / max(sum(sources.values()), 1), 4
            ),
            "exports": exports,
            "quality": quality_summary(done.outcomes),
        },
    )
