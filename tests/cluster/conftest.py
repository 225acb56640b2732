"""A real standalone cluster (master + 2 workers on loopback) and the packaged artefacts it runs.

These tests start their own JVMs (master, workers, executors, a spark-submit driver): that is
their point. The cluster is stopped by a finalizer whatever the tests do.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from deploy import package
from deploy.cluster_demo import DemoRun, submit, write_overlay
from deploy.standalone_cluster import StandaloneCluster
from deploy.submit import env_name

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
CLUSTER_EVENTS = 20_000  # a small sample world: every stage, quality gate and table, in CI time
SUBMIT_TIMEOUT = 2400  # a hang guard: a loaded 2-core machine needs far longer than an idle one


@pytest.fixture(scope="session")
def dist_artefacts() -> Path:
    """dist/ as `make package` leaves it: the zip and submit.sh are rebuilt (cheap), the packed env reused."""
    version = metadata.version(package.DIST_NAME)
    package.build_zip(DIST, version)  # the code under test, not a stale zip
    package.write_submit_script(DIST, version)
    package.build_env(DIST, version, package.runtime_requirements(), ROOT / "build" / "package")
    (DIST / "manifest.json").exists() or (DIST / "manifest.json").write_text(json.dumps({"version": version}))
    return DIST


@pytest.fixture(scope="session")
def driver_python(dist_artefacts: Path) -> Path:
    """The packed env unpacked once (reused while the archive is unchanged): the driver's Python."""
    archive = dist_artefacts / env_name(metadata.version(package.DIST_NAME))
    target = ROOT / "build" / "cluster-test-env"
    stamp, key = target / ".unpacked-from", f"{archive.stat().st_size}-{archive.stat().st_mtime_ns}"
    if not stamp.exists() or stamp.read_text() != key:
        subprocess.run(["rm", "-rf", str(target)], check=True)
        target.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="tar")
        stamp.write_text(key)
    return target / "bin" / "python"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    work = tmp_path_factory.mktemp("standalone")
    standalone = StandaloneCluster(work, workers=2, cores=1, memory="1g")
    try:
        yield standalone.start()
    finally:
        standalone.stop()


@dataclass(frozen=True)
class Submission:
    """A finished spark-submit: exit code, output, wall time."""

    code: int
    output: str
    seconds: float


def run_job(
    job: str, cluster: StandaloneCluster, run: DemoRun, python: Path, log: Path, *args: str, on_start=None
) -> Submission:
    """Submit `dist/submit.sh JOB` and wait; `on_start(process)` may watch it meanwhile; killed on timeout."""
    started = time.perf_counter()
    process = submit(job, cluster, run, python, log, *args)
    try:
        if on_start is not None:
            on_start(process)
        code = process.wait(timeout=SUBMIT_TIMEOUT)
    finally:
        if process.poll() is None:
            subprocess.run(["kill", "-KILL", f"-{process.pid}"], check=False)
            process.wait()
    return Submission(code, log.read_text(errors="replace"), time.perf_counter() - started)


@dataclass(frozen=True)
class ClusterPipeline:
    """run-all submitted to the cluster once, shared by this module's tests."""

    run: DemoRun
    submission: Submission
    executor_dirs: dict[str, list[str]]


@pytest.fixture(scope="module")
def cluster_pipeline(
    cluster: StandaloneCluster, driver_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> ClusterPipeline:
    from deploy.cluster_demo import executor_dirs

    run = write_overlay(tmp_path_factory.mktemp("cluster-run"), CLUSTER_EVENTS)
    submission = run_job("run-all", cluster, run, driver_python, run.overlay.parent / "run-all.log")
    return ClusterPipeline(run, submission, executor_dirs(cluster))
