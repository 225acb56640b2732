"""The learnt ranker: the time split keeps labels out of features, labels, the fit, its guard and scoring."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig
from crosssell_spark.crosssell.lists import CONFIGURED, LEARNT, POPULARITY_ONLY, ListSpec, blend, finish
from crosssell_spark.crosssell.ranker import FEATURES, Ranker, RankerParams, feature_matrix
from crosssell_spark.ranking.training import (
    BASKET,
    FOLD,
    LABEL,
    POSITIVES,
    _fit,
    anchor_labels,
    canonical,
    cross_fitted,
    fit_and_guard,
    informative,
    key_quality,
    label_split,
    servable,
)
from crosssell_spark.schemas import EVENTS_CLEAN_SCHEMA, ITEM_ID, RANK, SCORE, USER_ID
from crosssell_spark.similarity.cooccurrence import KEY_A, KEY_B, basket_items, pair_statistics
from tests.conftest import make_test_config
from tests.unit.similarity.test_cooccurrence import CATEGORY_IDS, items

T0 = datetime(2026, 10, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> AppConfig:
    return make_test_config(tmp_path_factory.mktemp("lh"))


def baskets(spark: SparkSession, rows: list[tuple[str, str, int, list[str]]]):
    """(user, session, day, items bought) -> events_clean rows, one purchase per item."""
    events = [
        (f"{user}-{session}-{item}", user, item, "purchase", T0 + timedelta(days=day, minutes=n), session, 1, 1.0,
         (T0 + timedelta(days=day)).date())
        for user, session, day, bought in rows
        for n, item in enumerate(bought)
    ]  # fmt: skip
    return spark.createDataFrame(events, EVENTS_CLEAN_SCHEMA)


# A phone (A) and a case (B) sell together all month; the pasta (D) and the case (B) are only ever
# bought together in the two newest baskets: a pair of the label part.
MONTH = [(f"u{n}", "s1", n, ["A", "B"]) for n in range(8)] + [
    ("u8", "s2", 20, ["D", "B"]),
    ("u9", "s2", 21, ["D", "B"]),
]


def test_the_share_split_keeps_the_newest_baskets_and_their_pairs_out_of_the_early_part(spark, config):
    cfg = config.crosssell.ranker.model_copy(update={"label_window": "share", "label_share": 0.15})
    early, lines = label_split(cfg, ["cart", "purchase"])(baskets(spark, MONTH))
    assert sorted({r[BASKET] for r in lines.collect()}) == ["u8|s2", "u9|s2"]
    assert early.count() == 16 and early.agg({"event_ts": "max"}).first()[0] < T0 + timedelta(days=20)
    pairs = pair_statistics(early.transform(basket_items(config.similarity.cooccurrence, items(spark), 2)))
    seen = {(r[KEY_A], r[KEY_B]) for r in pairs.collect()}
    assert ("A", "B") in seen and ("B", "D") not in seen  # the future pair reaches no early statistic


def test_the_last_basket_split_holds_out_each_shoppers_newest_basket_only(spark, config):
    cfg = config.crosssell.ranker.model_copy(update={"label_window": "last_basket"})
    rows = [("u1", "s1", 0, ["A"]), ("u1", "s2", 5, ["B", "D"]), ("u2", "s1", 9, ["A", "B"])]
    early, lines = label_split(cfg, ["purchase"])(baskets(spark, rows))
    assert sorted((r[USER_ID], r[ITEM_ID]) for r in early.collect()) == [("u1", "A")]
    assert sorted((r[BASKET], r[ITEM_ID]) for r in lines.collect()) == [
        ("u1|s2", "B"), ("u1|s2", "D"), ("u2|s1", "A"), ("u2|s1", "B"),
    ]  # fmt: skip


def test_anchors_and_positives_come_from_label_baskets_of_two_or_more_categories(spark, config):
    lines = spark.createDataFrame(
        [("b1", "u1", "A"), ("b1", "u1", "B"), ("b1", "u1", "C"), ("b2", "u2", "D")],
        f"{BASKET} string, user_id string, item_id string",
    )
    attributes = spark.createDataFrame(
        [(i, CATEGORY_IDS[c][1]) for i, c in {"A": "phones", "B": "cases", "C": "cases", "D": "pasta"}.items()],
        "item_id string, item_category string",
    )
    anchors, positives = anchor_labels(lines, attributes, config.crosssell.ranker)
    assert sorted(r["anchor_item_id"] for r in anchors.collect()) == ["A", "B", "C"]  # b2 spans one category
    assert sorted((r["anchor_item_id"], r[ITEM_ID]) for r in positives.collect()) == [
        ("A", "B"), ("A", "C"), ("B", "A"), ("C", "A"),
    ]  # fmt: skip
    again, _ = anchor_labels(lines, attributes, config.crosssell.ranker)
    assert sorted(map(tuple, anchors.collect())) == sorted(map(tuple, again.collect()))  # seeded folds
    assert {r[FOLD] for r in anchors.collect()} <= set(range(config.crosssell.ranker.folds))


# --- fit, guard and scoring on in-line candidate rows ---------------------------------------------


def candidate_frame(anchors: int, seed: int, planted: bool = True) -> pd.DataFrame:
    """`anchors` anchors x 30 candidates of four categories; with `planted`, taken exactly when the
    ALS cosine is high and the item is not popular (what neither the weights nor popularity order by)."""
    rng = np.random.default_rng(seed)
    n = anchors * 30
    als, popularity, content = rng.random(n), rng.random(n), rng.random(n)
    label = ((als > 0.75) & (popularity < 0.4)).astype(int) if planted else (rng.random(n) < 0.01).astype(int)
    source = np.where(rng.random(n) < 0.5, "neighbour", "popular")
    return pd.DataFrame(
        {
            "anchor_item_id": np.repeat([f"a{k}" for k in range(anchors)], 30),
            "item_id": [f"i{k}" for k in range(n)],
            "item_category": [f"c{k % 4 + 1}" for k in range(n)],
            "anchor_category": "c0",
            "source": source,
            "source_priority": np.where(source == "neighbour", 1, 3),
            "jaccard": content, "confidence": 0.0, "lift": None, "co_users": 50, "is_content": True,
            "is_behavioural": False, "item_price": 1.0, "anchor_price": 1.0, "item_in_stock": True,
            "item_title": "t", "anchor_title": "t", "item_users": (popularity * 100).astype(int), "category_users": 50,
            "content_score": content, "semantic_score": 0.0, "cooccurrence_score": 0.0, "lift_score": 0.0,
            "category_affinity_score": 0.0,
            "als_score": als, "popularity_score": popularity,
            LABEL: label,
            POSITIVES: np.repeat(pd.Series(label).groupby(np.arange(n) // 30).sum().to_numpy(), 30),
            FOLD: np.repeat(rng.integers(0, 3, anchors), 30),
        }
    )  # fmt: skip


def fitted(anchors: int, seed: int, trees: int) -> tuple[pd.DataFrame, Ranker]:
    """A candidate frame and a small ranker fitted on it."""
    frame = candidate_frame(anchors, seed)
    keys = frame["anchor_item_id"].to_numpy()
    features = feature_matrix(frame, "anchor_item_id")
    return frame, Ranker.fit(features, frame[LABEL].to_numpy(float), keys, RankerParams(num_trees=trees))


def test_the_learnt_score_wins_the_guard_when_it_finds_what_the_weights_miss(config):
    spec = ListSpec.items(config.crosssell)
    outcome = fit_and_guard(candidate_frame(400, seed=1), spec, config.crosssell.ranker)
    assert outcome.scorer == LEARNT and outcome.ranker is not None
    learnt = outcome.quality[LEARNT]
    assert (
        learnt["ndcg"] > outcome.quality[CONFIGURED]["ndcg"]
        and learnt["ndcg"] > outcome.quality[POPULARITY_ONLY]["ndcg"]
    )
    assert learnt["hit_rate"] > 0.9
    top = sorted(outcome.ranker.importances().items(), key=lambda kv: -kv[1])[:2]
    assert top[0][0] == "als_score" or top[1][0] == "als_score"
    assert {name for name, _ in top} - {"als_score"} <= {"popularity_score", "log_item_users"}  # the same signal


def test_below_min_positives_no_model_is_fitted_and_the_better_fallback_scores(config):
    spec = ListSpec.items(config.crosssell)
    outcome = fit_and_guard(candidate_frame(60, seed=2, planted=False), spec, config.crosssell.ranker)
    assert outcome.ranker is None and outcome.scorer in (CONFIGURED, POPULARITY_ONLY)
    assert "min_positives" in outcome.reason and outcome.counts.train_positives < config.crosssell.ranker.min_positives


def test_a_learnt_score_that_is_not_better_beyond_noise_does_not_ship(config):
    # enough positives to fit, but labels drawn at random: whatever the fit finds is noise
    outcome = fit_and_guard(candidate_frame(2000, seed=5, planted=False), ListSpec.items(config.crosssell),
                            config.crosssell.ranker)  # fmt: skip
    assert outcome.ranker is not None and outcome.counts.train_positives >= config.crosssell.ranker.min_positives
    assert outcome.scorer in (CONFIGURED, POPULARITY_ONLY) and "beyond noise" in outcome.reason


def test_the_guard_scores_every_key_by_a_model_that_never_saw_it(config):
    # random labels that a model fitted on them memorises: in sample its lists look better than the
    # weights', out of fold (what the guard measures) they are no better than chance
    spec, cfg = ListSpec.items(config.crosssell), config.crosssell.ranker
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"min_data_in_leaf": 1, "num_leaves": 63})})
    frame = servable(canonical(candidate_frame(600, seed=8, planted=False), "anchor_item_id"), spec)
    memorised = _fit(frame, spec, cfg)
    in_sample = key_quality(frame, spec.scored_by(LEARNT, memorised), memorised.score(frame, "anchor_item_id"))
    out_of_fold = cross_fitted(frame, spec, cfg)
    configured = key_quality(frame, spec.scored_by(CONFIGURED), blend(frame, spec.weights).to_numpy())
    assert in_sample["ndcg"].mean() > 2 * configured["ndcg"].mean()
    assert out_of_fold["ndcg"].mean() < 1.5 * configured["ndcg"].mean()
    assert len(out_of_fold) == len(in_sample)  # every key with a positive is judged, in some fold


def test_the_same_data_and_seed_give_the_same_model(config):
    frame = candidate_frame(100, seed=3)
    params = RankerParams(num_trees=30, seed=7)
    features, labels, keys = (
        feature_matrix(frame, "anchor_item_id"),
        frame[LABEL].to_numpy(float),
        frame["anchor_item_id"],
    )
    first = Ranker.fit(features, labels, keys.to_numpy(), params)
    second = Ranker.fit(features, labels, keys.to_numpy(), params)
    assert first.model_text == second.model_text
    shipped = pickle.loads(pickle.dumps(first))  # as Spark ships it to a task: the text, not the C++ handle
    np.testing.assert_array_equal(shipped.score(frame, "anchor_item_id"), first.score(frame, "anchor_item_id"))


def test_a_learnt_spec_scores_by_the_model_and_ranks_by_score_alone(config):
    frame, ranker = fitted(50, seed=4, trees=30)
    one = frame[frame["anchor_item_id"] == "a0"].drop(columns=[LABEL, POSITIVES, FOLD])
    spec = ListSpec.items(config.crosssell).scored_by(LEARNT, ranker)
    names = pd.DataFrame({"item_category": [], "category_name": []})
    shares = pd.DataFrame({"item_category": [], "category_share": []})
    lists, _ = finish(one, spec, shares, names)
    expected = dict(zip(one[ITEM_ID], ranker.score(one, "anchor_item_id"), strict=True))
    assert all(0 < s < 1 for s in lists[SCORE])
    assert all(abs(expected[i] - s) < 1e-12 for i, s in zip(lists[ITEM_ID], lists[SCORE], strict=True))
    # the evidence tier no longer leads: scores fall down the list (past the category openers)
    opened = lists[lists[RANK] > 3]
    assert list(opened[SCORE]) == sorted(opened[SCORE], reverse=True)
    assert set(lists["source"]) == {"neighbour", "popular"} or len(lists) < 10


def test_features_are_read_by_name_and_missing_columns_are_nan():
    frame = pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "content_score": [0.5], "item_users": [9],
                          "source": ["basket"]})  # fmt: skip
    row = dict(zip(FEATURES, feature_matrix(frame, "user_id")[0], strict=True))
    assert row["content_score"] == 0.5 and row["log_item_users"] == pytest.approx(np.log(10))
    assert row["found_by_basket"] == 1.0 and row["found_by_popular"] == 0.0 and np.isnan(row["als_score"])


def test_source_flags_cover_every_source_that_found_the_item_for_that_list():
    # i1 reached a0's list through co-purchase and ALS neighbours; in a1's list only through popularity
    frame = pd.DataFrame({"anchor_item_id": ["a0", "a0", "a1"], "item_id": ["i1", "i1", "i1"],
                          "source": ["neighbour", "als_neighbour", "popular"]})  # fmt: skip
    rows = [dict(zip(FEATURES, r, strict=True)) for r in feature_matrix(frame, "anchor_item_id")]
    for row in rows[:2]:
        assert (row["found_by_neighbour"], row["found_by_als_neighbour"], row["found_by_popular"]) == (1, 1, 0)
        assert row["sources"] == 2
    assert (rows[2]["found_by_neighbour"], rows[2]["found_by_popular"], rows[2]["sources"]) == (0, 1, 1)


def test_the_ablation_refits_without_each_feature_group_and_source(config):
    cfg = config.crosssell.ranker.model_copy(update={"ablation": True})
    outcome = fit_and_guard(candidate_frame(300, seed=6), ListSpec.items(config.crosssell), cfg)
    dropped = outcome.ablation
    assert dropped is not None and "without interest features" not in dropped  # item lists have no interest
    assert {"without als features", "without popularity features", "without popular candidates"} <= set(dropped)
    full = outcome.quality[LEARNT]["ndcg"]
    assert dropped["without als features"]["ndcg"] < full - 0.1  # the planted signal needs the ALS cosine
    assert abs(dropped["without price features"]["ndcg"] - full) < 0.05  # price carries nothing here


def test_only_informative_rows_reach_the_fit_and_the_guard_measures_the_same(spark, config):
    # random labels at 1 %: many anchors have no taken candidate at all
    frame = candidate_frame(300, seed=7, planted=False)
    kept = informative("anchor_item_id", "lambdarank")(spark.createDataFrame(frame)).toPandas()
    has = frame.groupby("anchor_item_id")[LABEL].transform("max").to_numpy() > 0
    assert 0 < len(kept) < len(frame) and len(kept) == has.sum()
    binary = informative("anchor_item_id", "binary")(spark.createDataFrame(frame)).toPandas()
    assert len(binary) == len(frame)  # binary learns from every row

    spec, cfg = ListSpec.items(config.crosssell), config.crosssell.ranker.model_copy(update={"min_positives": 10})
    keys = frame["anchor_item_id"].nunique()
    full, reduced = fit_and_guard(frame, spec, cfg), fit_and_guard(kept, spec, cfg, keys)
    assert reduced.counts.validation_keys == full.counts.validation_keys == keys == 300
    for scorer in (CONFIGURED, POPULARITY_ONLY):  # keys without a positive scored 0 before and are counted now
        assert reduced.quality[scorer] == full.quality[scorer]
    assert (
        reduced.counts.train_positives == full.counts.train_positives
        and reduced.counts.train_rows < full.counts.train_rows
    )
