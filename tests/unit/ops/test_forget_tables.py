"""`crosssell forget` reaches every published table that holds user ids, and reads its id lists strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosssell_spark import tables
from crosssell_spark.ops.forget import REDACTED_COLUMNS, USER_TABLES, read_user_ids
from crosssell_spark.schemas import LIST_KEY, USER_ID
from crosssell_spark.tables import TableSpec

AUDIT_TABLES = {tables.FORGET_LOG.name}  # holds pseudonyms of forgotten users on purpose


def test_every_table_with_user_ids_is_forgotten() -> None:
    specs = [spec for spec in vars(tables).values() if isinstance(spec, TableSpec)]
    holding = {s.name for s in specs if {USER_ID, LIST_KEY} & set(s.schema.fieldNames())} - AUDIT_TABLES
    covered = {t.name for t in USER_TABLES}
    assert holding <= covered, f"tables with user ids that forget misses: {sorted(holding - covered)}"
    assert {name for name, _ in REDACTED_COLUMNS} == {tables.DQ_RESULTS.name}


def test_user_ids_from_options_and_file(tmp_path: Path) -> None:
    listing = tmp_path / "forget.txt"
    listing.write_text("# requests of 2026-11-28\nU1\n\n  U2  \nU1\n")
    assert read_user_ids([" U3 "], str(listing)) == ["U3", "U1", "U2"]
    with pytest.raises(ValueError, match="no user ids"):
        read_user_ids([], None)
