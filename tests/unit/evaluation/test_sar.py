"""The SAR baseline on tiny in-line rows: Jaccard over users, the minimum crowd, decay, eligibility, k."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.evaluation import sar as S
from crosssell_spark.evaluation.baselines import RECS_SCHEMA
from crosssell_spark.evaluation.tasks import bought
from tests.unit.evaluation.test_tasks_and_baselines import keys, lists

EVENTS = "user_id string, item_id string, event_type string, session_id string, event_ts timestamp"
ATTRIBUTES = "item_id string, item_category string"
BUY = ["cart", "purchase"]
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
DAY0 = datetime(2024, 1, 1, 12)


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def similarity(world: DataFrame, min_users: int = 1, neighbours: int = 5) -> dict[tuple[str, str], float]:
    pairs = S.sar_similarity(world, min_users, neighbours).collect()
    return {(r["item_id"], r["neighbour"]): r["jaccard"] for r in pairs}


@pytest.fixture(scope="module")
def lines(spark: SparkSession) -> DataFrame:
    """Buyers: A u1-u4,u6,u7 (6); B u1-u3,u5,u8 (5); C u3,u4; D u5; E u6-u8. u1 bought A and B in two sessions."""
    attributes = spark.createDataFrame([("A", "c1"), ("B", "c2"), ("C", "c2"), ("D", "c1"), ("E", "c3")], ATTRIBUTES)
    baskets = {
        "u1": [("s1", "A"), ("s2", "B")], "u2": [("s3", "A"), ("s3", "B")],
        "u3": [("s4", "A"), ("s4", "B"), ("s4", "C")], "u4": [("s5", "A"), ("s5", "C")],
        "u5": [("s6", "D"), ("s6", "B")], "u6": [("s7", "E"), ("s7", "A")], "u7": [("s8", "E"), ("s8", "A")],
        "u8": [("s9", "B"), ("s9", "E")],
    }  # fmt: skip
    rows = [(u, item, "purchase", s, day(0)) for u, held in baskets.items() for s, item in held]
    return bought(spark.createDataFrame(rows, EVENTS), BUY, attributes).cache()


def test_jaccard_is_over_distinct_users_not_baskets_and_skips_same_category_pairs(lines):
    # A-B: u1, u2, u3 (u1 in two sessions) of 6 + 5 buyers -> 3/8; A-C: 2 of 6 + 2 -> 1/3; A-E: 2 of 6 + 3
    # -> 2/7; B-D: u5 of 5 + 1 -> 1/5; B-E: u8 of 5 + 3 -> 1/7; B-C (u3) share category c2: never a pair
    assert similarity(lines) == {
        ("A", "B"): pytest.approx(3 / 8), ("B", "A"): pytest.approx(3 / 8),
        ("A", "C"): pytest.approx(1 / 3), ("C", "A"): pytest.approx(1 / 3),
        ("A", "E"): pytest.approx(2 / 7), ("E", "A"): pytest.approx(2 / 7),
        ("B", "D"): pytest.approx(1 / 5), ("D", "B"): pytest.approx(1 / 5),
        ("B", "E"): pytest.approx(1 / 7), ("E", "B"): pytest.approx(1 / 7),
    }  # fmt: skip
    co_users = {(r["item_id"], r["neighbour"]): r["co_users"] for r in S.sar_similarity(lines, 1, 5).collect()}
    assert co_users[("A", "B")] == 3


def test_min_users_floor_drops_pairs_below_it_without_changing_the_others(lines):
    # B-D (D has one buyer at all) and B-E (both have more, but only u8 bought both) go at a floor of 2;
    # the surviving pairs keep their Jaccard
    floored = similarity(lines, min_users=2)
    assert floored == {pair: j for pair, j in similarity(lines).items() if set(pair) not in ({"B", "D"}, {"B", "E"})}
    assert set(similarity(lines, min_users=3)) == {("A", "B"), ("B", "A")}


def test_neighbour_cap_keeps_each_items_most_similar(lines):
    assert {n for (i, n) in similarity(lines, neighbours=2) if i == "A"} == {"B", "C"}  # not E (2/7)


def test_anchor_list_is_its_jaccard_neighbours_eligible_only_and_at_most_k(spark, lines):
    sims = S.sar_similarity(lines, 1, 5)
    anchors = keys(
        spark,
        ("A", ["c1"], ["A"]),
        ("B", ["c2"], ["B", "A"]),  # A is an excluded item
        ("C", ["c2", "c1"], ["C"]),  # its only neighbour (A) is in an excluded category
        ("E", ["c3"], ["E"]),
    )
    recs = S.sar_top_k(anchors, S.anchor_affinity(anchors), sims, k=5)
    assert recs.columns == RECS_SCHEMA.fieldNames()
    assert lists(recs) == {"A": ["B", "C", "E"], "B": ["D", "E"], "E": ["A", "B"]}
    scores = {(r["key"], r["item_id"]): r["score"] for r in recs.collect()}
    assert scores[("A", "B")] == pytest.approx(3 / 8) and scores[("A", "E")] == pytest.approx(2 / 7)
    assert lists(S.sar_top_k(anchors, S.anchor_affinity(anchors), sims, k=2))["A"] == ["B", "C"]
    narrowed = keys(spark, ("A", ["c1", "c2"], ["A"]))
    assert lists(S.sar_top_k(narrowed, S.anchor_affinity(narrowed), sims, k=5)) == {"A": ["E"]}


def test_user_affinity_sums_event_weights_halved_every_half_life(spark):
    events = spark.createDataFrame(
        [("u", "P", "purchase", "s1", day(60)), ("u", "P", "view", "s0", day(0)), ("u", "Q", "purchase", "s0", day(30)),
         ("u", "R", "remove", "s1", day(60))],  # an event type without a weight counts nothing
        EVENTS,
    )  # fmt: skip
    affinity = S.user_affinity(events, WEIGHTS, half_life_days=30.0, reference_ts=day(60))
    assert {r["item_id"]: r["affinity"] for r in affinity.collect()} == {
        "P": pytest.approx(5.0 + 1.0 / 4), "Q": pytest.approx(5.0 / 2)
    }  # fmt: skip


@pytest.mark.parametrize(("p_day", "q_day", "expected"), [(0, 60, ["Y", "X"]), (60, 0, ["X", "Y"])])
def test_user_list_ranks_the_neighbours_of_a_recent_purchase_above_an_old_ones(spark, p_day, q_day, expected):
    """X is P's only neighbour, Y is Q's, both at Jaccard 2/3: only the age of u9's purchases differs."""
    attributes = spark.createDataFrame([("P", "c1"), ("Q", "c2"), ("X", "c3"), ("Y", "c4")], ATTRIBUTES)
    rows = [("u1", "P", 0), ("u1", "X", 0), ("u2", "P", 0), ("u2", "X", 0), ("u3", "Q", 0), ("u3", "Y", 0),
            ("u4", "Q", 0), ("u4", "Y", 0), ("u9", "P", p_day), ("u9", "Q", q_day)]  # fmt: skip
    events = spark.createDataFrame([(u, i, "purchase", f"{u}-{d}", day(d)) for u, i, d in rows], EVENTS)
    sims = S.sar_similarity(bought(events, BUY, attributes), min_users=2, neighbours=5)  # P-Q: u9 alone, dropped
    seeds = S.user_affinity(events, WEIGHTS, 30.0, day(60)).selectExpr("user_id AS key", "item_id", "affinity")
    user = keys(spark, ("u9", ["c1", "c2"], ["P", "Q"]))
    recs = S.sar_top_k(user, seeds, sims, k=5)
    assert lists(recs) == {"u9": expected}
    scores = sorted(r["score"] for r in recs.collect())
    assert scores == [pytest.approx(5 / 4 * 2 / 3), pytest.approx(5 * 2 / 3)]  # a(u9, i) * J(i, j)
    assert lists(S.sar_top_k(user, seeds, sims, k=1)) == {"u9": expected[:1]}
