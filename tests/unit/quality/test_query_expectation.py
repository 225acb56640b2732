"""The gate's query expectation runs its query once on a screening run, and fetches examples on request."""

from __future__ import annotations

from crosssell_spark.quality.suites import (
    GX_DEFAULT_EXAMPLES,
    UNEXPECTED_COUNT_METRIC,
    UNEXPECTED_ROWS_METRIC,
    ExpectQueryToReturnNoRows,
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
