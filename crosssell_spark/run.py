"""What a pipeline run carries between stages: its id, date and clock, and each stage's outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


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
