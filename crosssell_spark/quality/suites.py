"""Great Expectations suites in code, one per published table.

Every suite starts from the table's schema (ordered columns, NOT NULL columns) and adds the
table's own rules: unique keys, value ranges, referential integrity against the staged or
published tables it points at, row-count sanity against the published version, freshness.
Severity `critical` blocks publishing; `warning` and `info` are reported only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import great_expectations.expectations as gxe
from great_expectations.expectations import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import TableSpec
from crosssell_spark.schemas import (
    CANONICAL_EVENT_TYPES,
    CATEGORY_DEPTH,
    CATEGORY_ID,
    EVENT_ID,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    LEVEL,
    PARENT_ID,
    PRICE,
    QUANTITY,
    REASON,
)
from crosssell_spark.tables import (
    CATEGORIES,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
)

CRITICAL, WARNING = FailureSeverity.CRITICAL, FailureSeverity.WARNING


@dataclass(frozen=True)
class SuiteInputs:
    """What a suite needs besides the staged rows.

    Args:
        views: table name -> SQL name of the copy to check references against (a staged temp
            view while the stage runs, else the published `delta.`path``).
        previous_rows: rows of the published version, None on the first publish.
    """

    config: AppConfig
    now: datetime
    views: dict[str, str] = field(default_factory=dict)
    previous_rows: int | None = None


SuiteBuilder = Callable[[SuiteInputs], list[Expectation]]


def schema_expectations(spec: TableSpec) -> list[Expectation]:
    """Columns in order, and values present in every NOT NULL column."""
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=spec.schema.fieldNames(), severity=CRITICAL),
        *[
            gxe.ExpectColumnValuesToNotBeNull(column=f.name, severity=CRITICAL)
            for f in spec.schema.fields
            if not f.nullable
        ],
    ]


def row_count_expectation(inputs: SuiteInputs) -> list[Expectation]:
    """Rows within ±tolerance of the published version (skipped on the first publish)."""
    if not inputs.previous_rows:
        return []
    tolerance = inputs.config.quality.row_count_tolerance
    return [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=int(inputs.previous_rows * (1 - tolerance)),
            max_value=int(inputs.previous_rows * (1 + tolerance)) + 1,
            severity=FailureSeverity(inputs.config.quality.row_count_severity),
            description=f"row count within ±{tolerance:.0%} of the published {inputs.previous_rows:,}",
        )
    ]


def references(column: str, table: str, key: str, inputs: SuiteInputs, description: str) -> Expectation:
    """Every non-null `column` value exists as `key` in `table` (referential integrity)."""
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=(
            f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN {inputs.views[table]} r "
            f"ON b.{column} = r.{key} WHERE b.{column} IS NOT NULL"
        ),
        description=description,
        severity=CRITICAL,
    )


def events_clean_suite(inputs: SuiteInputs) -> list[Expectation]:
    cleaning = inputs.config.cleaning
    freshest = inputs.now - timedelta(days=inputs.config.quality.max_event_age_days)
    return [
        *schema_expectations(EVENTS_CLEAN),
        gxe.ExpectColumnValuesToBeUnique(column=EVENT_ID, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(
            column=EVENT_TYPE,
            value_set=sorted({*CANONICAL_EVENT_TYPES, *cleaning.event_type_aliases}),
            severity=CRITICAL,
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=QUANTITY, min_value=1, max_value=cleaning.max_quantity, severity=CRITICAL
        ),
        gxe.ExpectColumnValuesToBeBetween(column=PRICE, min_value=0, max_value=cleaning.max_price, severity=CRITICAL),
        gxe.ExpectColumnMaxToBeBetween(
            column=EVENT_TS,
            min_value=freshest,
            severity=FailureSeverity(inputs.config.quality.freshness_severity),
            description=f"freshness: newest event within {inputs.config.quality.max_event_age_days} days",
        ),
        references(ITEM_ID, ITEMS_CLEAN.name, ITEM_ID, inputs, "every event's item is in items_clean"),
        *row_count_expectation(inputs),
    ]


def items_clean_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(ITEMS_CLEAN),
        gxe.ExpectColumnValuesToBeUnique(column=ITEM_ID, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(
            column=PRICE, min_value=0, max_value=inputs.config.cleaning.max_price, severity=CRITICAL
        ),
        gxe.ExpectColumnValuesToBeBetween(column=CATEGORY_DEPTH, min_value=1, severity=CRITICAL),
        references(CATEGORY_ID, CATEGORIES.name, CATEGORY_ID, inputs, "every item's category is in categories"),
        *row_count_expectation(inputs),
    ]


def categories_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(CATEGORIES),
        gxe.ExpectColumnValuesToBeUnique(column=CATEGORY_ID, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=LEVEL, min_value=1, severity=CRITICAL),
        references(PARENT_ID, CATEGORIES.name, CATEGORY_ID, inputs, "every parent category exists"),
    ]


def quarantine_suite(spec: TableSpec) -> SuiteBuilder:
    def build(inputs: SuiteInputs) -> list[Expectation]:
        return [
            *schema_expectations(spec),
            gxe.ExpectColumnValueLengthsToBeBetween(column=REASON, min_value=1, severity=CRITICAL),
        ]

    return build


SUITES: dict[str, SuiteBuilder] = {
    EVENTS_CLEAN.name: events_clean_suite,
    ITEMS_CLEAN.name: items_clean_suite,
    CATEGORIES.name: categories_suite,
    EVENTS_QUARANTINE.name: quarantine_suite(EVENTS_QUARANTINE),
    ITEMS_QUARANTINE.name: quarantine_suite(ITEMS_QUARANTINE),
}
