"""Write-audit-publish, once for every stage: audit the staged tables, publish them, append the
stage's audit rows, then drop the run's staging folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from crosssell_spark.quality.gate import ExpectationOutcome, QualityGate
from crosssell_spark.tables import TableSpec


@dataclass(frozen=True)
class Published:
    """What `publish_audited` did: each table's new Delta version and every expectation's outcome."""

    versions: dict[str, int]
    outcomes: list[ExpectationOutcome] = field(default_factory=list)


def publish_audited(
    gate: QualityGate,
    staged: Sequence[tuple[TableSpec, DataFrame]],
    *,
    audited: Sequence[str] | None = None,
    slices: dict[str, str] | None = None,
    appends: Sequence[tuple[TableSpec, DataFrame]] = (),
) -> Published:
    """Audit the staged tables (all, or the `audited` names), then publish each (replacing only its
    `slices` predicate where given), append the `appends` audit rows, and drop the run's staging.
    A failed audit raises before anything is published.

    Args:
        staged: (table, staged copy) in publishing order.
        slices: table name -> replaceWhere predicate, for tables published a slice at a time.
    """
    slices = slices or {}
    to_audit = {spec.name: df for spec, df in staged if audited is None or spec.name in audited}
    outcomes = gate.audit(to_audit, slices) if to_audit else []
    lake = gate.lake
    versions = {spec.name: lake.publish(spec, df, slices.get(spec.name)) for spec, df in staged}
    for spec, df in appends:
        versions[spec.name] = lake.append(spec, df)
    lake.drop_staging(gate.run.run_id)
    return Published(versions, outcomes)
