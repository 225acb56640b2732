"""Every input row is accounted for: rows read = clean + quarantined + removed duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.cleaning.events import IS_DUPLICATE
from crosssell_spark.schemas import REASON, RECONCILIATION_SCHEMA

CLEAN_OUTCOME, DUPLICATE_OUTCOME = "_clean", "_duplicate"  # outcomes that are not a quarantine reason


def outcome_counts(classified: DataFrame) -> dict[str, int]:
    """Rows per reason of classified rows in one pass; duplicates under `_duplicate`, clean rows under `_clean`."""
    outcome = F.coalesce(F.col(REASON), F.when(F.col(IS_DUPLICATE), DUPLICATE_OUTCOME).otherwise(CLEAN_OUTCOME))
    return {row["outcome"]: int(row["count"]) for row in classified.groupBy(outcome.alias("outcome")).count().collect()}


@dataclass(frozen=True)
class Reconciliation:
    input_name: str
    rows_read: int
    rows_clean: int
    rows_quarantined: int
    rows_duplicate: int

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_clean + self.rows_quarantined + self.rows_duplicate

    def describe(self) -> str:
        status = "balanced" if self.balanced else "UNBALANCED"
        return (
            f"{self.input_name}: read {self.rows_read:,} = clean {self.rows_clean:,} + quarantined "
            f"{self.rows_quarantined:,} + duplicates {self.rows_duplicate:,} ({status})"
        )


def reconciliation_rows(
    spark: SparkSession,
    checks: list[Reconciliation],
    run_id: str,
    recorded_at: datetime,
    run_date: date | None = None,
) -> DataFrame:
    """The reconciliation audit rows of one run (`run_date` set for incremental runs)."""
    rows = [
        (
            run_id,
            c.input_name,
            c.rows_read,
            c.rows_clean,
            c.rows_quarantined,
            c.rows_duplicate,
            c.balanced,
            recorded_at,
            run_date,
        )
        for c in checks
    ]
    return spark.createDataFrame(rows, RECONCILIATION_SCHEMA)
