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
from crosssell_spark.cleaning.events import classify_events, clean_events, quarantined_events
from crosssell_spark.cleaning.incremental import attribute_to_day, day_slice, session_prefix
from crosssell_spark.cleaning.reconciliation import (
    DUPLICATE_OUTCOME,
    Reconciliation,
    outcome_counts,
    reconciliation_rows,
)
from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.privacy.pseudonym import pseudonymise_ids
from crosssell_spark.quality.gate import QualityGate, quality_summary
from crosssell_spark.quality.publish import publish_audited
from crosssell_spark.run import Run, StageFailedError, StageResult
from crosssell_spark.schemas import EVENT_DATE, ITEM_ID, RUN_DATE, RUN_ID
from crosssell_spark.sources import load_raw_inputs
from crosssell_spark.sources.contract import InputError
from crosssell_spark.tables import (
    CATEGORIES,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
    RECONCILIATION,
    TableSpec,
)

log = logging.getLogger(__name__)
STAGE = "clean"


def _reconcile(
    name: str, rows_read: int, outcomes: dict[str, int], clean: DataFrame, quarantine: DataFrame
) -> Reconciliation:
    check = Reconciliation(
        input_name=name,
        rows_read=rows_read,
        rows_clean=clean.count(),
        rows_quarantined=quarantine.count(),
        rows_duplicate=outcomes.get(DUPLICATE_OUTCOME, 0),
    )
    log.info(check.describe())
    return check


def run_cleaning(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Clean, reconcile and publish; nothing is published unless every input reconciles.

    With `run.run_date` (a daily run) only that day's raw events are read and only that day's
    slice of events_clean and events_quarantine is replaced (see `cleaning.incremental`); the
    published catalogue is reused unless `cleaning.daily_catalogue` is `refresh` or there is none.
    """
    lake = Lakehouse(spark, config.lakehouse)
    day = run.run_date
    try:
        raw = load_raw_inputs(spark, config, day)
    except InputError:
        raise  # the input is not there as configured: the CLI says which, exit code 3
    except ValueError as err:
        raise StageFailedError(str(err)) from err
    with_run = F.lit(run.run_id).alias(RUN_ID)

    checks: list[Reconciliation] = []
    catalogue: list[tuple[TableSpec, DataFrame]] = []  # catalogue tables to audit and publish
    item_outcomes: dict[str, int] = {}
    if day is not None and config.cleaning.daily_catalogue == "reuse" and lake.exists(ITEMS_CLEAN.name):
        items = lake.read(ITEMS_CLEAN.name)
    else:
        items_classified = lake.stage_intermediate(
            "items_classified", raw.items.transform(classify_items(config.cleaning)), run.run_id
        )
        items = lake.stage(ITEMS_CLEAN, clean_items(items_classified), run.run_id)
        items_rejected = lake.stage(
            ITEMS_QUARANTINE, quarantined_items(items_classified).select("*", with_run), run.run_id
        )
        catalogue = [
            (ITEMS_CLEAN, items),
            (CATEGORIES, lake.stage(CATEGORIES, build_categories(items), run.run_id)),
            (ITEMS_QUARANTINE, items_rejected),
        ]
        item_outcomes = outcome_counts(items_classified)
        checks.append(_reconcile("items", raw.items.count(), item_outcomes, items, items_rejected))

    classified = raw.events.transform(pseudonymise_ids(config.privacy)).transform(  # before anything is written
        classify_events(config.cleaning, items.select(ITEM_ID), run.started_at)
    )
    slices: dict[str, str] = {}
    if day is not None:
        history = lake.read(EVENTS_CLEAN.name) if lake.exists(EVENTS_CLEAN.name) else None
        classified = classified.transform(attribute_to_day(day, history, config.cleaning.near_duplicate_window_seconds))
        slices = {EVENTS_CLEAN.name: day_slice(EVENT_DATE, day), EVENTS_QUARANTINE.name: day_slice(RUN_DATE, day)}
    events_classified = lake.stage_intermediate("events_classified", classified, run.run_id)
    gap = config.cleaning.session_gap_minutes
    if day is None:
        clean = clean_events(events_classified, gap)
    else:
        clean = clean_events(events_classified, gap, session_prefix(day))
    events = lake.stage(EVENTS_CLEAN, clean, run.run_id)
    events_rejected = lake.stage(
        EVENTS_QUARANTINE,
        quarantined_events(events_classified).select("*", with_run, F.lit(day).cast("date").alias(RUN_DATE)),
        run.run_id,
    )

    event_outcomes = outcome_counts(events_classified)
    checks.append(_reconcile("events", raw.events.count(), event_outcomes, events, events_rejected))
    unbalanced = [c.describe() for c in checks if not c.balanced]
    if unbalanced:
        raise StageFailedError("reconciliation failed, nothing published: " + "; ".join(unbalanced))
    gate = QualityGate(spark, config, lake, run)
    to_publish = [*catalogue, (EVENTS_CLEAN, events), (EVENTS_QUARANTINE, events_rejected)]
    reconciled = reconciliation_rows(spark, checks, run.run_id, run.started_at, day)
    done = publish_audited(gate, to_publish, stage=STAGE, slices=slices, appends=[(RECONCILIATION, reconciled)])
    return StageResult(
        stage=STAGE,
        published=done.versions,
        metrics={
            "reconciliation": [c.describe() for c in checks],
            "events_quarantined_by_reason": {k: v for k, v in event_outcomes.items() if not k.startswith("_")},
            "items_quarantined_by_reason": {k: v for k, v in item_outcomes.items() if not k.startswith("_")},
            "quality": quality_summary(done.outcomes),
            "data_docs": gate.data_docs_index,
            **({"run_date": day.isoformat()} if day else {}),
        },
    )
