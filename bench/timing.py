"""What the benchmarks share: the fastest of several runs of a job, and a job that writes a DataFrame."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame


def fastest(job: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` runs of `job`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times)


def written(df: DataFrame, out: Path) -> Callable[[], object]:
    """A job that computes `df` by writing it to `out` as Parquet (overwriting)."""
    return lambda: df.write.mode("overwrite").parquet(str(out))
