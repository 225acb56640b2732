"""Each ranking metric against values worked out by hand on three tiny queries.

q1: list a, b, c (rank 4 beyond k) ; relevant b, d   -> 1 hit at rank 2
q2: list x, y, z, w                ; relevant x, z   -> hits at ranks 1 and 3 (w is cut by k = 3)
q3: no list                        ; relevant m      -> scores 0 everywhere
"""

from __future__ import annotations

from math import log2

import pandas as pd
import pytest

from crosssell_spark.evaluation import metrics as M

K = 3
RECS = ["query_id", "item_id", "item_category", "rank", "score"]
TRUTH = ["query_id", "item_id", "item_category"]


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture(scope="module")
def recs() -> pd.DataFrame:
    rows = [
        ("q1", "a", "C1", 1, 0.9), ("q1", "b", "C2", 2, 0.8), ("q1", "c", "C1", 3, 0.7),
        ("q2", "x", "C3", 1, 0.9), ("q2", "y", "C3", 2, 0.5), ("q2", "z", "C3", 3, 0.4), ("q2", "w", "C4", 4, 0.3),
    ]  # fmt: skip
    return frame(rows, RECS)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    rows = [("q1", "b", "C2"), ("q1", "d", "C1"), ("q2", "x", "C3"), ("q2", "z", "C3"), ("q3", "m", "C2")]
    return frame(rows, TRUTH)


IDCG_2 = 1 + 1 / log2(3)
EXPECTED_PER_QUERY = {
    # query: (hits, hit_rate, precision, recall, ndcg, ap)
    "q1": (1, 1.0, 1 / 3, 1 / 2, (1 / log2(3)) / IDCG_2, (1 / 2) / 2),
    "q2": (2, 1.0, 2 / 3, 1.0, (1 + 1 / log2(4)) / IDCG_2, (1 / 1 + 2 / 3) / 2),
    "q3": (0, 0.0, 0.0, 0.0, 0.0, 0.0),
}


def test_per_query_metrics_match_hand_computed_values(recs: pd.DataFrame, truth: pd.DataFrame):
    rows = {q: r for q, r in M.per_query(recs, truth, K).iterrows()}
    assert set(rows) == {"q1", "q2", "q3"}  # q3 has no list and still counts
    for query, (hits, hit, precision, recall, ndcg, ap) in EXPECTED_PER_QUERY.items():
        row = rows[query]
        assert row["hits"] == hits
        assert row["hit_rate"] == pytest.approx(hit)
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["ndcg"] == pytest.approx(ndcg)
        assert row["map"] == pytest.approx(ap)


def test_accuracy_averages_over_every_query(recs: pd.DataFrame, truth: pd.DataFrame):
    result = {metric: (value, queries) for metric, value, queries in M.accuracy(recs, truth, K)}
    expected = {
        "hit_rate": 2 / 3,
        "precision": (1 / 3 + 2 / 3) / 3,
        "recall": (1 / 2 + 1) / 3,
        "ndcg": (EXPECTED_PER_QUERY["q1"][4] + EXPECTED_PER_QUERY["q2"][4]) / 3,
        "map": (0.25 + 5 / 6) / 3,
    }
    assert {m: v for m, (v, _) in result.items()} == pytest.approx(expected)
    assert {q for _, q in result.values()} == {3}


def test_ndcg_is_one_for_a_perfect_list():
    recs = frame([("q", "a", "C", 1, 1.0), ("q", "b", "C", 2, 0.5)], RECS)
    truth = frame([("q", "a", "C"), ("q", "b", "C")], TRUTH)
    row = M.per_query(recs, truth, 10).loc["q"]
    assert (row["ndcg"], row["map"], row["recall"], row["precision"]) == pytest.approx((1.0, 1.0, 1.0, 0.2))


def test_top_k_renumbers_gapped_ranks_and_drops_duplicates():
    recs = frame(
        [("q", "a", "C", 2, 0.9), ("q", "b", "C", 5, 0.5), ("q", "a", "C", 7, 0.1), ("q", "c", "C", 9, 0.0)], RECS
    )
    top = M.top_k(recs, 2)
    assert list(zip(top["item_id"], top["rank"], top["score"], strict=True)) == [("a", 1, 0.9), ("b", 2, 0.5)]


def test_catalogue_coverage_counts_distinct_items_in_the_top_k(recs: pd.DataFrame):
    assert M.catalogue_coverage(recs, 10, K) == pytest.approx(6 / 10)  # a b c x y z; w is rank 4


def test_intra_list_diversity_is_the_share_of_pairs_from_different_categories(recs: pd.DataFrame):
    # q1: C1, C2, C1 -> 2 of 3 pairs differ; q2: C3 x3 -> 0
    assert M.intra_list_diversity(recs, K) == pytest.approx((2 / 3 + 0) / 2)


def test_novelty_is_the_mean_self_information_of_shown_items(recs: pd.DataFrame):
    users = pd.Series({"a": 3, "b": 1})
    # a: -log2(4/4) = 0, b: -log2(2/4) = 1, c x y z unseen: -log2(1/4) = 2 each
    assert M.novelty(recs, users, n_users=3, k=K) == pytest.approx((0 + 1 + 2 * 4) / 6)


def test_per_category_hit_rate_judges_each_target_category(recs: pd.DataFrame, truth: pd.DataFrame):
    table = M.per_category_hit_rate(recs, truth, K)
    rows = {c: (v, q) for c, v, q in zip(table["category"], table["value"], table["queries"], strict=True)}
    # q1 finds its C2 item (b) but not its C1 item (d); q2 finds C3; q3 misses C2
    assert rows == {"C1": (0.0, 1), "C2": (0.5, 2), "C3": (1.0, 1)}


def test_bad_inputs_name_the_missing_columns(recs: pd.DataFrame, truth: pd.DataFrame):
    bad = frame([("q", "a")], ["query_id", "item_id"])
    with pytest.raises(ValueError, match=r"recs lacks columns \['rank'\]"):
        M.per_query(bad, truth, K)
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.top_k(recs, 0)
