"""The stream's new user ids beside the batch stage's: its driver copy and its user_factors rows hold
the ids actually written, whether its first plan went in or was planned again."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosssell_spark.interest.id_maps import assign_ids
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import FEATURES, HISTORY_ITEMS, RUN_ID, USER_ID, USER_ID_MAP_SCHEMA, USER_IDX
from crosssell_spark.streaming.batch import StreamBatchWriter
from crosssell_spark.tables import USER_FACTORS, USER_ID_MAP


def table_ids(lake: Lakehouse) -> dict[str, int]:
    rows = lake.read(USER_ID_MAP.name).collect()
    assert len({r[USER_IDX] for r in rows}) == len({r[USER_ID] for r in rows}) == len(rows)
    return {r[USER_ID]: r[USER_IDX] for r in rows}


def test_the_copy_follows_a_first_plan_and_forgets_after_a_replan(spark, config_factory):
    config = config_factory()
    assert config.streaming.refresh and config.streaming.history_cache_events > 0  # the driver copy is on
    writer = StreamBatchWriter(spark, config)
    lake = writer.lake
    lake.ensure_table(USER_ID_MAP)
    lake.append(USER_ID_MAP, spark.createDataFrame([("U1", 1, "batch-0"), ("U2", 2, "batch-0")], USER_ID_MAP_SCHEMA))
    start = lake.latest_version(USER_ID_MAP.name)
    assert start is not None

    # batch 1: nobody else writes; the copy moves along with the stream's own commit
    _, first_seen, plan = writer._user_ids(["U1", "U-s1"], "stream-q-1")
    assert plan is not None and plan.version == start and list(first_seen[USER_IDX]) == [3]
    written: dict[str, int] = {}
    writer._add_user_ids(plan, first_seen, "stream-q-1", written)
    assert written == {} and writer.user_ids.version == start + 1 and writer.user_ids.ids["U-s1"] == 3

    # batch 2: planned from the copy, then the batch stage commits U-both (and U-b) first
    ids, first_seen, plan = writer._user_ids(["U1", "U-s2", "U-both"], "stream-q-2")
    assert plan is not None and dict(zip(first_seen[USER_ID], first_seen[USER_IDX], strict=True)) == {
        "U-both": 4,
        "U-s2": 5,
    }
    batch_keys = spark.createDataFrame([("U-b",), ("U-both",)], f"{USER_ID} string")
    assert assign_ids(lake, USER_ID_MAP, batch_keys, USER_ID, USER_IDX, "batch-1").retries == []
    written = {}
    writer._add_user_ids(plan, first_seen, "stream-q-2", written)

    published = table_ids(lake)
    assert published == {"U1": 1, "U2": 2, "U-s1": 3, "U-b": 4, "U-both": 5, "U-s2": 6}
    assert written == {"U-both": 5, "U-s2": 6}  # both differ from the plan (4, 5)
    assert writer.user_ids.version is None and writer.user_ids.ids == {}  # forgotten: read again next batch

    # the batch's user_factors rows were built with the planned ids; they are written with the real ones
    planned = ids.set_index(USER_ID)[USER_IDX]
    factors = pd.DataFrame(
        {
            USER_ID: ["U1", "U-s2", "U-both"],
            USER_IDX: planned.loc[["U1", "U-s2", "U-both"]].to_numpy(np.int32),
            FEATURES: [np.ones(2, np.float32)] * 3,
            HISTORY_ITEMS: np.ones(3, np.int32),
            RUN_ID: "stream-q-2",
        }
    )
    df = spark.createDataFrame(factors, USER_FACTORS.schema)
    writer.sink.replace_users(USER_FACTORS, df, ["U1", "U-s2", "U-both"], 2, written)
    stored = {r[USER_ID]: r[USER_IDX] for r in lake.read(USER_FACTORS.name).collect()}
    assert stored == {u: published[u] for u in ("U1", "U-s2", "U-both")}

    # batch 3: the copy is read again and serves the ids that were written
    ids, first_seen, plan = writer._user_ids(["U-s2", "U-both"], "stream-q-3")
    assert plan is None and first_seen.empty
    assert dict(zip(ids[USER_ID], ids[USER_IDX], strict=True)) == {"U-s2": 6, "U-both": 5}
    assert writer.user_ids.version == lake.latest_version(USER_ID_MAP.name)
