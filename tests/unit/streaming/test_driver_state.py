"""The stream's driver-side copies of published events and user ids: served only while exact."""

from __future__ import annotations

import pandas as pd

from crosssell_spark.schemas import EVENT_ID, EVENT_TS, EVENT_TYPE, ITEM_ID, USER_ID, USER_IDX
from crosssell_spark.streaming.driver_state import PublishedHistory, UserIds

COLUMNS = [USER_ID, ITEM_ID, EVENT_ID]


def events(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def test_only_users_with_published_rows_are_read_and_then_served_from_the_driver() -> None:
    history = PublishedHistory(COLUMNS, max_events=100)
    history.reset(7, ["old-1", "old-2"])

    cached, to_read = history.split(["old-1", "new-1"])
    assert cached.empty and to_read == ["old-1"]  # new-1 has no published row: nothing to read
    history.add_read(["old-1"], events(("old-1", "i1", "e1"), ("old-1", "i2", "e2")))

    cached, to_read = history.split(["old-1", "new-1"])
    assert to_read == [] and sorted(cached[EVENT_ID]) == ["e1", "e2"]
    _, to_read = history.split(["old-2"])
    assert to_read == ["old-2"]


def test_an_own_commit_advances_the_copy_with_the_committed_rows() -> None:
    history = PublishedHistory(COLUMNS, max_events=100)
    history.reset(7, ["old-1"])
    history.split(["old-1", "new-1"])
    history.add_read(["old-1"], events(("old-1", "i1", "e1")))

    history.committed(7, 8, events(("old-1", "i3", "e3"), ("new-1", "i4", "e4")))

    assert history.version == 8 and "new-1" in history.published_users
    cached, to_read = history.split(["old-1", "new-1"])
    assert to_read == [] and sorted(cached[EVENT_ID]) == ["e1", "e3", "e4"]


def test_any_other_commit_empties_the_copy() -> None:
    history = PublishedHistory(COLUMNS, max_events=100)
    history.reset(7, ["old-1"])
    history.split(["old-1"])
    history.add_read(["old-1"], events(("old-1", "i1", "e1")))

    history.committed(7, 9, events(("old-1", "i3", "e3")))  # someone else committed version 8

    assert history.version is None and history.rows.empty and not history.cached
    ids = UserIds()
    ids.reset(3, pd.DataFrame({USER_ID: ["a"], USER_IDX: [1]}))
    ids.committed(3, 3, pd.DataFrame({USER_ID: ["b"], USER_IDX: [2]}))  # the append was skipped (a replay)
    assert ids.version is None and ids.ids == {}


def test_the_users_touched_longest_ago_are_evicted_first() -> None:
    history = PublishedHistory(COLUMNS, max_events=4)
    history.reset(1, ["a", "b", "c"])
    for user in ("a", "b", "c"):
        history.split([user])
        history.add_read([user], events((user, "i1", f"{user}1"), (user, "i2", f"{user}2")))

    history.committed(1, 2, events(("c", "i3", "c3")))  # 7 rows > 4: keep the newest users within 90 %

    assert set(history.cached) == {"c"} and len(history.rows) == 3
    _, to_read = history.split(["a", "c"])
    assert to_read == ["a"]  # evicted, so read again (it still has published rows)


def test_user_ids_number_after_the_largest_and_follow_own_appends() -> None:
    ids = UserIds()
    ids.reset(3, pd.DataFrame({USER_ID: ["a", "b"], USER_IDX: [1, 5]}))
    known, unseen = ids.lookup(["b", "z"])
    assert known.to_dict("records") == [{USER_ID: "b", USER_IDX: 5}] and unseen == ["z"] and ids.largest == 5

    ids.committed(3, 4, pd.DataFrame({USER_ID: ["z"], USER_IDX: [6]}))

    assert ids.version == 4 and ids.lookup(["z"])[1] == [] and ids.largest == 6


def test_a_heavy_users_copy_keeps_what_a_refresh_needs_and_reads_again_for_an_old_event() -> None:
    columns = [USER_ID, EVENT_ID, EVENT_TYPE, EVENT_TS]
    ts = pd.Timestamp("2026-11-01 10:00:00")
    history = PublishedHistory(columns, max_events=1000, per_user=4)
    history.reset(1, ["a"])
    history.split(["a"])
    read = [("a", f"e{n}", "view", ts + pd.Timedelta(minutes=n)) for n in range(10)]
    history.add_read(["a"], pd.DataFrame(read, columns=columns))

    assert sorted(history.rows[EVENT_ID]) == ["e6", "e7", "e8", "e9"] and history.horizon["a"] == read[5][3]
    newer = {"a": ts + pd.Timedelta(minutes=20)}
    cached, to_read = history.split(["a"], newer)
    assert to_read == [] and len(cached) == 4  # every row after the horizon is there: served
    history.committed(1, 2, pd.DataFrame([("a", "e20", "view", newer["a"])], columns=columns))
    assert len(history.rows) == 5  # within the slack: not trimmed again yet

    older = {"a": read[3][3]}  # the batch reaches back past what the copy let go (a replay, perhaps)
    cached, to_read = history.split(["a"], older)
    assert cached.empty and to_read == ["a"] and "a" not in history.horizon  # the whole history is read
