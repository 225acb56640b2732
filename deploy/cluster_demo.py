"""`make cluster-demo`: the whole pipeline submitted to a loopback standalone cluster with the dist/ artefacts.

    .venv/bin/python -m deploy.cluster_demo [--events 20000] [--work-dir build/cluster-demo]

Starts a master and two 1-core workers on 127.0.0.1, unpacks the packed env as the driver's
Python (what an edge node would do), runs `dist/submit.sh run-all` against the master, prints the
job's summary and where its executors ran, and stops the cluster whatever happens. The helpers
here are shared with tests/cluster/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.standalone_cluster import StandaloneCluster, free_port, spark_home
from deploy.submit import env_name

ROOT = Path(__file__).resolve().parents[1]


def dist_version(dist: Path) -> str:
    """The version `make package` last built into `dist` (see dist/manifest.json)."""
    manifest = dist / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing: run `make package` first")
    return str(json.loads(manifest.read_text())["version"])


def unpack_env(dist: Path, target: Path) -> Path:
    """Unpack the packed venv (once) and return its Python, the driver's interpreter in client mode."""
    python = target / "bin" / "python"
    if not python.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dist / env_name(dist_version(dist))) as archive:
            archive.extractall(target, filter="tar")
    return python


@dataclass(frozen=True)
class DemoRun:
    """One submitted job: the overlay it used, where its lakehouse is, and its output."""

    overlay: Path
    lakehouse: Path
    ui_port: int


def write_overlay(folder: Path, events: int, extra: dict[str, Any] | None = None) -> DemoRun:
    """A config overlay (with base.yaml beside it, as --files would ship it) for a small sample world."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "conf" / "base.yaml", folder / "base.yaml")
    ui_port = free_port()
    overlay: dict[str, Any] = {
        "spark": {
            "shuffle_partitions": 2,  # 2 workers x 1 core
            "log_level": "WARN",
            "conf": {
                "spark.ui.port": str(ui_port),
                "spark.ui.showConsoleProgress": "false",
                "spark.port.maxRetries": "64",
                "spark.sql.adaptive.coalescePartitions.initialPartitionNum": "2",
                "spark.default.parallelism": "2",
                # Delta's default of 50 partitions per log replay is 50 tasks per table read here
                "spark.databricks.delta.snapshotPartitions": "2",
                "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            },
        },
        "lakehouse": {"root": str(folder / "lakehouse")},
        "sample": {"events": events, "path": str(folder / "world")},
        "interest": {"als": {"max_iter": 5, "num_user_blocks": 2, "num_item_blocks": 2}},
    }
    for section, values in (extra or {}).items():
        overlay.setdefault(section, {}).update(values)
    path = folder / "cluster-test.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return DemoRun(path, folder / "lakehouse", ui_port)


def submit_env(cluster: StandaloneCluster, run: DemoRun, driver_python: Path) -> dict[str, str]:
    """Environment of dist/submit.sh: master, home, overlay, driver Python; spark-submit on PATH."""
    env = dict(os.environ)
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_PYTHON", None)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_MASTER=cluster.url,
        CROSSSELL_HOME=str(ROOT),
        CROSSSELL_CONF=str(run.overlay),
        DRIVER_PYTHON=str(driver_python),
        SPARK_DRIVER_MEMORY="1g",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def submit(
    job: str, cluster: StandaloneCluster, run: DemoRun, driver_python: Path, log: Path, *args: str
) -> subprocess.Popen[bytes]:
    """Start `dist/submit.sh JOB --set ... ` in the background, output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", str(ROOT / "dist" / "submit.sh"), job, *args],
            stdout=out, stderr=subprocess.STDOUT, env=submit_env(cluster, run, driver_python), cwd=run.overlay.parent,
            start_new_session=True,
        )  # fmt: skip


def executor_dirs(cluster: StandaloneCluster) -> dict[str, list[str]]:
    """worker -> the app/executor folders it ran (proof that both workers did work)."""
    found = {}
    for daemon in cluster.worker_daemons:
        apps = sorted((cluster.work_dir / daemon.name).glob("app-*"))
        found[daemon.name] = [f"{app.name}/{executor.name}" for app in apps for executor in sorted(app.iterdir())]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--work-dir", default=str(ROOT / "build" / "cluster-demo"))
    args = parser.parse_args(argv)
    work = Path(args.work_dir).resolve()
    shutil.rmtree(work / "cluster", ignore_errors=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    driver_python = unpack_env(ROOT / "dist", work / "env")
    run = write_overlay(work / "run", args.events)
    with StandaloneCluster(work / "cluster", workers=2, cores=1, memory="1g") as cluster:
        print(f"cluster: master {cluster.url}, web UI {cluster.webui}, 2 workers x 1 core / 1g")
        print(f"submitting: dist/submit.sh run-all (lakehouse {run.lakehouse}, {args.events:,} sample events)")
        started = time.perf_counter()
        log = work / "run" / "run-all.log"
        process = submit("run-all", cluster, run, driver_python, log)
        code = process.wait()
        seconds = time.perf_counter() - started
        output = log.read_text()
        summary = output[output.find("Lakehouse:") :] if "Lakehouse:" in output else output[-4000:]
        print(summary)
        state = cluster.state()
        for app in state.get("completedapps", []):
            seconds_on_cluster = app["duration"] / 1000
            print(f"application {app['id']} {app['name']}: {app['state']}, {seconds_on_cluster:.0f} s on the cluster")
        for worker, dirs in executor_dirs(cluster).items():
            print(f"{worker}: executors {', '.join(dirs) or 'none'}")
        print(f"spark-submit exit code {code} after {seconds:.0f} s (full log: {log})")
    print("cluster stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
