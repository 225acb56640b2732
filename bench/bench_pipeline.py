"""Whole-pipeline scaling: per-stage wall time, peak JVM memory and validation share per sample size.

Sizes come from BENCH_EVENTS (comma-separated, default 200k,1M,2M,4M,10M: 200k is the world `make
run` builds; the largest is also where the quality gate's validation share is judged). One local Spark session
(all cores, BENCH_DRIVER_MEMORY driver, default 10g) runs every stage of `pipeline.STAGES`
on a fresh lakehouse per size.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.run import save_partial
from crosssell_spark import pipeline
from crosssell_spark.config import load_config
from crosssell_spark.quality import gate
from crosssell_spark.run import Run
from crosssell_spark.session import get_spark

DEFAULT_SIZES = "200000,1000000,2000000,4000000,10000000"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class PeakRss:
    """Samples a process's resident memory in the background; `peak_mb` since the last reset."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.is_set():
            for line in status.read_text().splitlines() if status.exists() else []:
                if line.startswith("VmRSS:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak_kb = 0

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)

    def stop(self) -> None:
        self._stop.set()


class ValidationTimer:
    """Times QualityGate.audit calls (benchmark-only instrumentation)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original = gate.QualityGate.audit
        timer = self

        def timed(gate_self, *args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return timer._original(gate_self, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started

        gate.QualityGate.audit = timed  # type: ignore[method-assign]

    def restore(self) -> None:
        gate.QualityGate.audit = self._original  # type: ignore[method-assign]


def run(scratch: Path) -> dict[str, Any]:
    sizes = [int(s) for s in os.environ.get("BENCH_EVENTS", DEFAULT_SIZES).split(",")]
    base = load_config([PROJECT_ROOT / "conf" / "local.yaml"], base=PROJECT_ROOT / "conf" / "base.yaml")
    driver_memory = os.environ.get("BENCH_DRIVER_MEMORY", "10g")
    spark = get_spark(base, {"spark.driver.memory": driver_memory, "spark.ui.enabled": "false"})
    jvm_pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    memory, validation = PeakRss(jvm_pid), ValidationTimer()
    rows: list[dict[str, Any]] = []
    try:
        for events in sizes:
            config = load_config(
                [PROJECT_ROOT / "conf" / "local.yaml"],
                overrides=[
                    f"lakehouse.root={scratch / f'lake-{events}'}",
                    f"sample.path={scratch / f'world-{events}'}",
                    f"sample.events={events}",
                ],
                base=PROJECT_ROOT / "conf" / "base.yaml",
            )
            run_ = Run.start()
            for stage in pipeline.STAGES:
                memory.reset()
                validation.seconds = 0.0
                started = time.perf_counter()
                pipeline.run_stage(stage, spark, config, run_)
                seconds = time.perf_counter() - started
                rows.append(
                    {
                        "events": events,
                        "stage": stage,
                        "seconds": round(seconds, 1),
                        "peak_jvm_rss_mb": memory.peak_mb,
                        "validation_seconds": round(validation.seconds, 1),
                        "validation_share": round(validation.seconds / seconds, 3),
                    }
                )
                print(rows[-1], flush=True)
            done = [n for n in sizes if any(r["events"] == n for r in rows)]
            save_partial("pipeline", summarise(rows, done))
    finally:
        memory.stop()
        validation.restore()
    return summarise(rows, sizes)


def summarise(rows: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Totals per size, the log-log scaling slope, end-to-end events/s and validation share."""
    totals = {n: sum(r["seconds"] for r in rows if r["events"] == n) for n in sizes}
    validation = {n: sum(r["validation_seconds"] for r in rows if r["events"] == n) for n in sizes}
    slope = None
    if len(sizes) > 1:
        xs, ys = [math.log(n) for n in sizes], [math.log(totals[n]) for n in sizes]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs), 3)
    markdown = [
        "| events | stage | seconds | peak JVM RSS (MB) | validation s | validation share |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    markdown += [
        f"| {r['events']:,} | {r['stage']} | {r['seconds']} | {r['peak_jvm_rss_mb']} | "
        f"{r['validation_seconds']} | {r['validation_share']:.0%} |"
        for r in rows
    ]
    markdown += ["", "| events | total s | events/s end to end | validation share |", "| ---: | ---: | ---: | ---: |"]
    markdown += [f"| {n:,} | {totals[n]:.1f} | {n / totals[n]:,.0f} | {validation[n] / totals[n]:.0%} |" for n in sizes]
    markdown += ["", f"Scaling slope (log time / log events): {slope}"]
    return {
        "stages": rows,
        "total_seconds": {str(n): round(t, 1) for n, t in totals.items()},
        "events_per_second": {str(n): round(n / totals[n]) for n in sizes},
        "validation_share": {str(n): round(validation[n] / totals[n], 3) for n in sizes},
        "scaling_slope": slope,
        "markdown": markdown,
    }
