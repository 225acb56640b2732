"""One SparkSession for the whole test run, plus config and shared-data helpers."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig, load_config
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.pipeline import run_all
from crosssell_spark.run import Run, StageResult
from crosssell_spark.session import LOCAL_CONF, get_spark

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CROSSSELL_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
BASE_CONF = PROJECT_ROOT / "conf" / "base.yaml"

# Small, fast, deterministic: 2 local cores, 2 shuffle partitions, no UI. Adaptive execution off:
# on test-sized data it only re-plans (a 60k-event run_all took 9 % longer with it), and it would
# coalesce the 2 partitions into 1, hiding what only shows across partitions.
TEST_OVERRIDES = (
    "spark.master=local[2]",
    "spark.shuffle_partitions=2",
    "spark.log_level=ERROR",
    "spark.conf={spark.sql.adaptive.enabled: 'false', spark.ui.enabled: 'false'}",
    # the small test worlds keep the minimum crowd at its floor of 3 (base.yaml's 5 suits real data)
    "similarity.cooccurrence.min_users=3",
    "crosssell.rules.min_support=3",
)
# Every test JVM compiles with C1 only, in a code cache big enough not to be swept: on test-sized
# data the C2 JIT compiler took ~40 % of a JVM's CPU and paid back little. Two 10k-event run_all at
# once on the 2 cores: 199 -> 142 s each, JVM CPU 177 -> 115 s. (C1 alone in the default 240 MB
# cache was slower: its sweeper thread took 18 s of CPU.) Not for the product's own runs: one
# 60k-event run_all alone took 114 -> 121 s.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m"
# ... also for the `crosssell` processes tests start (set in the environment, so a command runs as written)
TEST_JVM_ENV = {"JAVA_TOOL_OPTIONS": TEST_JVM_OPTIONS}
TEST_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.coalescePartitions.initialPartitionNum": "2",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.driver.memory": "3g",
    "spark.driver.extraJavaOptions": f"{LOCAL_CONF['spark.driver.extraJavaOptions']} {TEST_JVM_OPTIONS}",
}


def make_test_config(lakehouse_root: Path, *overrides: str) -> AppConfig:
    """Base config with test Spark settings and the lakehouse under `lakehouse_root`."""
    return load_config(
        base=BASE_CONF,
        overrides=[*TEST_OVERRIDES, f"lakehouse.root={lakehouse_root}", *overrides],
    )


SHARED_PIPELINE = "sample_pipeline"  # the fixture whose readers are scheduled around its one build


def _uses_shared_pipeline(item: pytest.Item) -> bool:
    return SHARED_PIPELINE in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the work for the two `make test` workers (stable within each group): the first module
    that reads `sample_pipeline` (the worker that takes it builds the pipeline); the integration
    modules that do not read it; the other readers, by when the pipeline is published, so no worker
    sits waiting on the build; then the unit tests. Readers are found by their fixtures, not listed;
    within a group, modules marked `minutes(n)` start longest first."""
    readers = [Path(str(i.fspath)) for i in items if _uses_shared_pipeline(i)]
    first = readers[0] if readers else None

    def order(item: pytest.Item) -> tuple[int, float]:
        path = Path(str(item.fspath))
        marker = item.get_closest_marker("minutes")
        longest_first = -float(marker.args[0]) if marker else 0.0
        if path == first:
            return 0, 0.0
        if "unit" in path.parts:
            return 3, 0.0
        return (2 if path in readers else 1), longest_first

    items.sort(key=order)


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist still runs
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Each integration module is one pytest-xdist work unit (its module fixtures run once), unit
    tests spread one by one, handed out in collection order (see `pytest_collection_modifyitems`)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if "/unit/" in f"/{module}" else module

    config.option.loadscopereorder = False  # the order above, not largest-first
    return ModuleUnits(config, log)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    config = make_test_config(tmp_path_factory.mktemp("session-lakehouse"))
    warehouse = {"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))}  # one per xdist worker
    session = get_spark(config, extra_conf={**TEST_SPARK_CONF, **warehouse})
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _session_partitions_kept(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's in-process CLI calls set the session's shuffle partitions from their config (as
    `get_spark` does for a job); the next test gets the session's own setting back."""
    if "spark" not in request.fixturenames:
        yield
        return
    spark = request.getfixturevalue("spark")
    before = spark.conf.get("spark.sql.shuffle.partitions")
    yield
    spark.conf.set("spark.sql.shuffle.partitions", before)


@pytest.fixture
def config_factory(tmp_path: Path) -> Callable[..., AppConfig]:
    """Build a config whose lakehouse lives in this test's tmp_path."""

    def factory(*overrides: str) -> AppConfig:
        return make_test_config(tmp_path / "lakehouse", f"sample.path={tmp_path / 'landing'}", *overrides)

    return factory


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, or skip with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real public data not found at {path} (../shared/data is absent on this machine)")
    return path


PIPELINE_SAMPLE_EVENTS = 60_000  # big enough for co-occurrence above the privacy floor, small for CI
# Whole-pipeline runs (the shared one, the privacy world, the evaluation's training run, the
# stopped-publish tests) shuffle into one partition: 11 % less time for two such runs at once on 2 cores. The
# transforms' tests and the stream keep TEST_OVERRIDES' 2, so what shows only across partitions
# still shows there.
PIPELINE_RUN_OVERRIDES = ("spark.shuffle_partitions=1",)
# The shared run scores its lists by the configured weights: the learnt ranker (train-ranker's fits,
# the guard, scoring in candidates) runs on in test_evaluation's training run, as shipped.
SHARED_PIPELINE_OVERRIDES = ("crosssell.ranker.enabled=false", *PIPELINE_RUN_OVERRIDES)


@contextmanager
def pipeline_partitions(spark: SparkSession, config: AppConfig) -> Iterator[None]:
    """Within the block the test session shuffles into `config.spark.shuffle_partitions` (what
    `get_spark` sets when a job starts its own session); the session's setting is restored after."""
    key = "spark.sql.shuffle.partitions"
    before = spark.conf.get(key)
    spark.conf.set(key, str(config.spark.shuffle_partitions))
    try:
        yield
    finally:
        spark.conf.set(key, before)


@dataclass(frozen=True)
class PipelineRun:
    """The whole pipeline run once on a sample world, shared by integration tests."""

    config: AppConfig
    lake: Lakehouse
    results: dict[str, StageResult]
    world: Path


@pytest.fixture(scope="session")
def sample_pipeline(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """run-all on a 60k-event sample world (every stage, quality gates included), once per test run:
    under pytest-xdist the first worker to need it builds it in the run's shared temp folder while
    holding a lock, the others wait for the lock and read what it published."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # pytest-of-<user>/pytest-<n>/, above each worker's popen-gw<k>/
    root, published = shared / "sample-pipeline", shared / "sample-pipeline.results.pickle"
    config = make_test_config(
        root / "lakehouse",
        f"sample.path={root / 'world'}",
        f"sample.events={PIPELINE_SAMPLE_EVENTS}",
        *SHARED_PIPELINE_OVERRIDES,
    )
    with open(shared / "sample-pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if published.exists():
                results = pickle.loads(published.read_bytes())
            else:  # first (or after a worker failed mid-build: start clean)
                shutil.rmtree(root, ignore_errors=True)
                with pipeline_partitions(spark, config):
                    results = {r.stage: r for r in run_all(spark, config, Run.start())}
                published.write_bytes(pickle.dumps(results))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return PipelineRun(config, Lakehouse(spark, config.lakehouse), results, root / "world")
