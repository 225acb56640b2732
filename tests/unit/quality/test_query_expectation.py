"""The gate's query expectation: counted once, beside its suite's other queries, on a screening run; examples
fetched on request."""

from __future__ import annotations

import great_expectations as gx

from crosssell_spark.quality.suites import (
    BATCH_COUNTS_METRIC,
    BATCH_QUERIES,
    GX_DEFAULT_EXAMPLES,
    UNEXPECTED_COUNT_METRIC,
    UNEXPECTED_ROWS_METRIC,
    ExpectQueryToReturnNoRows,
    batch_queries,
    example_count,
)

QUERY = "SELECT * FROM {batch} WHERE quantity < 1"


def metrics_asked(examples: int) -> set[str]:
    expectation = ExpectQueryToReturnNoRows(unexpected_rows_query=QUERY, description="quantity >= 1")
    runtime = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": examples}}
    dependencies = expectation.get_validation_dependencies(runtime_configuration=runtime)
    return set(dependencies.get_metric_names())


def test_a_screening_run_only_counts_and_a_detail_run_also_fetches_rows():
    assert metrics_asked(0) >= {UNEXPECTED_COUNT_METRIC}
    assert UNEXPECTED_ROWS_METRIC not in metrics_asked(0)
    assert {UNEXPECTED_COUNT_METRIC, UNEXPECTED_ROWS_METRIC} <= metrics_asked(5)


def test_the_result_reports_the_count_and_at_most_the_asked_examples():
    expectation = ExpectQueryToReturnNoRows(unexpected_rows_query=QUERY, description="quantity >= 1")
    rows = [{"event_id": f"e{n}", "quantity": 0} for n in range(8)]
    runtime = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": 3}}
    result = expectation._validate({UNEXPECTED_COUNT_METRIC: 8, UNEXPECTED_ROWS_METRIC: rows}, runtime)
    assert result == {"success": False, "result": {"observed_value": 8, "details": {"unexpected_rows": rows[:3]}}}
    clean = expectation._validate({UNEXPECTED_COUNT_METRIC: 0}, {"result_format": {"partial_unexpected_count": 0}})
    assert clean == {"success": True, "result": {"observed_value": 0}}


def test_example_count_reads_every_result_format_shape():
    assert example_count({"result_format": "SUMMARY", "partial_unexpected_count": 0}) == 0
    assert example_count({"result_format": "SUMMARY", "partial_unexpected_count": 7}) == 7
    assert example_count("BOOLEAN_ONLY") == 0
    assert example_count("SUMMARY") == GX_DEFAULT_EXAMPLES


def test_a_suites_queries_are_asked_as_one_metric_when_named_together():
    together = [QUERY, "SELECT * FROM {batch} WHERE price < 0"]
    expectation = ExpectQueryToReturnNoRows(unexpected_rows_query=QUERY, batch_queries=together, description="q")
    runtime = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": 0}}
    dependencies = expectation.get_validation_dependencies(runtime_configuration=runtime)
    assert BATCH_COUNTS_METRIC in dependencies.get_metric_names()
    assert UNEXPECTED_COUNT_METRIC not in dependencies.get_metric_names()
    asked = dependencies.get_metric_configuration(BATCH_COUNTS_METRIC)
    assert asked.metric_value_kwargs[BATCH_QUERIES] == together
    assert expectation._validate({BATCH_COUNTS_METRIC: {QUERY: 2, together[1]: 0}}, runtime)["success"] is False


def test_gx_counts_each_query_of_a_suite_in_one_union_and_reports_each_its_own(spark):
    """Through GX on a Spark batch: every query's own count, from one shared metric."""
    batch = spark.createDataFrame([(1, 1.0), (0, 2.0), (0, -1.0), (3, 4.0)], "quantity int, price double")
    queries = {
        "quantity >= 1": "SELECT * FROM {batch} WHERE quantity < 1",
        "price >= 0": "SELECT * FROM {batch} WHERE price < 0",
        "one row per quantity": "SELECT quantity FROM {batch} GROUP BY quantity HAVING count(*) > 1",
        "not 42": "SELECT * FROM {batch} WHERE quantity = 42",
    }
    expectations = [
        ExpectQueryToReturnNoRows(
            unexpected_rows_query=q, batch_queries={"$PARAMETER": BATCH_QUERIES}, description=name
        )
        for name, q in queries.items()
    ]
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_spark(name="s").add_dataframe_asset(name="a")
    suite = context.suites.add(gx.ExpectationSuite(name="suite", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=asset.add_batch_definition_whole_dataframe("b"), suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": batch},
        expectation_parameters=batch_queries(suite.expectations),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
    )
    found = {r.expectation_config.description: r.result["observed_value"] for r in result.results}
    assert found == {"quantity >= 1": 2, "price >= 0": 1, "one row per quantity": 1, "not 42": 0}
    assert [r.success for r in result.results] == [False, False, False, True]
