"""Every published table: name, schema, partitioning and the Delta CHECK constraints that hold."""

from __future__ import annotations

from crosssell_spark.lakehouse import TableSpec
from crosssell_spark.schemas import (
    CATEGORIES_SCHEMA,
    DQ_RESULTS_SCHEMA,
    EVENT_DATE,
    EVENTS_CLEAN_SCHEMA,
    EVENTS_QUARANTINE_SCHEMA,
    ITEMS_CLEAN_SCHEMA,
    ITEMS_QUARANTINE_SCHEMA,
    RECONCILIATION_SCHEMA,
    TABLE_NAME,
)

EVENTS_CLEAN = TableSpec(
    "events_clean",
    EVENTS_CLEAN_SCHEMA,
    partition_by=(EVENT_DATE,),
    constraints={
        "quantity_positive": "quantity >= 1",
        "price_not_negative": "price IS NULL OR price >= 0",
        "event_date_matches_ts": "event_date = CAST(event_ts AS DATE)",
    },
)
ITEMS_CLEAN = TableSpec(
    "items_clean",
    ITEMS_CLEAN_SCHEMA,
    constraints={
        "price_not_negative": "price IS NULL OR price >= 0",
        "category_depth_positive": "category_depth >= 1",
    },
)
CATEGORIES = TableSpec("categories", CATEGORIES_SCHEMA, constraints={"level_positive": "level >= 1"})
EVENTS_QUARANTINE = TableSpec("events_quarantine", EVENTS_QUARANTINE_SCHEMA)
ITEMS_QUARANTINE = TableSpec("items_quarantine", ITEMS_QUARANTINE_SCHEMA)
RECONCILIATION = TableSpec(
    "reconciliation",
    RECONCILIATION_SCHEMA,
    constraints={"counts_not_negative": "rows_read >= 0 AND rows_clean >= 0 AND rows_quarantined >= 0"},
)
DQ_RESULTS = TableSpec("dq_results", DQ_RESULTS_SCHEMA, partition_by=(TABLE_NAME,))
