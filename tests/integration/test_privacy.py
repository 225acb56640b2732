"""Privacy end to end: a small world run with pseudonyms and (seeded) differential privacy, then forgotten users.

One run-all on a world of our own with `privacy.pseudonymise` and `privacy.dp` on; the tests then
look for raw ids in every table and export, read the privacy ledger, and forget a user through
the CLI, comparing every user-level table before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from crosssell_spark import cli
from crosssell_spark.config import AppConfig
from crosssell_spark.export_folders import Exports
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.ops.forget import USER_TABLES
from crosssell_spark.pipeline import run_all
from crosssell_spark.privacy.pseudonym import pseudonym
from crosssell_spark.run import Run
from crosssell_spark.schemas import SESSION_ID, USER_ID
from crosssell_spark.tables import (
    CATEGORY_AFFINITY,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    FORGET_LOG,
    ITEM_SIMILARITY,
    PRIVACY_LEDGER,
    USER_CROSS_SELL,
)
from tests.conftest import PIPELINE_RUN_OVERRIDES, TEST_OVERRIDES, make_test_config, pipeline_partitions

pytestmark = [pytest.mark.integration, pytest.mark.minutes(5)]

KEY = "integration-test-pseudonym-key-0123456789"
EVENTS = 20_000
# the sample world's raw ids (sources/sample_world/formats.py): users, the bot, sessions, bot sessions
RAW_ID_SHAPES = r"\bU[0-9]{7}\b|\bU_BOT[0-9]{4}\b|\bS[0-9]{7}-[0-9]{4}\b|\bS_BOT[0-9]{4}-[0-9]{4}\b"
PRIVATE = ("privacy.pseudonymise=true", "privacy.dp.enabled=true", "privacy.dp.seed=20240601", "privacy.dp.epsilon=8")


@dataclass(frozen=True)
class PrivateWorld:
    config: AppConfig
    lake: Lakehouse
    overrides: tuple[str, ...]
    raw_users: list[str]
    raw_sessions: list[str]


@pytest.fixture(scope="module")
def world(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> PrivateWorld:
    root = tmp_path_factory.mktemp("privacy")
    overrides = (f"lakehouse.root={root / 'lakehouse'}", f"sample.path={root / 'world'}", f"sample.events={EVENTS}")
    config = make_test_config(root / "lakehouse", *overrides, *PRIVATE, *PIPELINE_RUN_OVERRIDES)
    with pytest.MonkeyPatch.context() as env, pipeline_partitions(spark, config):
        env.setenv(config.privacy.key_env, KEY)
        run_all(spark, config, Run.start())
    raw = spark.read.parquet(str(root / "world" / "events"))
    ids = lambda c: sorted({r[0].strip() for r in raw.select(c).distinct().collect() if r[0] and r[0].strip()})  # noqa: E731
    return PrivateWorld(config, Lakehouse(spark, config.lakehouse), overrides + PRIVATE, ids(USER_ID), ids(SESSION_ID))


def text_of(df: DataFrame) -> F.Column:
    """Every string (and string array) column of a row, joined into one string."""
    parts = [
        F.array_join(F.col(f.name), "\u0001") if isinstance(f.dataType, ArrayType) else F.col(f.name)
        for f in df.schema.fields
        if isinstance(f.dataType, StringType)
        or (isinstance(f.dataType, ArrayType) and isinstance(f.dataType.elementType, StringType))
    ]
    return F.concat_ws("\u0001", *parts) if parts else F.lit("")


def published_tables(lake: Lakehouse) -> list[str]:
    return sorted(p.name for p in Path(lake.root).iterdir() if not p.name.startswith("_") and lake.exists(p.name))


def test_no_raw_user_id_in_any_table_or_export(world: PrivateWorld) -> None:
    lake = world.lake
    tables = published_tables(lake)
    assert {"events_clean", "events_quarantine", "user_id_map", "user_cross_sell", "dq_results"} <= set(tables)
    # Every raw id has one of the generator's shapes, so no match of the shapes means no raw id
    # anywhere, even inside a longer string (one regex instead of thousands of alternatives).
    assert all(re.fullmatch(RAW_ID_SHAPES, i) for i in world.raw_users + world.raw_sessions)
    for table in tables:
        df = lake.read(table)
        leaks = df.where(text_of(df).rlike(RAW_ID_SHAPES)).count()
        assert leaks == 0, f"{table}: {leaks} rows hold a raw user or session id"
    for part in (Path(lake.root) / "_exports").rglob("*.json"):
        assert not re.search(RAW_ID_SHAPES, part.read_text()), part
    key = KEY.encode()
    known = {pseudonym(key, u) for u in world.raw_users}
    stored = {r[0] for r in lake.read(EVENTS_CLEAN.name).select(USER_ID).distinct().collect()}
    assert stored and stored <= known  # every stored id is the pseudonym of a raw one: the check above had rows


def test_dp_runs_are_in_the_privacy_ledger(world: PrivateWorld) -> None:
    ledger = world.lake.read(PRIVACY_LEDGER.name).collect()
    assert sorted(r["table_name"] for r in ledger) == sorted([ITEM_SIMILARITY.name, CATEGORY_AFFINITY.name])
    assert {(r["mechanism"], r["epsilon"]) for r in ledger} == {("laplace", 8.0)}
    floor = world.config.similarity.cooccurrence.min_users
    behavioural = world.lake.read(ITEM_SIMILARITY.name).where(F.col("co_users").isNotNull())
    assert behavioural.where(F.col("co_users") < floor).count() == 0  # the crowd is judged on noisy counts


def test_missing_key_refuses_to_start(world: PrivateWorld, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv(world.config.privacy.key_env, raising=False)
    args = [a for o in (*TEST_OVERRIDES, *world.overrides) for a in ("--set", o)]
    assert cli.main(["run-all", *args]) == cli.EXIT_CONFIG_ERROR
    assert "no pseudonym key was found" in capsys.readouterr().err


def test_the_run_report_shows_pseudonyms_only(world: PrivateWorld, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv(world.config.privacy.key_env, KEY)
    args = [a for o in (*TEST_OVERRIDES, *world.overrides) for a in ("--set", o)]
    capsys.readouterr()
    assert cli.main(["report", *args]) == 0
    page = Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("run report: file://"))
    html = page.read_text()
    assert "pseudonyms (privacy.pseudonymise is on)" in html
    assert not re.search(RAW_ID_SHAPES, html)  # no raw id in lists, gaps, quality or stage metrics
    listed = {r[0] for r in world.lake.read(USER_CROSS_SELL.name).select(USER_ID).distinct().collect()}
    assert sum(f"User {u}</h3>" in html for u in listed) == 3  # the sampled users, by pseudonym


def fingerprint(df: DataFrame) -> tuple[int, int]:
    """Row count and an order-free checksum of every column: equal multisets give equal fingerprints."""
    row = df.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*df.columns).cast("decimal(38,0)"))).first()
    return int(row[0]), int(row[1] or 0)


def test_forget_removes_the_user_everywhere_and_nothing_else(
    world: PrivateWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, key = world.lake, KEY.encode()
    by_alias = {pseudonym(key, u): u for u in world.raw_users}
    listed = {r[0] for r in lake.read(USER_CROSS_SELL.name).select(USER_ID).distinct().collect()}
    quarantined = {r[0] for r in lake.read(EVENTS_QUARANTINE.name).select(USER_ID).distinct().collect()}
    alias = sorted(listed & quarantined or listed)[0]
    before = {t.name: lake.latest_version(t.name) for t in USER_TABLES if lake.exists(t.name)}

    monkeypatch.setenv(world.config.privacy.key_env, KEY)
    args = [a for o in (*TEST_OVERRIDES, *world.overrides) for a in ("--set", o)]
    assert cli.main(["forget", "--user", by_alias[alias], *args]) == 0

    for table in USER_TABLES:
        if table.name not in before:
            continue
        mine = F.col(table.column) == alias
        if table.only_where:
            mine = mine & F.expr(table.only_where)
        old = lake.read(table.name, before[table.name])
        others = old.where(~F.coalesce(mine, F.lit(False)))  # rows without a user id stay too
        assert fingerprint(lake.read(table.name)) == fingerprint(others), table.name
    assert before["events_clean"] is not None and lake.latest_version(EVENTS_CLEAN.name) == before["events_clean"] + 1
    log = lake.read(FORGET_LOG.name)
    assert {r["pseudonym"] for r in log.collect()} == {alias}
    deleted = {r["table_name"]: r["rows_deleted"] for r in log.collect()}
    assert deleted["events_clean"] > 0 and deleted["user_cross_sell"] > 0
    assert log.where(text_of(log).contains(by_alias[alias])).count() == 0  # never the raw id
    # serving exports: a new folder from the cleaned lists behind LATEST, the older one scrubbed
    exports = Exports(lake.spark, lake.root)
    assert len(exports.runs()) >= 2 and exports.manifest(str(exports.latest()))["made_by"] == "forget"
    served = list((Path(lake.root) / "_exports" / "runs").rglob("user_cross_sell/part-*.json"))
    assert served and not [part for part in served if alias in part.read_text()]
    pages = list((Path(lake.root) / "_reports" / "runs").glob("*/report.html"))  # the report test wrote one
    assert not [page for page in pages if alias in page.read_text()]  # a page that showed the user is gone


def test_forget_with_vacuum_leaves_no_file_holding_the_user(
    world: PrivateWorld, monkeypatch: pytest.MonkeyPatch, spark: SparkSession
) -> None:
    """With a deliberately short retention, --vacuum purges the old versions' files too: no Parquet
    file left under a user table (read directly, past the Delta log) holds the forgotten user."""
    lake = world.lake
    listed = sorted({r[0] for r in lake.read(USER_CROSS_SELL.name).select(USER_ID).distinct().collect()})
    forgotten = (
        {r["pseudonym"] for r in lake.read(FORGET_LOG.name).collect()} if lake.exists(FORGET_LOG.name) else set()
    )
    alias = next(u for u in reversed(listed) if u not in forgotten)
    by_alias = {pseudonym(KEY.encode(), u): u for u in world.raw_users}
    monkeypatch.setenv(world.config.privacy.key_env, KEY)
    short = ("maintenance.retention_hours=0", "maintenance.allow_short_retention=true")
    args = [a for o in (*TEST_OVERRIDES, *world.overrides, *short) for a in ("--set", o)]
    assert cli.main(["forget", "--user", by_alias[alias], "--vacuum", *args]) == 0

    for table in USER_TABLES:
        if not lake.exists(table.name):
            continue
        files = spark.read.parquet(lake.path(table.name))  # every data file, whichever version it belonged to
        assert files.where(F.col(table.column) == alias).count() == 0, table.name
        assert lake.read(table.name).where(F.col(table.column) == alias).count() == 0, table.name
