"""What a pipeline run carries between stages: its id, date and clock, each stage's outcome, and
where run reports live (`<root>/_reports/`: a JSON record per stage run, the HTML and evaluation reports)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPORTS = "_reports"
STAGE_RECORDS = "stage_runs"  # <root>/_reports/stage_runs/<run_id>/<stage>.json
RUN_REPORTS, RUN_REPORT_PAGE = "runs", "report.html"  # <root>/_reports/runs/<run_id>/report.html


@dataclass(frozen=True)
class Run:
    """One invocation of the pipeline; `run_date` is the scheduler's logical date, if any."""

    run_id: str
    started_at: datetime
    run_date: date | None = None

    @classmethod
    def start(cls, run_date: date | None = None) -> Run:
        now = datetime.now(UTC).replace(tzinfo=None)  # Spark session time zone is UTC
        return cls(run_id=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", started_at=now, run_date=run_date)


@dataclass
class StageResult:
    """Tables a stage published (name -> Delta version) and the figures it measured."""

    stage: str
    published: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class StageFailedError(RuntimeError):
    """A stage refused to publish (failed reconciliation or quality gate); nothing was published."""


def reports_dir(root: str, *parts: str) -> Path:
    """A local folder under `<root>/_reports/` (plots and pages need a local disk: for a remote
    root, `./_reports/` of the working directory)."""
    base = root if not urlparse(root).scheme or Path(root).drive else "."
    return Path(base, REPORTS, *parts)


def save_stage_record(root: str, run: Run, result: StageResult) -> Path:
    """Keep what a finished stage run reported (seconds, published versions, metrics) for the run report."""
    path = reports_dir(root, STAGE_RECORDS, run.run_id, f"{result.stage}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": run.run_id,
        "stage": result.stage,
        "finished_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 1),
        "published": result.published,
        "metrics": result.metrics,
    }
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return path


def load_stage_record(root: str, run_id: str, stage: str) -> dict[str, Any] | None:
    """What `save_stage_record` kept for that stage run (None: none kept, e.g. a run of `forget`)."""
    path = reports_dir(root, STAGE_RECORDS, run_id, f"{stage}.json")
    return dict(json.loads(path.read_text())) if path.is_file() else None
