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
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider
from great_expectations.validator.metric_configuration import MetricConfiguration

from crosssell_spark.config import AppConfig, resolve_root
from crosssell_spark.schemas import (
    CANONICAL_EVENT_TYPES,
    CATEGORY_A,
    CATEGORY_B,
    CATEGORY_DEPTH,
    CATEGORY_ID,
    CO_USERS,
    CONFIDENCE,
    EMBEDDING,
    EMBEDDING_MODEL,
    EVENT_ID,
    EVENT_TS,
    EVENT_TYPE,
    FACTOR_SOURCE,
    FACTOR_SOURCES,
    FEATURES,
    HISTORY_ITEMS,
    HISTORY_USERS,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_NEW_CATEGORY,
    ITEM_A,
    ITEM_B,
    ITEM_ID,
    ITEM_IDX,
    JACCARD,
    LEVEL,
    LIFT,
    OBSERVED_SHARE,
    PARENT_ID,
    PRICE,
    QUANTITY,
    RANK,
    REASON,
    SCORE_SOURCE,
    SCORE_SOURCES,
    SEMANTIC,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.tables import (
    CATEGORIES,
    CATEGORY_AFFINITY,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEM_CROSS_SELL,
    ITEM_EMBEDDINGS,
    ITEM_FACTORS,
    ITEM_ID_MAP,
    ITEM_SIMILARITY,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
    USER_CATEGORY_INTEREST,
    USER_CROSS_SELL,
    USER_FACTORS,
    USER_ID_MAP,
    TableSpec,
)

CRITICAL, WARNING = FailureSeverity.CRITICAL, FailureSeverity.WARNING
UNEXPECTED_ROWS_METRIC = "unexpected_rows_query.table"
UNEXPECTED_COUNT_METRIC = "unexpected_rows_query.row_count"
BATCH_COUNTS_METRIC = "crosssell.batch_query_counts"
BATCH_QUERIES = "batch_queries"  # the suite parameter `batch_queries()` fills at validation time
GX_DEFAULT_EXAMPLES = 20  # GX's partial_unexpected_count when a result format does not set one


def example_count(result_format: dict[str, Any] | str | None) -> int:
    """How many example rows a result format asks for (0: counts only)."""
    if isinstance(result_format, dict):
        return int(result_format.get("partial_unexpected_count", GX_DEFAULT_EXAMPLES) or 0)
    return 0 if result_format == "BOOLEAN_ONLY" else GX_DEFAULT_EXAMPLES


class BatchQueryCounts(QueryMetricProvider):
    """Rows each of several `{batch}` queries returns, counted in one Spark job (a UNION ALL of
    counts): a suite's checks on a small table cost one job's overhead instead of one each."""

    metric_name = BATCH_COUNTS_METRIC
    value_keys = (BATCH_QUERIES,)

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(
        cls,  # noqa: N805 (GX registers the metric function as a classmethod)
        execution_engine: SparkDFExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> dict[str, int]:
        df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        df.createOrReplaceTempView("tmp_view")  # the batch's name in GX's own query metrics
        queries = list(metric_value_kwargs[BATCH_QUERIES])
        union = " UNION ALL ".join(
            f"SELECT {i} AS query, count(*) AS found FROM ({cls._format_query(q, batch='tmp_view')})"
            for i, q in enumerate(queries)
        )
        found = {int(r["query"]): int(r["found"]) for r in execution_engine.spark.sql(union).collect()}
        return {q: found[i] for i, q in enumerate(queries)}


class ExpectQueryToReturnNoRows(gxe.UnexpectedRowsExpectation):
    """GX's UnexpectedRowsExpectation, with its query counted once, beside the suite's other queries
    (`batch_queries`), and its rows fetched only when examples are asked for.

    The GX class runs the query twice, a count and a fetch of up to 200 rows, on every validation,
    and reports the rows only in COMPLETE format. On a clean 10M-row table each run is a full scan
    (or join) that finds nothing. This one is counted by `BatchQueryCounts` together with every
    query in `batch_queries` (a suite parameter, so the stored suite names it once), and fetches
    rows only when the result format asks for examples (`partial_unexpected_count` > 0); it then
    reports them in any format. Without `batch_queries` it is counted alone.
    """

    batch_queries: list[str] | SuiteParameterDict | None = None

    def get_validation_dependencies(
        self, execution_engine: Any = None, runtime_configuration: dict | None = None
    ) -> Any:
        dependencies = super().get_validation_dependencies(execution_engine, runtime_configuration)
        if not example_count(self._get_result_format(runtime_configuration)):
            dependencies.remove_metric_configuration(UNEXPECTED_ROWS_METRIC)
        together, alone = self.batch_queries, dependencies.get_metric_configuration(UNEXPECTED_COUNT_METRIC)
        if isinstance(together, list) and self.unexpected_rows_query in together and alone is not None:
            dependencies.remove_metric_configuration(UNEXPECTED_COUNT_METRIC)
            dependencies.set_metric_configuration(
                BATCH_COUNTS_METRIC,
                MetricConfiguration(BATCH_COUNTS_METRIC, alone.metric_domain_kwargs, {BATCH_QUERIES: together}),
            )
        return dependencies

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        together = metrics.get(BATCH_COUNTS_METRIC)
        count = together[self.unexpected_rows_query] if together is not None else metrics[UNEXPECTED_COUNT_METRIC]
        result: dict[str, Any] = {"observed_value": count}
        rows = metrics.get(UNEXPECTED_ROWS_METRIC)
        if rows:
            wanted = example_count(self._get_result_format(runtime_configuration))
            result["details"] = {"unexpected_rows": rows[:wanted]}
        return {"success": count == 0, "result": result}


def batch_queries(expectations: list[Expectation]) -> dict[str, list[str]]:
    """The suite parameters that count a suite's `{batch}` queries together (`BatchQueryCounts`)."""
    return {
        BATCH_QUERIES: [str(e.unexpected_rows_query) for e in expectations if isinstance(e, ExpectQueryToReturnNoRows)]
    }


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


def _unexpected(query: str, description: str) -> Expectation:
    return ExpectQueryToReturnNoRows(
        unexpected_rows_query=query,
        batch_queries={"$PARAMETER": BATCH_QUERIES},
        description=description,
        severity=CRITICAL,
    )


def references(column: str, table: str, key: str, inputs: SuiteInputs, description: str) -> Expectation:
    """Every non-null `column` value exists as `key` in `table` (referential integrity)."""
    return _unexpected(
        f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN {inputs.views[table]} r "
        f"ON b.{column} = r.{key} WHERE b.{column} IS NOT NULL",
        description,
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


def _unique_pairs(a: str, b: str) -> Expectation:
    # a GROUP BY query, not ExpectCompoundColumnsToBeUnique: on Spark that expectation's query puts
    # a window function inside WHERE, which Spark rejects; every audit then logged that ERROR
    # (from Spark's listener bus) although the expectation itself came out right
    return _unexpected(
        f"SELECT {a}, {b}, count(*) AS copies FROM {{batch}} GROUP BY {a}, {b} HAVING count(*) > 1",
        f"one row per ({a}, {b})",
    )


def _category_matches(item: str, category: str, inputs: SuiteInputs) -> Expectation:
    """The pair's category column is the item's category at categories.cross_level in items_clean."""
    level = inputs.config.categories.cross_level
    return _unexpected(
        f"SELECT b.* FROM {{batch}} b JOIN {inputs.views[ITEMS_CLEAN.name]} i ON b.{item} = i.{ITEM_ID} "
        f"WHERE b.{category} <> element_at(i.category_ids, least({level}, size(i.category_ids)))",
        f"{category} is {item}'s category at level {level}",
    )


def item_similarity_suite(inputs: SuiteInputs) -> list[Expectation]:
    sim = inputs.config.similarity
    return [
        *schema_expectations(ITEM_SIMILARITY),
        _unique_pairs(ITEM_A, ITEM_B),
        gxe.ExpectColumnValuesToBeBetween(
            column=JACCARD, min_value=sim.content.jaccard_threshold, max_value=1, severity=CRITICAL
        ),
        gxe.ExpectColumnValuesToBeBetween(column=CO_USERS, min_value=sim.cooccurrence.min_users, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=CONFIDENCE, min_value=0, max_value=1, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=LIFT, min_value=0, strict_min=True, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(
            column=SEMANTIC, min_value=sim.semantic.min_cosine, max_value=1, severity=CRITICAL
        ),
        gxe.ExpectColumnValuesToBeBetween(column=RANK, min_value=1, max_value=3 * sim.top_n, severity=CRITICAL),
        _unexpected(
            f"SELECT * FROM {{batch}} WHERE {CATEGORY_A} = {CATEGORY_B} OR {ITEM_A} = {ITEM_B}",
            "no same-category (or same-item) pairs",
        ),
        references(ITEM_A, ITEMS_CLEAN.name, ITEM_ID, inputs, "every item_a is in items_clean"),
        references(ITEM_B, ITEMS_CLEAN.name, ITEM_ID, inputs, "every item_b is in items_clean"),
        _category_matches(ITEM_A, CATEGORY_A, inputs),
        _category_matches(ITEM_B, CATEGORY_B, inputs),
        *row_count_expectation(inputs),
    ]


def category_affinity_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(CATEGORY_AFFINITY),
        _unique_pairs(CATEGORY_A, CATEGORY_B),
        gxe.ExpectColumnValuesToBeBetween(
            column=CO_USERS, min_value=inputs.config.similarity.cooccurrence.min_users, severity=CRITICAL
        ),
        gxe.ExpectColumnValuesToBeBetween(column=CONFIDENCE, min_value=0, max_value=1, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=LIFT, min_value=0, strict_min=True, severity=CRITICAL),
        _unexpected(f"SELECT * FROM {{batch}} WHERE {CATEGORY_A} = {CATEGORY_B}", "no same-category pairs"),
        references(CATEGORY_A, CATEGORIES.name, CATEGORY_ID, inputs, "every category_a is in categories"),
        references(CATEGORY_B, CATEGORIES.name, CATEGORY_ID, inputs, "every category_b is in categories"),
        *row_count_expectation(inputs),
    ]


def item_embeddings_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(ITEM_EMBEDDINGS),
        gxe.ExpectColumnValuesToBeUnique(column=ITEM_ID, severity=CRITICAL),
        _unexpected(
            f"SELECT count(DISTINCT {EMBEDDING_MODEL}) AS models FROM {{batch}} "
            f"HAVING count(DISTINCT {EMBEDDING_MODEL}) > 1",
            "every embedding from one model (cosines across models mean nothing)",
        ),
        _vectors_valid(EMBEDDING),
        _unexpected(
            f"SELECT * FROM {{batch}} WHERE abs(sqrt(aggregate({EMBEDDING}, 0D, (acc, x) -> acc + x * x)) - 1) > 1e-3",
            "every embedding has unit length (cosine = dot product)",
        ),
        references(ITEM_ID, ITEMS_CLEAN.name, ITEM_ID, inputs, "every item is in items_clean"),
        *row_count_expectation(inputs),
    ]


SUITES.update(
    {
        ITEM_SIMILARITY.name: item_similarity_suite,
        CATEGORY_AFFINITY.name: category_affinity_suite,
        ITEM_EMBEDDINGS.name: item_embeddings_suite,
    }
)


# --- user interest ------------------------------------------------------------------------------


def _published(spec: TableSpec, inputs: SuiteInputs) -> str:
    """SQL name of the published table itself (the staged copy is {batch})."""
    return f"delta.`{resolve_root(inputs.config.lakehouse.root)}/{spec.name}`"


def id_map_suite(spec: TableSpec, key: str, idx: str) -> SuiteBuilder:
    """Keys and ids unique, ids exactly 1..n, and every published (key, id) pair kept as it was."""

    def build(inputs: SuiteInputs) -> list[Expectation]:
        kept = []
        if inputs.previous_rows is not None:
            kept = [
                _unexpected(
                    f"SELECT p.* FROM {_published(spec, inputs)} p LEFT ANTI JOIN {{batch}} b "
                    f"ON p.{key} = b.{key} AND p.{idx} = b.{idx}",
                    f"every published {key} keeps its {idx} (ids are never renumbered)",
                )
            ]
        return [
            *schema_expectations(spec),
            gxe.ExpectColumnValuesToBeUnique(column=key, severity=CRITICAL),
            gxe.ExpectColumnValuesToBeUnique(column=idx, severity=CRITICAL),
            _unexpected(
                f"SELECT count(*) AS n, min({idx}) AS lo, max({idx}) AS hi FROM {{batch}} "
                f"HAVING count(*) > 0 AND (min({idx}) <> 1 OR max({idx}) <> count(*))",
                f"{idx} runs 1..n without gaps",
            ),
            *kept,
        ]

    return build


def _vectors_valid(column: str = FEATURES) -> Expectation:
    return _unexpected(
        f"SELECT * FROM {{batch}} WHERE size({column}) <> (SELECT max(size({column})) FROM {{batch}}) "
        f"OR exists({column}, x -> x IS NULL OR isnan(x) OR abs(x) = double('Infinity'))",
        f"{column} vectors all of one length, every value finite",
    )


def _same_ids(key: str, idx: str, map_view: str, description: str) -> Expectation:
    return _unexpected(
        f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN {map_view} m ON b.{key} = m.{key} AND b.{idx} = m.{idx}",
        description,
    )


def user_factors_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(USER_FACTORS),
        gxe.ExpectColumnValuesToBeUnique(column=USER_ID, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=HISTORY_ITEMS, min_value=1, severity=CRITICAL),
        _vectors_valid(),
        _same_ids(USER_ID, USER_IDX, inputs.views[USER_ID_MAP.name], "every user and id as in user_id_map"),
        *row_count_expectation(inputs),
    ]


def item_factors_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(ITEM_FACTORS),
        gxe.ExpectColumnValuesToBeUnique(column=ITEM_ID, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(column=FACTOR_SOURCE, value_set=list(FACTOR_SOURCES), severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=HISTORY_USERS, min_value=0, severity=CRITICAL),
        _vectors_valid(),
        _same_ids(ITEM_ID, ITEM_IDX, inputs.views[ITEM_ID_MAP.name], "every item and id as in item_id_map"),
        references(ITEM_ID, ITEMS_CLEAN.name, ITEM_ID, inputs, "every item is in items_clean"),
        *row_count_expectation(inputs),
    ]


def user_category_interest_suite(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *schema_expectations(USER_CATEGORY_INTEREST),
        _unique_pairs(USER_ID, CATEGORY_ID),
        gxe.ExpectColumnValuesToBeBetween(column=INTEREST_SCORE, min_value=0, max_value=1, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column=OBSERVED_SHARE, min_value=0, max_value=1, severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(column=SCORE_SOURCE, value_set=list(SCORE_SOURCES), severity=CRITICAL),
        _unexpected(
            f"SELECT * FROM {{batch}} WHERE isnan({INTEREST_SCORE}) OR isnan({OBSERVED_SHARE})", "no NaN scores"
        ),
        _unexpected(
            f"SELECT {USER_ID}, count(*) AS n, min({INTEREST_RANK}) AS lo, max({INTEREST_RANK}) AS hi "
            f"FROM {{batch}} GROUP BY {USER_ID} "
            f"HAVING min({INTEREST_RANK}) <> 1 OR max({INTEREST_RANK}) <> count(*) "
            f"OR count(DISTINCT {INTEREST_RANK}) <> count(*)",
            "ranks run 1..n per user",
        ),
        _unexpected(
            f"SELECT * FROM (SELECT *, lag({INTEREST_SCORE}) OVER (PARTITION BY {USER_ID} ORDER BY {INTEREST_RANK}) "
            f"AS better FROM {{batch}}) WHERE better < {INTEREST_SCORE}",
            "a better rank never has a lower score",
        ),
        _unexpected(
            f"SELECT {USER_ID}, count(*) AS n FROM {{batch}} GROUP BY {USER_ID} "
            f"HAVING count(*) <> (SELECT max(c) FROM (SELECT count(*) AS c FROM {{batch}} GROUP BY {USER_ID}))",
            "every user is scored on the same categories (all, or the top n)",
        ),
        _unexpected(
            f"SELECT * FROM {{batch}} WHERE {IS_NEW_CATEGORY} <> ({OBSERVED_SHARE} = 0)",
            "is_new_category exactly where the user has no interactions",
        ),
        references(USER_ID, USER_FACTORS.name, USER_ID, inputs, "every user has factors"),
        references(CATEGORY_ID, CATEGORIES.name, CATEGORY_ID, inputs, "every category is in categories"),
        *row_count_expectation(inputs),
    ]


SUITES.update(
    {
        USER_ID_MAP.name: id_map_suite(USER_ID_MAP, USER_ID, USER_IDX),
        ITEM_ID_MAP.name: id_map_suite(ITEM_ID_MAP, ITEM_ID, ITEM_IDX),
        USER_FACTORS.name: user_factors_suite,
        ITEM_FACTORS.name: item_factors_suite,
        USER_CATEGORY_INTEREST.name: user_category_interest_suite,
    }
)


# --- cross-sell lists ---------------------------------------------------------------------------


def cross_sell_suite(spec: TableSpec, key: str) -> SuiteBuilder:
    """Ranks 1..n contiguous per list, one row per (key, item), items exist, scores sane."""

    def build(inputs: SuiteInputs) -> list[Expectation]:
        k = inputs.config.crosssell.k
        return [
            *schema_expectations(spec),
            _unique_pairs(key, "item_id"),
            _unique_pairs(key, "rank"),
            gxe.ExpectColumnValuesToBeBetween(column="rank", min_value=1, max_value=k, severity=CRITICAL),
            gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0, severity=CRITICAL),
            _unexpected(
                f"SELECT {key} FROM {{batch}} GROUP BY {key} HAVING min(rank) <> 1 OR max(rank) <> count(*)",
                "ranks are 1..n contiguous per list",
            ),
            _unexpected("SELECT * FROM {batch} WHERE size(reason_codes) = 0 OR reason = ''", "every row has a reason"),
            references("item_id", ITEMS_CLEAN.name, ITEM_ID, inputs, "every recommended item is in items_clean"),
            *row_count_expectation(inputs),
        ]

    return build


def item_cross_sell_suite(inputs: SuiteInputs) -> list[Expectation]:
    level = inputs.config.categories.cross_level
    items = inputs.views[ITEMS_CLEAN.name]
    at_level = "element_at({t}.category_ids, least({level}, size({t}.category_ids)))"
    return [
        *cross_sell_suite(ITEM_CROSS_SELL, "anchor_item_id")(inputs),
        _unexpected(
            f"SELECT b.* FROM {{batch}} b JOIN {items} i ON b.item_id = i.item_id "
            f"JOIN {items} a ON b.anchor_item_id = a.item_id "
            f"WHERE {at_level.format(t='i', level=level)} = {at_level.format(t='a', level=level)}",
            f"recommended item's category differs from the anchor's at level {level}",
        ),
        _unexpected("SELECT * FROM {batch} WHERE item_id = anchor_item_id", "an anchor never recommends itself"),
    ]


def user_cross_sell_suite(inputs: SuiteInputs) -> list[Expectation]:
    days = inputs.config.crosssell.rules.exclude_owned_days
    events = inputs.views[EVENTS_CLEAN.name]
    window = (
        f"AND e.event_ts >= (SELECT max(event_ts) FROM {events} WHERE event_type = 'purchase') - INTERVAL {days} DAYS"
        if days
        else ""
    )
    return [
        *cross_sell_suite(USER_CROSS_SELL, "user_id")(inputs),
        _unexpected(
            f"SELECT b.* FROM {{batch}} b JOIN {events} e ON b.user_id = e.user_id AND b.item_id = e.item_id "
            f"WHERE e.event_type = 'purchase' {window}",
            "no user is recommended an item they already bought",
        ),
    ]


SUITES.update({ITEM_CROSS_SELL.name: item_cross_sell_suite, USER_CROSS_SELL.name: user_cross_sell_suite})
