"""`make bench`: run every bench/bench_*.py, record the machine, write results.json and results.md.

python -m bench.run [--only pipeline,als,lsh,stream] [--out bench]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0] if Path("/proc/meminfo").exists() else ""
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    import pyspark

    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory": meminfo.split(":", 1)[-1].strip(),
        "cpu": cpu,
        "python": platform.python_version(),
        "java": java[0] if java else "",
        "pyspark": pyspark.__version__,
        "platform": platform.platform(),
        # other work on the machine skews timings: 1-minute load average when the benchmark started
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


_out = BENCH_DIR  # where main() writes; save_partial() writes there too


def record(name: str, figures: dict[str, Any], out: Path | None = None) -> Path:
    """Merge one benchmark's figures into results.json (re-read, so concurrent runs of other
    benchmarks keep theirs) and re-render results.md."""
    out = out or _out
    results_file = out / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["machine"] = machine()
    results[name] = figures
    results_file.write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(render_markdown(results))
    return results_file


def save_partial(name: str, figures: dict[str, Any]) -> None:
    """Record a long benchmark's figures so far (marked partial), so a run stopped midway keeps them."""
    record(name, {**figures, "partial": True, "machine": machine()})


def discover() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--out", default=str(BENCH_DIR), help="folder for results.json and results.md")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else discover()
    global _out
    out = _out = Path(args.out)
    importlib.import_module("bench.run")._out = out  # the module the benchmarks import when this one runs as __main__
    failures, results_file = 0, out / "results.json"
    for name in names:
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        started, machine_at_start = time.perf_counter(), machine()
        print(f"== bench {name} (scratch {scratch})", flush=True)
        try:
            figures = importlib.import_module(f"bench.bench_{name}").run(scratch)
            figures["bench_seconds"] = round(time.perf_counter() - started, 1)
            figures["machine"] = machine_at_start
        except Exception:  # one broken benchmark must not hide the others
            failures += 1
            figures = {"error": traceback.format_exc(limit=5)}
            print(figures["error"], file=sys.stderr)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results_file = record(name, figures, out)
    print(f"wrote {results_file} and {out / 'results.md'}")
    return 1 if failures else 0


def render_markdown(results: dict[str, Any]) -> str:
    """A short human table per benchmark: each module may supply `markdown` lines itself."""
    m = results.get("machine", {})
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {m.get('cores')} cores, {m.get('memory')}, {m.get('cpu')}; "
        f"Python {m.get('python')}, PySpark {m.get('pyspark')}, {m.get('java')}; recorded {m.get('recorded_at')}",
        "",
    ]
    for name, figures in results.items():
        if name == "machine" or not isinstance(figures, dict):
            continue
        lines += [f"## {name}", ""]
        if "machine" in figures:
            at = figures["machine"]
            lines += [f"Recorded {at.get('recorded_at')}, load average {at.get('load_average_1m')} at start.", ""]
        if figures.get("partial"):
            lines += ["Partial: the run was stopped before every size finished.", ""]
        if "error" in figures:
            lines += ["```", figures["error"], "```", ""]
        elif figures.get("markdown"):
            lines += [*figures["markdown"], ""]
        else:
            lines += ["| figure | value |", "| --- | --- |"]
            lines += [f"| {k} | {v} |" for k, v in figures.items() if not isinstance(v, dict | list)]
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
