"""The stream's user rewrites: exactly the batch's users replaced, a row of anyone else refused before
anything is written, and Delta's own row check skipped for that commit only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import FEATURES, HISTORY_ITEMS, RUN_ID, USER_ID, USER_IDX
from crosssell_spark.streaming.sink import REPLACE_WHERE_ROW_CHECK, DeltaSink, stray_users
from crosssell_spark.tables import USER_FACTORS


def factor_rows(spark, users: list[str], run_id: str):
    rows = pd.DataFrame(
        {
            USER_ID: users,
            USER_IDX: np.arange(1, len(users) + 1, dtype=np.int32),
            FEATURES: [np.full(2, n, np.float32) for n in range(len(users))],
            HISTORY_ITEMS: np.ones(len(users), np.int32),
            RUN_ID: run_id,
        }
    )
    return spark.createDataFrame(rows, USER_FACTORS.schema)


def stored(lake: Lakehouse) -> dict[str, str]:
    return {r[USER_ID]: r[RUN_ID] for r in lake.read(USER_FACTORS.name).collect()}


def test_stray_users_are_the_rows_of_anyone_else(spark):
    keys = spark.createDataFrame([("U1",), ("U2",)], f"{USER_ID} string")
    rows = factor_rows(spark, ["U1", "U3", "U2", "U3"], "r")
    assert sorted(r[USER_ID] for r in rows.transform(stray_users(keys)).collect()) == ["U3", "U3"]


def test_replace_users_rewrites_exactly_the_batchs_users_and_refuses_strays(spark, config_factory):
    config = config_factory()
    sink = DeltaSink(spark, config, Lakehouse(spark, config.lakehouse))
    lake = sink.lake
    sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1", "U2", "U3"], "first"), ["U1", "U2", "U3"], 0)
    assert stored(lake) == {"U1": "first", "U2": "first", "U3": "first"}

    # U2 is replaced by nothing (its rows go), U1 gets new rows, U3 is not in the batch and stays
    sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1"], "second"), ["U1", "U2"], 1)
    assert stored(lake) == {"U1": "second", "U3": "first"}
    assert spark.conf.get(REPLACE_WHERE_ROW_CHECK, None) is None  # the session's setting is back

    version = lake.latest_version(USER_FACTORS.name)
    with pytest.raises(ValueError, match="'U3', who is not among the users replaced"):
        sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1", "U3"], "third"), ["U1"], 2)
    assert lake.latest_version(USER_FACTORS.name) == version  # nothing written
    assert stored(lake) == {"U1": "second", "U3": "first"}
