"""The stages in order (name -> function(spark, config, run)) and running them one by one or all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from crosssell_spark.cleaning import stage as cleaning
from crosssell_spark.config import AppConfig, resolve_root
from crosssell_spark.crosssell import stage as candidates
from crosssell_spark.interest import stage as interest
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.ranking import stage as ranking
from crosssell_spark.run import Run, StageResult, save_stage_record
from crosssell_spark.similarity import stage as similarity

log = logging.getLogger(__name__)

StageFn = Callable[[SparkSession, AppConfig, Run], StageResult]

# Data flows one way; run-all runs these in this order.
STAGES: dict[str, StageFn] = {
    cleaning.STAGE: cleaning.run_cleaning,
    interest.STAGE: interest.run_interest,
    similarity.STAGE: similarity.run_similarity,
    ranking.STAGE: ranking.run_ranker,
    candidates.STAGE: candidates.run_candidates,
}


def run_stage(name: str, spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Run one stage, time it and keep its record for the run report; say so first if any stage's
    last publish never finished."""
    log.info("stage %s: starting (run %s)", name, run.run_id)
    started = time.perf_counter()
    incomplete = [s for s in Lakehouse(spark, config.lakehouse).latest_sets() if not s.complete]
    for s in incomplete:
        log.warning(
            "stage %s: run %s of %s did not finish publishing (%s); %s", name, s.run_id, s.stage, ", ".join(s.versions),
            "this run replaces them" if s.stage == name else "this run reads them as they were before it",
        )  # fmt: skip
    result = STAGES[name](spark, config, run)
    if incomplete:
        result.metrics["incomplete_publishes_found"] = [f"{s.stage} {s.run_id}" for s in incomplete]
    result.seconds = time.perf_counter() - started
    log.info("stage %s: done in %.1f s, published %s", name, result.seconds, result.published)
    save_stage_record(resolve_root(config.lakehouse.root), run, result)
    return result


def run_all(spark: SparkSession, config: AppConfig, run: Run) -> list[StageResult]:
    """Every stage in order; the first failure stops the run (later stages keep their last tables)."""
    return [run_stage(name, spark, config, run) for name in STAGES]


@dataclass(frozen=True)
class TableSummary:
    stage: str
    table: str
    rows: int
    version: int
    path: str


def summarise(lake: Lakehouse, results: list[StageResult]) -> list[TableSummary]:
    """Row count (answered from Delta statistics) and version of every table published."""
    return [
        TableSummary(result.stage, table, lake.read(table, version).count(), version, lake.path(table))
        for result in results
        for table, version in result.published.items()
    ]


def format_summary(results: list[StageResult], tables: list[TableSummary], root: str) -> str:
    """The text `make run` prints at the end."""
    lines = [f"Lakehouse: {root}", "", f"{'table':<24}{'rows':>12}{'version':>9}  stage"]
    lines += [f"{t.table:<24}{t.rows:>12,}{t.version:>9}  {t.stage}" for t in tables]
    lines += ["", f"{'stage':<24}{'seconds':>12}"]
    lines += [f"{r.stage:<24}{r.seconds:>12.1f}" for r in results]
    lines += [f"{'total':<24}{sum(r.seconds for r in results):>12.1f}"]
    for result in results:
        for key, value in result.metrics.items():
            lines.append(f"{result.stage}.{key}: {value}")
    docs = next((str(r.metrics["data_docs"]) for r in reversed(results) if "data_docs" in r.metrics), None)
    lines += ["", "Outputs:", f"  Delta lakehouse:         {root}"]
    lines += [f"  quality Data Docs:       {docs}"] if docs else []
    lines += [f"  quality results table:   {root.rstrip('/')}/dq_results"]
    return "\n".join(lines)
