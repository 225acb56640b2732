"""Minimum crowd: pairs, category pairs and cross-sell evidence with fewer than k distinct users are withheld."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from crosssell_spark.crosssell.lists import apply_rules
from crosssell_spark.schemas import CATEGORY_A, CATEGORY_B, CO_BASKETS, CO_USERS
from crosssell_spark.similarity.cooccurrence import (
    KEY_A,
    KEY_B,
    affinity_rows,
    basket_categories,
    meets_floor,
    pair_statistics,
)
from tests.conftest import make_test_config

ITEM_CATEGORY = {"A": "c1", "B": "c2", "C": "c3"}
# A+B bought by three people; A+C in three baskets but by only two people (u4 twice).
BASKETS = [("u1", "A B"), ("u2", "A B"), ("u3", "A B"), ("u4", "A C"), ("u4", "A C"), ("u5", "A C")]


def test_pairs_below_k_users_are_withheld(spark: SparkSession, tmp_path: Path) -> None:
    rows = [
        (f"{user}|s{n}", user, item, ITEM_CATEGORY[item], 1.0)
        for n, (user, items) in enumerate(BASKETS)
        for item in items.split()
    ]
    members = spark.createDataFrame(
        rows, "basket string, user_id string, key string, category_id string, weight double"
    )
    cooccurrence = make_test_config(tmp_path / "lh", "similarity.cooccurrence.min_users=3").similarity.cooccurrence
    items = pair_statistics(members).cache()
    counts = {(r[KEY_A], r[KEY_B]): (r[CO_USERS], r[CO_BASKETS]) for r in items.collect()}
    assert counts == {("A", "B"): (3, 3), ("A", "C"): (2, 3)}
    assert [(r[KEY_A], r[KEY_B]) for r in items.where(meets_floor(cooccurrence)).collect()] == [("A", "B")]
    assert items.where(~meets_floor(cooccurrence)).count() == 1  # what the stage reports as withheld

    affinity = affinity_rows(pair_statistics(basket_categories(members)).where(meets_floor(cooccurrence)))
    assert sorted((r[CATEGORY_A], r[CATEGORY_B]) for r in affinity.collect()) == [("c1", "c2"), ("c2", "c1")]
    items.unpersist()


def test_cross_sell_evidence_below_min_support_is_dropped(tmp_path: Path) -> None:
    candidates = pd.DataFrame(
        {
            "item_id": ["content only", "two shoppers", "three shoppers", "many"],
            "support": [None, 2, 3, 50],
            "score": 1.0,
            "anchor_category": "a",
            "item_category": "b",
        }
    )
    rules = make_test_config(tmp_path / "lh", "crosssell.rules.min_support=3").crosssell.rules
    rules = rules.model_copy(update={"max_price_ratio": None, "in_stock_only": False})
    kept, withheld = apply_rules(candidates, rules, 0.0, pd.DataFrame({"item_category": [], "category_share": []}))
    assert set(kept["item_id"]) == {"content only", "three shoppers", "many"} and withheld == 1
