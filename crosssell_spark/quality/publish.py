"""Write-audit-publish, once for every stage: audit the staged tables, publish them as one set,
append the stage's audit rows, then drop the run's staging folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from crosssell_spark.quality.gate import ExpectationOutcome, QualityGate
from crosssell_spark.tables import TableSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """What `publish_audited` did: each table's new Delta version, every expectation's outcome, and
    the seconds the two `published_sets` commits took."""

    versions: dict[str, int]
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    set_seconds: float = 0.0


def publish_audited(
    gate: QualityGate,
    staged: Sequence[tuple[TableSpec, DataFrame]],
    *,
    stage: str,
    audited: Sequence[str] | None = None,
    slices: dict[str, str] | None = None,
    appends: Sequence[tuple[TableSpec, DataFrame]] = (),
) -> Published:
    """Audit the staged tables (all, or the `audited` names), then publish each (replacing only its
    `slices` predicate where given) and append the `appends` audit rows, between the two
    `published_sets` rows that make them one set; then drop the run's staging. A failed audit raises
    before anything is published; a crash while publishing leaves readers on the previous set.

    Args:
        stage: the pipeline stage publishing (its name in `published_sets`).
        staged: (table, staged copy) in publishing order.
        slices: table name -> replaceWhere predicate, for tables published a slice at a time.
    """
    slices = slices or {}
    to_audit = {spec.name: df for spec, df in staged if audited is None or spec.name in audited}
    outcomes = gate.audit(to_audit, slices) if to_audit else []
    lake, run_id = gate.lake, gate.run.run_id
    started = time.perf_counter()
    lake.begin_set(run_id, stage, [spec.name for spec, _ in [*staged, *appends]])
    set_seconds = time.perf_counter() - started
    versions = {spec.name: lake.publish(spec, df, slices.get(spec.name)) for spec, df in staged}
    for spec, df in appends:
        versions[spec.name] = lake.append(spec, df)
    started = time.perf_counter()
    lake.complete_set(run_id, stage, versions)
    set_seconds += time.perf_counter() - started
    log.info("%s: published set of %d tables (run %s); set rows took %.2f s", stage, len(versions), run_id, set_seconds)
    lake.drop_staging(run_id)
    return Published(versions, outcomes, set_seconds)
