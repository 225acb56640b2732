"""The split boundary, both tasks and every baseline on tiny in-line rows with hand-worked answers."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import EvaluationConfig
from crosssell_spark.evaluation import baselines as B
from crosssell_spark.evaluation.split import before, cut_from, from_cut
from crosssell_spark.evaluation.tasks import anchor_task, bought, user_task

EVENTS = "user_id string, item_id string, event_type string, session_id string, event_ts timestamp"
ATTRIBUTES = "item_id string, item_category string"
BUY = ["cart", "purchase"]


def evaluation_config(**update: object) -> EvaluationConfig:
    base = {"last_days": 7, "k": 10, "basket_event_types": BUY, "min_basket_categories": 2,
            "popularity_pool": 5, "cooccurrence_neighbours": 5, "seed": 1}  # fmt: skip
    return EvaluationConfig.model_validate({**base, **update})


@pytest.fixture(scope="module")
def attributes(spark: SparkSession) -> DataFrame:
    rows = [("A", "c1"), ("B", "c2"), ("C", "c2"), ("D", "c1"), ("E", "c1"), ("F", "c3"), ("G", "c1")]
    return spark.createDataFrame(rows, ATTRIBUTES)


def ts(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 1, day, hour)


def test_cut_is_midnight_of_the_first_held_out_day_or_the_configured_date():
    assert cut_from(evaluation_config(last_days=1), date(2017, 6, 30)) == datetime(2017, 6, 30)
    assert cut_from(evaluation_config(last_days=7), date(2024, 1, 31)) == datetime(2024, 1, 25)
    assert cut_from(evaluation_config(cut_date="2024-01-10"), date(2024, 1, 31)) == datetime(2024, 1, 10)


def test_an_event_at_the_cut_is_held_out_never_trained_on(spark: SparkSession):
    cut = datetime(2024, 1, 10)
    rows = [("u", "A", "purchase", "s", t) for t in (datetime(2024, 1, 9, 23, 59, 59), cut, datetime(2024, 1, 11))]
    events = spark.createDataFrame(rows, EVENTS)
    assert [r["event_ts"] for r in events.transform(before(cut)).collect()] == [datetime(2024, 1, 9, 23, 59, 59)]
    assert sorted(r["event_ts"] for r in events.transform(from_cut(cut)).collect()) == [cut, datetime(2024, 1, 11)]


def test_anchor_task_pairs_each_basket_item_with_the_basket_items_of_other_categories(spark, attributes):
    held_out = spark.createDataFrame(
        [
            ("u1", "A", "purchase", "s1", ts(20)), ("u1", "B", "cart", "s1", ts(20)),
            ("u1", "C", "purchase", "s1", ts(20)), ("u1", "F", "view", "s1", ts(20)),  # a view is not bought
            ("u2", "D", "purchase", "s2", ts(21)), ("u2", "E", "purchase", "s2", ts(21)),  # one category only
        ],
        EVENTS,
    )  # fmt: skip
    task = anchor_task(held_out, attributes, BUY, min_categories=2)
    truth = {(r["query_id"], r["item_id"]) for r in task.truth.collect()}
    assert truth == {("u1|s1#A", "B"), ("u1|s1#A", "C"), ("u1|s1#B", "A"), ("u1|s1#C", "A")}
    queries = {r["query_id"]: (r["key"], r["excluded_categories"], r["excluded_items"]) for r in task.queries.collect()}
    assert queries["u1|s1#A"] == ("A", ["c1"], ["A"])
    assert set(queries) == {"u1|s1#A", "u1|s1#B", "u1|s1#C"}
    sampled = anchor_task(held_out, attributes, BUY, min_categories=2, max_queries=2, seed=7)
    assert sampled.queries.count() == 2
    assert {r["query_id"] for r in sampled.truth.collect()} <= {r["query_id"] for r in sampled.queries.collect()}


def test_user_task_keeps_only_held_out_purchases_in_categories_new_to_a_known_user(spark, attributes):
    training = spark.createDataFrame(
        [("u1", "A", "purchase", "s1", ts(1)), ("u1", "F", "view", "s1", ts(1)), ("u2", "D", "purchase", "s2", ts(2))],
        EVENTS,
    )
    held_out = spark.createDataFrame(
        [
            ("u1", "B", "purchase", "s3", ts(20)),  # c2: new to u1 -> relevant
            ("u1", "G", "purchase", "s3", ts(20)),  # c1: u1 bought A there
            ("u1", "F", "purchase", "s3", ts(20)),  # c3: u1 viewed F in training, so c3 is known
            ("u2", "E", "purchase", "s4", ts(20)),  # c1: known to u2 -> u2 has nothing to find
            ("u3", "B", "purchase", "s5", ts(20)),  # u3 has no training history
        ],
        EVENTS,
    )
    task = user_task(training, held_out, attributes, BUY)
    assert [(r["query_id"], r["item_id"]) for r in task.truth.collect()] == [("u1", "B")]
    (query,) = task.queries.collect()
    assert (query["key"], sorted(query["excluded_categories"]), query["excluded_items"]) == ("u1", ["c1", "c3"], ["A"])


@pytest.fixture(scope="module")
def lines(spark: SparkSession, attributes: DataFrame) -> DataFrame:
    """Training baskets: A+B three times (3 users), A+C once, D+B once, E alone twice."""
    rows = [
        ("u1", "A", "purchase", "s1", ts(1)), ("u1", "B", "purchase", "s1", ts(1)),
        ("u2", "A", "purchase", "s2", ts(1)), ("u2", "B", "purchase", "s2", ts(1)),
        ("u3", "A", "purchase", "s3", ts(1)), ("u3", "B", "purchase", "s3", ts(1)), ("u3", "C", "cart", "s3", ts(1)),
        ("u4", "D", "purchase", "s4", ts(1)), ("u4", "B", "purchase", "s4", ts(1)),
        ("u5", "E", "purchase", "s5", ts(1)), ("u6", "E", "purchase", "s6", ts(1)),
    ]  # fmt: skip
    return bought(spark.createDataFrame(rows, EVENTS), BUY, attributes).cache()


KEYS = "key string, excluded_categories array<string>, excluded_items array<string>"


def keys(spark: SparkSession, *rows: tuple[str, list[str], list[str]]) -> DataFrame:
    return spark.createDataFrame(list(rows), KEYS)


def lists(recs: DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in recs.orderBy("key", "rank").collect():
        out.setdefault(r["key"], []).append(r["item_id"])
    return out


def test_popularity_baselines_rank_by_distinct_buyers(spark, lines):
    popularity = B.item_users(lines)  # B: 4 users, A: 3, E: 2, C: 1, D: 1
    anchors = keys(spark, ("A", ["c1"], ["A"]), ("B", ["c2"], ["B"]))
    assert lists(B.global_popularity(anchors, popularity, k=3, pool=2)) == {"A": ["B", "E", "C"], "B": ["A", "E", "C"]}
    # eligible: the anchor's own category is out
    assert lists(B.eligible_popularity(anchors, popularity, k=3)) == {"A": ["B", "C"], "B": ["A", "E", "D"]}


def test_cooccurrence_baseline_counts_shared_baskets_across_categories(spark, lines):
    neighbours = B.cooccurrence_neighbours(B.cooccurrence_pairs(lines), neighbours=5)
    pairs = {(r["item_id"], r["neighbour"]): r["co_baskets"] for r in neighbours.collect()}
    assert pairs == {("A", "B"): 3, ("B", "A"): 3, ("A", "C"): 1, ("C", "A"): 1, ("D", "B"): 1, ("B", "D"): 1}
    anchors = keys(spark, ("A", ["c1"], ["A"]), ("E", ["c1"], ["E"]))
    seeds = anchors.selectExpr("key", "key AS item_id")
    assert lists(B.cooccurrence(anchors, seeds, neighbours, k=5)) == {"A": ["B", "C"]}  # E was never co-bought
    # a user seeded with A and D: B scores 3 + 1, C scores 1; excluded categories still apply
    user = keys(spark, ("u9", ["c1"], ["A", "D"]))
    user_seeds = spark.createDataFrame([("u9", "A"), ("u9", "D")], "key string, item_id string")
    recs = B.cooccurrence(user, user_seeds, neighbours, k=5)
    assert [(r["item_id"], r["score"]) for r in recs.orderBy("rank").collect()] == [("B", 4.0), ("C", 1.0)]


def test_cooccurrence_floor_keeps_only_pairs_enough_shoppers_share(spark, lines):
    floored = B.cooccurrence_neighbours(B.cooccurrence_pairs(lines), neighbours=5, min_users=3)
    assert {(r["item_id"], r["neighbour"]) for r in floored.collect()} == {("A", "B"), ("B", "A")}  # 3 shoppers


def test_als_baseline_ranks_by_cosine_or_dot_and_skips_excluded(spark):
    items = spark.createDataFrame(
        [("A", "c1", [1.0, 0.0]), ("B", "c2", [0.9, 0.1]), ("C", "c2", [0.0, 5.0]), ("D", "c1", [1.0, 0.05]),
         ("F", "c3", [2.0, 2.0])],
        "item_id string, item_category string, features array<float>",
    )  # fmt: skip
    anchor = keys(spark, ("A", ["c1"], ["A"]))
    vectors = spark.createDataFrame([("A", [1.0, 0.0])], "key string, features array<float>")
    cosine = B.als_top_k(anchor, vectors, items, k=3, cosine=True)
    assert lists(cosine) == {"A": ["B", "F", "C"]}  # D is in the anchor's category; C is orthogonal
    user = keys(spark, ("u", ["c3"], ["B"]))
    user_vector = spark.createDataFrame([("u", [0.0, 1.0])], "key string, features array<float>")
    dot = B.als_top_k(user, user_vector, items, k=2, cosine=False)
    assert [(r["item_id"], r["score"]) for r in dot.orderBy("rank").collect()] == [
        ("C", pytest.approx(5.0)), ("D", pytest.approx(0.05))
    ]  # fmt: skip
