"""Co-occurrence: baskets, weights, the basket cap, support/confidence/lift and the privacy floor."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import ConfigError
from crosssell_spark.schemas import EVENTS_CLEAN_SCHEMA, ITEMS_CLEAN_SCHEMA
from crosssell_spark.similarity.cooccurrence import (
    BASKET,
    BASKET_SIZE,
    KEY,
    KEY_A,
    KEY_B,
    WEIGHT,
    affinity_rows,
    basket_categories,
    basket_items,
    both_directions,
    meets_floor,
    pair_statistics,
)

T0 = datetime(2026, 10, 1, 12, 0, 0)
CATEGORY_IDS = {
    "phones": ["electronics", "electronics/phones", "electronics/phones/smart"],
    "cases": ["electronics", "electronics/cases", "electronics/cases/silicone"],
    "pasta": ["grocery", "grocery/pasta"],
}
ITEM_CATEGORY = {"A": "phones", "B": "cases", "C": "cases", "D": "pasta"}


def items(spark: SparkSession) -> DataFrame:
    rows = [
        (item, item, None, None, [], CATEGORY_IDS[c], CATEGORY_IDS[c][-1], len(CATEGORY_IDS[c]), 1.0, True)
        for item, c in ITEM_CATEGORY.items()
    ]
    return spark.createDataFrame(rows, ITEMS_CLEAN_SCHEMA)


def events(spark: SparkSession) -> DataFrame:
    """Four baskets with cart or purchase events; users u1, u2 and u4 all reuse session id s1."""
    raw = [
        ("u1", "s1", "A", "purchase"), ("u1", "s1", "B", "cart"), ("u1", "s1", "C", "view"),
        ("u2", "s1", "A", "cart"), ("u2", "s1", "B", "purchase"), ("u2", "s1", "B", "cart"),
        ("u3", "s9", "A", "purchase"), ("u3", "s9", "B", "purchase"), ("u3", "s9", "D", "cart"),
        ("u3", "s10", "B", "view"),
        ("u4", "s1", "A", "view"), ("u4", "s1", "C", "cart"),
    ]  # fmt: skip
    rows = [
        (f"e{i}", user, item, kind, T0 + timedelta(minutes=i), session, 1, 1.0, T0.date())
        for i, (user, session, item, kind) in enumerate(raw)
    ]
    return spark.createDataFrame(rows, EVENTS_CLEAN_SCHEMA)


def stats_by_pair(df: DataFrame) -> dict[tuple[str, str], dict]:
    return {(r[KEY_A], r[KEY_B]): r.asDict() for r in df.collect()}


def test_baskets_are_per_user_session_weighted_and_ignore_unlisted_event_types(spark, similarity):
    cfg = similarity().cooccurrence  # cart and purchase 1.0, views not listed
    members = events(spark).transform(basket_items(cfg, items(spark), cross_level=2))
    got = sorted((r[BASKET], r[KEY], r["category_id"], r[WEIGHT]) for r in members.collect())
    assert got == [
        ("u1|s1", "A", "electronics/phones", 1.0), ("u1|s1", "B", "electronics/cases", 1.0),
        ("u2|s1", "A", "electronics/phones", 1.0), ("u2|s1", "B", "electronics/cases", 1.0),
        ("u3|s9", "A", "electronics/phones", 1.0), ("u3|s9", "B", "electronics/cases", 1.0),
        ("u3|s9", "D", "grocery/pasta", 1.0),
        ("u4|s1", "C", "electronics/cases", 1.0),
    ]  # fmt: skip


def test_a_basket_keeps_its_strongest_then_earliest_items_up_to_the_cap(spark, similarity):
    cfg = similarity("cooccurrence.max_items_per_basket=2", "cooccurrence.event_weights={cart: 0.5, purchase: 1.0}")
    members = events(spark).transform(basket_items(cfg.cooccurrence, items(spark), cross_level=2))
    u3 = {r[KEY]: r[BASKET_SIZE] for r in members.where(f"{BASKET} = 'u3|s9'").collect()}
    assert u3 == {"A": 3, "B": 3}  # D (only carted, weight 0.5) is the one dropped; the basket had 3
    u2 = {r[KEY]: r[WEIGHT] for r in members.where(f"{BASKET} = 'u2|s1'").collect()}
    assert u2 == {"A": 0.5, "B": 1.0}  # an item's weight is its strongest event's


def test_pair_statistics_support_confidence_and_lift(spark, similarity):
    members = events(spark).transform(basket_items(similarity().cooccurrence, items(spark), cross_level=2))
    pairs = stats_by_pair(pair_statistics(members))
    assert set(pairs) == {("A", "B"), ("A", "D"), ("B", "D")}  # B-C share a category: never a pair
    ab = pairs[("A", "B")]
    # 4 baskets; A and B in 3 each, together in 3 (users u1, u2, u3)
    assert (ab["co_baskets"], ab["co_users"], ab["confidence"], ab["confidence_ba"]) == (3, 3, 1.0, 1.0)
    assert ab["lift"] == pytest.approx(3 * 4 / (3 * 3))
    ad = pairs[("A", "D")]
    assert (ad["co_baskets"], ad["co_users"]) == (1, 1)
    assert (ad["confidence"], ad["confidence_ba"]) == (pytest.approx(1 / 3), 1.0)  # directional
    assert ad["lift"] == pytest.approx(1 * 4 / (3 * 1))


def test_weighted_views_count_with_their_weight(spark, similarity):
    cfg = similarity("cooccurrence.event_weights={view: 0.5, cart: 1.0, purchase: 1.0}").cooccurrence
    members = events(spark).transform(basket_items(cfg, items(spark), cross_level=2))
    ac = stats_by_pair(pair_statistics(members))[("A", "C")]
    # u1: A bought, C viewed (1 * 0.5); u4: A viewed, C carted (0.5 * 1); A's weight 1 + 1 + 1 + 0.5
    assert (ac["co_baskets"], ac["co_weight"], ac["confidence"]) == (2, 1.0, pytest.approx(1.0 / 3.5))


def test_privacy_floor_withholds_pairs_with_too_few_users(spark, similarity):
    cfg = similarity("cooccurrence.min_users=3", "cooccurrence.min_baskets=3").cooccurrence
    members = events(spark).transform(basket_items(cfg, items(spark), cross_level=2))
    pairs = pair_statistics(members)
    assert sorted((r[KEY_A], r[KEY_B]) for r in pairs.where(meets_floor(cfg)).collect()) == [("A", "B")]
    assert pairs.where(~meets_floor(cfg)).count() == 2
    stricter = similarity("cooccurrence.min_users=4").cooccurrence
    assert pairs.where(meets_floor(stricter)).count() == 0


def test_both_directions_keep_symmetric_statistics_and_directional_confidence(spark, similarity):
    members = events(spark).transform(basket_items(similarity().cooccurrence, items(spark), cross_level=2))
    rows = stats_by_pair(both_directions(pair_statistics(members)))
    assert set(rows) == {("A", "B"), ("B", "A"), ("A", "D"), ("D", "A"), ("B", "D"), ("D", "B")}
    for a, b in rows:
        forward, backward = rows[(a, b)], rows[(b, a)]
        for symmetric in ("co_baskets", "co_users", "co_weight", "lift"):
            assert forward[symmetric] == backward[symmetric]
        assert (forward["category_a"], forward["category_b"]) == (backward["category_b"], backward["category_a"])
    assert (rows[("A", "D")]["confidence"], rows[("D", "A")]["confidence"]) == (pytest.approx(1 / 3), 1.0)


def test_category_affinity_counts_baskets_per_category_pair_above_the_floor(spark, similarity):
    cfg = similarity().cooccurrence
    members = events(spark).transform(basket_items(cfg, items(spark), cross_level=2))
    affinity = affinity_rows(pair_statistics(basket_categories(members)).where(meets_floor(cfg)))
    got = {
        (r["category_a"], r["category_b"]): (r["co_baskets"], r["co_users"], r["baskets_a"]) for r in affinity.collect()
    }
    # phones in 3 baskets, cases in 4 (u4's C), together in 3; pasta pairs have one user only
    assert got == {
        ("electronics/phones", "electronics/cases"): (3, 3, 3),
        ("electronics/cases", "electronics/phones"): (3, 3, 4),
    }


def test_privacy_floor_below_three_users_is_rejected(tmp_path):
    from tests.conftest import make_test_config

    with pytest.raises(ConfigError, match=r"similarity\.cooccurrence\.min_users"):
        make_test_config(tmp_path, "similarity.cooccurrence.min_users=2")
    with pytest.raises(ConfigError, match="unknown event types"):
        make_test_config(tmp_path, "similarity.cooccurrence.event_weights={purchse: 1.0}")
    with pytest.raises(ConfigError, match="multiple of hashes_per_band"):
        make_test_config(tmp_path, "similarity.content.num_hash_tables=151")
