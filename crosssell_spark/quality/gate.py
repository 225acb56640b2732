"""The quality gate: validate staged tables with Great Expectations before anything is published.

Results of every expectation go to the `dq_results` Delta table and to GX Data Docs (HTML).
A failed `critical` expectation stops the stage with a summary naming table, expectation,
unexpected count and examples; the published tables stay at their previous version.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.data_context import data_context_variables
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import AppConfig, resolve_root
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.suites import SUITES, SuiteInputs, batch_queries
from crosssell_spark.run import Run, StageFailedError
from crosssell_spark.schemas import DQ_RESULTS_SCHEMA
from crosssell_spark.tables import DQ_RESULTS

log = logging.getLogger(__name__)
DATASOURCE = "crosssell_staged"
logging.getLogger("great_expectations").setLevel(logging.WARNING)
# this GX module names its logger by its file path, outside the "great_expectations" tree; its INFO
# lines ("Stashing `FluentDatasource` ...") are GX housekeeping on every context save
logging.getLogger(data_context_variables.__file__).setLevel(logging.WARNING)


@dataclass(frozen=True)
class ExpectationOutcome:
    table: str
    expectation: str
    column: str | None
    description: str | None
    severity: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: str | None

    @property
    def blocks_publishing(self) -> bool:
        return not self.success and self.severity == "critical"

    def describe(self) -> str:
        what = self.expectation + (f"({self.column})" if self.column else "")
        if self.description:
            what += f" [{self.description}]"
        count = self.unexpected_count if self.unexpected_count is not None else self.observed_value
        return f"{self.table}: {what} failed ({self.severity}): unexpected {count}; examples {self.sample}"


def quality_summary(outcomes: list[ExpectationOutcome]) -> str:
    """One line for run summaries: how many expectations passed, warned and failed."""
    failed = [o for o in outcomes if not o.success]
    critical = sum(o.blocks_publishing for o in failed)
    return f"{len(outcomes) - len(failed)}/{len(outcomes)} expectations passed, {len(failed) - critical} warnings"


def gx_project_dir(config: AppConfig) -> Path:
    """Where the GX project (suites, results, Data Docs) lives."""
    if config.quality.gx_dir:
        return Path(config.quality.gx_dir).resolve()
    root = resolve_root(config.lakehouse.root)
    return Path(root) / "_gx" if root.startswith("/") else Path("gx").resolve()


def _key(config: Any) -> str:
    """What identifies an expectation across two suites: its type, arguments and description."""
    return json.dumps([config.type, config.kwargs, config.description], sort_keys=True, default=str)


class QualityGate:
    """Runs each staged table's suite, records results, and refuses to publish on critical failures."""

    def __init__(self, spark: SparkSession, config: AppConfig, lake: Lakehouse, run: Run) -> None:
        self.spark, self.config, self.lake, self.run = spark, config, lake, run
        self.context = gx.get_context(mode="file", project_root_dir=str(gx_project_dir(config)))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.context.variables.save()
        self.datasource = self.context.data_sources.add_or_update_spark(name=DATASOURCE)

    @property
    def data_docs_index(self) -> str:
        return str(self.context.get_docs_sites_urls()[0]["site_url"])

    def audit(self, staged: dict[str, DataFrame], slices: dict[str, str] | None = None) -> list[ExpectationOutcome]:
        """Validate every staged table that has a suite; raise if any critical expectation failed.

        `slices` names tables staged only in part (a daily run's replaceWhere predicate): their row
        count is compared with the same slice of the published table, not the whole table.
        """
        views = self._register_views(staged)
        slices = slices or {}
        earlier_results = set(self.context.validation_results_store.list_keys())
        try:
            outcomes = [
                o
                for name, df in staged.items()
                if name in SUITES
                for o in self._validate(name, df, views, slices.get(name))
            ]
        finally:
            for view in views.values():
                if not view.startswith("delta."):
                    self.spark.catalog.dropTempView(view)
            for df in staged.values():
                df.unpersist()  # GX persists each batch it validates and never releases it
        self.lake.append(DQ_RESULTS, self._rows(outcomes))
        # render only this audit's results (plus the index): a full rebuild re-renders every result
        # ever stored, a cost that grows with every nightly run
        new_results = [
            k
            for k in self.context.validation_results_store.list_keys()
            if isinstance(k, ValidationResultIdentifier) and k not in earlier_results
        ]
        self.context.build_data_docs(resource_identifiers=new_results)
        for outcome in outcomes:
            if not outcome.success:
                log.warning("%s", outcome.describe())
        blocking = [o.describe() for o in outcomes if o.blocks_publishing]
        if blocking:
            raise StageFailedError(
                f"quality gate failed, nothing published ({len(blocking)} critical expectation(s)):\n  "
                + "\n  ".join(blocking)
                + f"\nData Docs: {self.data_docs_index}"
            )
        return outcomes

    def _register_views(self, staged: dict[str, DataFrame]) -> dict[str, str]:
        """Staged tables as temp views; every other suite table by its published Delta path."""
        suffix = re.sub(r"\W", "_", self.run.run_id)
        views = {name: f"delta.`{self.lake.path(name)}`" for name in SUITES}
        for name, df in staged.items():
            views[name] = f"staged_{name}_{suffix}"
            df.createOrReplaceTempView(views[name])
        return views

    def _validate(
        self, name: str, df: DataFrame, views: dict[str, str], where: str | None = None
    ) -> list[ExpectationOutcome]:
        published = self.lake.read(name) if self.lake.exists(name) else None
        previous = None if published is None else (published.where(where) if where else published).count()
        inputs = SuiteInputs(self.config, self.run.started_at, views, previous)
        suite = gx.ExpectationSuite(name=name, expectations=SUITES[name](inputs))
        suite = self.context.suites.add_or_update(suite)
        asset = self._asset(name)
        batch = (
            asset.add_batch_definition_whole_dataframe("staged")
            if not asset.batch_definitions
            else (asset.get_batch_definition("staged"))
        )
        screened = self._run(name, "staged", batch, suite, df, examples=0)
        failed = [r.expectation_config for r in screened if not r.success]
        detailed: dict[str, Any] = {}
        if failed:  # examples only for what failed: a second run of just those expectations
            detail_suite = gx.ExpectationSuite(
                name=f"{name}_failed", expectations=[c.to_domain_obj().copy(update={"id": None}) for c in failed]
            )
            detail_suite = self.context.suites.add_or_update(detail_suite)
            samples = self.config.quality.sample_size
            rerun = self._run(name, "failed", batch, detail_suite, df, samples)
            detailed = {_key(r.expectation_config): r for r in rerun}
        return [self._outcome(name, detailed.get(_key(r.expectation_config), r)) for r in screened]

    def _run(self, name: str, kind: str, batch: Any, suite: Any, df: DataFrame, examples: int) -> list[Any]:
        """Results of `suite` on `df` (stored for Data Docs); `examples` rows per failed expectation.

        The screening run asks for no examples: fetching them costs GX one more scan (or join) per
        expectation, which finds nothing on a good table. It also asks for GX's BASIC format (counts
        and observed values, all `dq_results` keeps): SUMMARY adds, per column check, an
        unexpected-value tally and the query that would find the unexpected rows' indexes.
        """
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{name}_{kind}", data=batch, suite=suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=batch_queries(suite.expectations),
            result_format={"result_format": "SUMMARY" if examples else "BASIC", "partial_unexpected_count": examples},
        )
        return list(result.results)

    def _asset(self, name: str) -> Any:
        try:
            return self.datasource.get_asset(name)
        except LookupError:
            return self.datasource.add_dataframe_asset(name=name)

    def _outcome(self, table: str, result: Any) -> ExpectationOutcome:
        config, details = result.expectation_config, result.result or {}
        sample = details.get("partial_unexpected_list")
        if sample is None and details.get("details", {}).get("unexpected_rows") is not None:
            sample = details["details"]["unexpected_rows"][: self.config.quality.sample_size]
        observed = details.get("observed_value")
        return ExpectationOutcome(
            table=table,
            expectation=config.type,
            column=config.kwargs.get("column"),
            description=config.description,
            severity=str(getattr(config.severity, "value", config.severity)),
            success=bool(result.success),
            observed_value=None if observed is None else json.dumps(observed, default=str),
            unexpected_count=details.get("unexpected_count"),
            unexpected_percent=details.get("unexpected_percent"),
            sample=None if not sample else json.dumps(sample, default=str),
        )

    def _rows(self, outcomes: list[ExpectationOutcome]) -> DataFrame:
        rows = [
            (
                self.run.run_id,
                o.table,
                o.expectation,
                o.column,
                o.description,
                o.severity,
                o.success,
                o.observed_value,
                o.unexpected_count,
                o.unexpected_percent,
                o.sample,
                self.run.started_at,
            )
            for o in outcomes
        ]
        return self.spark.createDataFrame(rows, DQ_RESULTS_SCHEMA)
