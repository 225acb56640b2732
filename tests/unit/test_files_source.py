"""Your own files mapped onto the input contract by config."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosssell_spark.cli import EXIT_INPUT_ERROR, main
from crosssell_spark.schemas import RAW_EVENTS_SCHEMA, RAW_ITEMS_SCHEMA
from crosssell_spark.sources.files import read_raw
from tests.conftest import TEST_OVERRIDES, make_test_config


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_columns_are_renamed_and_category_levels_joined(spark, tmp_path):
    events = write(tmp_path / "clicks.csv", "customer,sku,action,time\nC1,S1,view,2026-10-01 10:00:00\n")
    items = write(tmp_path / "cat.csv", "sku,name,dept,aisle,cost\nS1,Pasta,Grocery,Pasta & Rice,1.20\nS2,Odd,,,\n")
    config = make_test_config(
        tmp_path / "lh",
        "input.source=files",
        f"input.events.path={events}",
        "input.events.columns={user_id: customer, item_id: sku, event_type: action, event_ts: time}",
        f"input.catalogue.path={items}",
        "input.catalogue.columns={item_id: sku, title: name, price: cost}",
        "input.catalogue.category_columns=[dept, aisle]",
    )
    raw = read_raw(spark, config.input)
    assert raw.events.schema == RAW_EVENTS_SCHEMA and raw.items.schema == RAW_ITEMS_SCHEMA
    assert raw.events.first().asDict() == {
        "user_id": "C1",
        "item_id": "S1",
        "event_type": "view",
        "event_ts": "2026-10-01 10:00:00",
        "session_id": None,
        "quantity": None,
        "price": None,
    }
    paths = {r["item_id"]: r["category_path"] for r in raw.items.collect()}
    assert paths == {"S1": "Grocery > Pasta & Rice", "S2": ""}


def test_other_path_separators_are_translated(spark, tmp_path):
    events = write(tmp_path / "e.json", '{"user_id": "U", "item_id": "I", "event_type": "view", "event_ts": "x"}\n')
    items = write(tmp_path / "i.csv", "item_id,title,category_path\nI,Phone,electronics.smartphone\n")
    config = make_test_config(
        tmp_path / "lh",
        "input.source=files",
        f"input.events.path={events}",
        "input.events.format=json",
        f"input.catalogue.path={items}",
        "input.catalogue.category_separator=.",
    )
    assert read_raw(spark, config.input).items.first()["category_path"] == "electronics > smartphone"


def test_a_mapped_column_that_is_absent_is_a_clear_error(spark, tmp_path):
    events = write(tmp_path / "e.csv", "u,i\n1,2\n")
    config = make_test_config(
        tmp_path / "lh",
        "input.source=files",
        f"input.events.path={events}",
        "input.events.columns={user_id: who}",
        f"input.catalogue.path={events}",
    )
    with pytest.raises(ValueError, match=r"configured source columns \['who'\] not found"):
        read_raw(spark, config.input)


def test_csv_is_read_the_rfc_4180_way_on_both_inputs_unless_configured_otherwise(spark, tmp_path):
    events = write(
        tmp_path / "e.csv",
        'user_id,item_id,event_type,event_ts\nU1,"I""1",view,2026-10-01 10:00:00\n"U\n2",I2,cart,2026-10-01 11:00:00\n',
    )
    items = write(
        tmp_path / "i.csv",
        'item_id,title,category_path\nI1,"24"" monitor, matte",Electronics\nI2,"Sofa\nthree-seater",Furniture\n',
    )
    paths = ["input.source=files", f"input.events.path={events}", f"input.catalogue.path={items}"]
    raw = read_raw(spark, make_test_config(tmp_path / "lh", *paths).input)
    titles = {r["item_id"]: (r["title"], r["category_path"]) for r in raw.items.collect()}
    assert titles == {"I1": ('24" monitor, matte', "Electronics"), "I2": ("Sofa\nthree-seater", "Furniture")}
    assert sorted((r["user_id"], r["item_id"]) for r in raw.events.collect()) == [("U\n2", "I2"), ("U1", 'I"1')]

    spark_defaults = "input.catalogue.options={header: true, multiLine: false, escape: '\\'}"
    legacy = read_raw(spark, make_test_config(tmp_path / "lh", *paths, spark_defaults).input)
    assert legacy.items.count() == 3  # a configured option still wins: the quoted line break splits the row


def test_a_missing_input_path_is_one_line_naming_it_and_exit_code_3(spark, tmp_path, capsys):
    items = write(tmp_path / "i.csv", "item_id,title,category_path\nI,Phone,electronics\n")
    settings = [
        *TEST_OVERRIDES, f"lakehouse.root={tmp_path / 'lh'}", "input.source=files",
        f"input.events.path={tmp_path / 'absent'}", f"input.catalogue.path={items}",
    ]  # fmt: skip
    capsys.readouterr()
    assert main(["clean", *[a for s in settings for a in ("--set", s)]]) == EXIT_INPUT_ERROR
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [f"crosssell: input.source=files: no such file or folder file:{tmp_path / 'absent'}"]
