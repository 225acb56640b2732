"""What `crosssell history` shows of the published sets, and `crosssell rollback --incomplete`.

A run killed while publishing leaves its stage's set incomplete (`Lakehouse.begin_set` without
`complete_set`): readers keep the versions from before it until the stage's next run publishes a
whole set, or until this rollback restores those tables and records the restored set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from crosssell_spark.lakehouse import Lakehouse, PublishedSet
from crosssell_spark.schemas import SET_RESTORED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restored:
    """What `rollback_incomplete` did to one incomplete set: tables restored (name -> (from, to))
    and tables it left (new with that run, nothing to go back to)."""

    stage: str
    run_id: str
    restored: dict[str, tuple[int, int]]
    left: list[str]


def describe_sets(lake: Lakehouse) -> str:
    """Each stage's latest set, and for an incomplete one each table's served and latest version."""
    sets = lake.latest_sets()
    if not sets:
        return f"no published sets under {lake.root} yet (the first stage run records one)"
    lines = [f"{'stage':<16}{'run':<28}{'status':<13}{'recorded (UTC)':<21}tables (version)"]
    for s in sets:
        status = s.status if s.complete else "INCOMPLETE"
        lines.append(f"{s.stage:<16}{s.run_id:<28}{status:<13}{s.recorded_at:%Y-%m-%d %H:%M:%S}  {_tables(lake, s)}")
    if any(not s.complete for s in sets):
        lines += [
            "",
            "INCOMPLETE: the run stopped while publishing; readers get each table at the version before it",
            "(served), not the latest. The stage's next run publishes a complete set; or restore those",
            "tables now with `crosssell rollback --incomplete`.",
        ]
    return "\n".join(lines)


def _tables(lake: Lakehouse, s: PublishedSet) -> str:
    if s.complete:
        return ", ".join(f"{t} ({v})" for t, v in s.versions.items())
    shown = []
    for table, before in s.versions.items():
        latest = lake.latest_version(table)
        served = "new, no earlier version" if before < 0 else f"served {before}"
        shown.append(f"{table} ({served}, latest {latest})")
    return ", ".join(shown)


def rollback_incomplete(lake: Lakehouse) -> list[Restored]:
    """Restore every table of every incomplete set to its version before that run, then record the
    restored set (a `published_sets` row), so readers and the table agree again. Commits made to
    those tables after the run began (e.g. the stream's) are undone too; Delta history keeps them."""
    done = []
    for s in lake.latest_sets():
        if s.complete:
            continue
        restored, left, versions = {}, [], {}
        for table, before in s.versions.items():
            latest = lake.latest_version(table)
            if before < 0 or latest is None:
                left.append(table)
                continue
            if latest != before:
                versions[table] = lake.restore(table, before)
                restored[table] = (latest, before)
            else:
                versions[table] = before
        lake.complete_set(s.run_id, s.stage, versions, status=SET_RESTORED)
        log.info("%s: incomplete set of run %s rolled back: %s", s.stage, s.run_id, restored)
        done.append(Restored(s.stage, s.run_id, restored, left))
    return done
