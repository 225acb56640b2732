"""The cleaning stage end to end through the CLI on small files: publish, reconcile, rerun, fail safely."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from crosssell_spark import cli
from crosssell_spark.cleaning import stage as cleaning_stage
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.tables import EVENTS_CLEAN, EVENTS_QUARANTINE, ITEMS_QUARANTINE, RECONCILIATION
from tests.conftest import TEST_OVERRIDES

pytestmark = pytest.mark.integration

EVENTS_CSV = """user,sku,type,ts,session,qty,price
U1,S1,view,2026-10-01 10:00:00,a,1,9.99
U1,S1,view,2026-10-01 10:00:00,a,1,9.99
U1,S2,cart,2026-10-01 10:01:00,a,1,2.50
U1,S2,purchase,2026-10-01 10:02:00,a,1,2.50
U2,S1,view,2026-10-02 09:00:00,b,1,9.99
U2,S3,view,2026-10-02 09:01:00,b,1,
U2,S9,view,2026-10-02 09:02:00,b,1,1.00
,S1,view,2026-10-02 09:03:00,b,1,1.00
U3,S1,teleport,2026-10-02 09:04:00,c,1,1.00
U3,S1,view,yesterday,c,1,1.00
"""
ITEMS_CSV = """sku,name,dept,aisle,cost,stock
S1,  Galaxy   S23 ,Electronics,Phones,9.99,yes
S2,Galaxy S23 Case,Electronics,Cases,2.50,yes
S2,Galaxy S23 Case,Electronics,,2.50,yes
S3,Mug,,,,
S4,,Home,Kitchen,3.00,yes
"""


def clean_args(folder: Path) -> list[str]:
    """The small CSVs written into `folder` and the CLI arguments that clean them into `folder/lakehouse`."""
    (folder / "events.csv").write_text(EVENTS_CSV)
    (folder / "items.csv").write_text(ITEMS_CSV)
    overrides = [
        *TEST_OVERRIDES,
        f"lakehouse.root={folder / 'lakehouse'}",
        "input.source=files",
        f"input.events.path={folder / 'events.csv'}",
        "input.events.columns={user_id: user, item_id: sku, event_type: type, event_ts: ts, session_id: session,"
        " quantity: qty, price: price}",
        f"input.catalogue.path={folder / 'items.csv'}",
        "input.catalogue.columns={item_id: sku, title: name, price: cost, in_stock: stock}",
        "input.catalogue.category_columns=[dept, aisle]",
    ]
    return [arg for override in overrides for arg in ("--set", override)]


@pytest.fixture
def cli_args(tmp_path: Path) -> list[str]:
    return clean_args(tmp_path)


@pytest.fixture(scope="module")
def first_clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """`crosssell clean` once on the CSVs into an empty lakehouse: (that lakehouse, exit code, what it printed).
    A clean run costs tens of seconds whatever the input, so the tests start from copies of it."""
    folder = tmp_path_factory.mktemp("first-clean")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["clean", *clean_args(folder)])
    return folder / "lakehouse", code, printed.getvalue()


@pytest.fixture
def cleaned_once(first_clean: tuple[Path, int, str], tmp_path: Path, cli_args: list[str]) -> str:
    """This test's lakehouse as the first `crosssell clean` on its CSVs left it (a copy); returns what it printed."""
    lakehouse, code, printed = first_clean
    assert code == 0, printed
    shutil.copytree(lakehouse, tmp_path / "lakehouse")
    return printed


def rows_of(lake: Lakehouse, table: str) -> list[str]:
    """A table's rows as sorted text, without the per-run id, for before/after comparisons."""
    df = lake.read(table)
    return sorted(repr(tuple(r)) for r in df.drop(*[c for c in ("run_id",) if c in df.columns]).collect())


def lake_of(spark, tmp_path: Path) -> Lakehouse:
    return Lakehouse(spark, cli.load_config(overrides=[f"lakehouse.root={tmp_path / 'lakehouse'}"]).lakehouse)


def test_clean_publishes_reconciled_tables_and_reruns_idempotently(spark, tmp_path, cli_args, cleaned_once):
    out = cleaned_once
    assert "events_clean" in out and "items_clean" in out and "clean" in out

    lake = lake_of(spark, tmp_path)
    events = lake.read(EVENTS_CLEAN.name)
    assert sorted((r.user_id, r.item_id, r.event_type) for r in events.collect()) == [
        ("U1", "S1", "view"),
        ("U1", "S2", "cart"),
        ("U1", "S2", "purchase"),
        ("U2", "S1", "view"),
        ("U2", "S3", "view"),
    ]
    reasons = sorted(r.reason for r in lake.read(EVENTS_QUARANTINE.name).collect())
    assert reasons == ["bad_timestamp", "null_key", "unknown_event_type", "unknown_item"]
    assert sorted(r.reason for r in lake.read(ITEMS_QUARANTINE.name).collect()) == ["missing_title"]
    recon = {r.input_name: r for r in lake.read(RECONCILIATION.name).collect()}
    assert (
        recon["events"].rows_read,
        recon["events"].rows_clean,
        recon["events"].rows_quarantined,
        recon["events"].rows_duplicate,
        recon["events"].balanced,
    ) == (10, 5, 4, 1, True)
    assert (recon["items"].rows_read, recon["items"].rows_clean, recon["items"].rows_duplicate) == (5, 3, 1)
    events_path = lake.path(EVENTS_CLEAN.name)
    assert DeltaTable.forPath(spark, events_path).detail().first()["partitionColumns"] == ["event_date"]
    constraints = {r.key for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{events_path}`").collect()}
    assert "delta.constraints.quantity_positive" in constraints

    tables = ("events_clean", "items_clean", "categories", "events_quarantine")
    first = {t: rows_of(lake, t) for t in tables}
    versions = {t: lake.latest_version(t) for t in tables}
    assert cli.main(["clean", *cli_args]) == 0
    for table in tables:
        assert lake.latest_version(table) == versions[table] + 1
        assert rows_of(lake, table) == first[table]
    assert lake.read(RECONCILIATION.name).count() == 4  # audit rows accumulate, one pair per run


def test_a_stage_that_loses_rows_publishes_nothing(spark, tmp_path, cli_args, cleaned_once, monkeypatch, capsys):
    lake = lake_of(spark, tmp_path)
    before = {t: (lake.latest_version(t), rows_of(lake, t)) for t in ("events_clean", "items_clean")}

    real_clean_events = cleaning_stage.clean_events
    monkeypatch.setattr(cleaning_stage, "clean_events", lambda df, gap: real_clean_events(df, gap).limit(2))
    assert cli.main(["clean", *cli_args]) == cli.EXIT_STAGE_FAILED
    assert "reconciliation failed, nothing published" in capsys.readouterr().err
    after = {t: (lake.latest_version(t), rows_of(lake, t)) for t in before}
    assert after == before


def test_config_error_exits_2_naming_the_key(cli_args, capsys):
    assert cli.main(["clean", *cli_args, "--set", "cleaning.max_price=-1"]) == cli.EXIT_CONFIG_ERROR
    assert "cleaning.max_price" in capsys.readouterr().err


def test_a_stale_feed_fails_the_gate_and_leaves_published_tables_intact(
    spark, tmp_path, cli_args, cleaned_once, capsys
):
    lake = lake_of(spark, tmp_path)
    tables = ("events_clean", "items_clean", "events_quarantine")
    before = {t: (lake.latest_version(t), rows_of(lake, t)) for t in tables}

    stale = EVENTS_CSV.replace("2026-10-0", "2025-10-0")  # yesterday's feed replayed from a year ago
    (tmp_path / "events.csv").write_text(stale)
    code = cli.main(["clean", *cli_args, "--set", "quality.freshness_severity=critical"])
    assert code == cli.EXIT_STAGE_FAILED
    err = capsys.readouterr().err
    assert "quality gate failed" in err and "freshness" in err
    assert {t: (lake.latest_version(t), rows_of(lake, t)) for t in before} == before
