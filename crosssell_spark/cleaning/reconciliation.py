"""Every input row is accounted for: rows read = clean + quarantined + removed duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.schemas import RECONCILIATION_SCHEMA


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
