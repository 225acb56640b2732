"""The cleaning stage: raw inputs -> events_clean, items_clean, categories and quarantines."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.cleaning.catalogue import (
    build_categories,
    classify_items,
    clean_items,
    quarantined_items,
)
from crosssell_spark.cleaning.events import IS_DUPLICATE, classify_events, clean_events, quarantined_events
from crosssell_spark.cleaning.reconciliation import Reconciliation, reconciliation_rows
from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate, quality_summary
from crosssell_spark.run import Run, StageFailedError, StageResult
from crosssell_spark.schemas import ITEM_ID, REASON, RUN_ID
from crosssell_spark.sources import load_raw_inputs
from crosssell_spark.tables import (
    CATEGORIES,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
    RECONCILIATION,
)

log = logging.getLogger(__name__)


def _outcome_counts(classified: DataFrame) -> dict[str, int]:
    """Rows per reason in one pass; duplicates under `_duplicate`, clean rows under `_clean`."""
    outcome = F.coalesce(F.col(REASON), F.when(F.col(IS_DUPLICATE), "_duplicate").otherwise("_clean"))
    return {row["outcome"]: int(row["count"]) for row in classified.groupBy(outcome.alias("outcome")).count().collect()}


def _reconcile(
    name: str, rows_read: int, outcomes: dict[str, int], clean: DataFrame, quarantine: DataFrame
) -> Reconciliation:
    check = Reconciliation(
        input_name=name,
        rows_read=rows_read,
        rows_clean=clean.count(),
        rows_quarantined=quarantine.count(),
        rows_duplicate=outcomes.get("_duplicate", 0),
    )
    log.info(check.describe())
    return check


def run_cleaning(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Clean, reconcile and publish; nothing is published unless every input reconciles."""
    lake = Lakehouse(spark, config.lakehouse)
    raw = load_raw_inputs(spark, config)
    with_run = F.lit(run.run_id).alias(RUN_ID)

    items_classified = lake.stage_intermediate(
        "items_classified", raw.items.transform(classify_items(config.cleaning)), run.run_id
    )
    items = lake.stage(ITEMS_CLEAN, clean_items(items_classified), run.run_id)
    items_rejected = lake.stage(ITEMS_QUARANTINE, quarantined_items(items_classified).select("*", with_run), run.run_id)
    categories = lake.stage(CATEGORIES, build_categories(items), run.run_id)

    events_classified = lake.stage_intermediate(
        "events_classified",
        raw.events.transform(classify_events(config.cleaning, items.select(ITEM_ID), run.started_at)),
        run.run_id,
    )
    events = lake.stage(EVENTS_CLEAN, clean_events(events_classified, config.cleaning.session_gap_minutes), run.run_id)
    events_rejected = lake.stage(
        EVENTS_QUARANTINE, quarantined_events(events_classified).select("*", with_run), run.run_id
    )

    item_outcomes, event_outcomes = _outcome_counts(items_classified), _outcome_counts(events_classified)
    checks = [
        _reconcile("items", raw.items.count(), item_outcomes, items, items_rejected),
        _reconcile("events", raw.events.count(), event_outcomes, events, events_rejected),
    ]
    unbalanced = [c.describe() for c in checks if not c.balanced]
    if unbalanced:
        raise StageFailedError("reconciliation failed, nothing published: " + "; ".join(unbalanced))
    gate = QualityGate(spark, config, lake, run)
    outcomes = gate.audit(
        {
            ITEMS_CLEAN.name: items,
            CATEGORIES.name: categories,
            ITEMS_QUARANTINE.name: items_rejected,
            EVENTS_CLEAN.name: events,
            EVENTS_QUARANTINE.name: events_rejected,
        }
    )

    published = {
        spec.name: lake.publish(spec, staged)
        for spec, staged in (
            (ITEMS_CLEAN, items),
            (CATEGORIES, categories),
            (ITEMS_QUARANTINE, items_rejected),
            (EVENTS_CLEAN, events),
            (EVENTS_QUARANTINE, events_rejected),
        )
    }
    published[RECONCILIATION.name] = lake.append(
        RECONCILIATION, reconciliation_rows(spark, checks, run.run_id, run.started_at)
    )
    lake.drop_staging(run.run_id)
    return StageResult(
        stage="clean",
        published=published,
        metrics={
            "reconciliation": [c.describe() for c in checks],
            "events_quarantined_by_reason": {k: v for k, v in event_outcomes.items() if not k.startswith("_")},
            "items_quarantined_by_reason": {k: v for k, v in item_outcomes.items() if not k.startswith("_")},
            "quality": quality_summary(outcomes),
            "data_docs": gate.data_docs_index,
        },
    )
