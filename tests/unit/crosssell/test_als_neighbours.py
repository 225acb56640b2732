"""ALS neighbours: an anchor's nearest items of other categories by factor cosine, and their reason."""

from __future__ import annotations

import pandas as pd

from crosssell_spark.crosssell import lists
from crosssell_spark.crosssell.candidates import als_neighbours

FACTORS = {"A": [1.0, 0.0], "B": [0.9, 0.1], "C": [0.0, 1.0], "D": [1.0, 0.0], "E": [0.5, 0.5], "F": [0.5, 0.5]}
CATEGORY = {"A": "phones", "B": "cases", "C": "cases", "D": "phones", "E": "pasta", "F": "sauces"}


def frames(spark):
    factors = spark.createDataFrame(list(FACTORS.items()), "item_id string, features array<float>")
    categories = spark.createDataFrame(list(CATEGORY.items()), "item_id string, item_category string")
    anchors = spark.createDataFrame(
        [("A", "phones"), ("C", "cases"), ("Z", "phones")], "anchor_item_id string, anchor_category string"
    )
    return anchors, factors, categories


def test_each_anchor_gets_its_nearest_items_of_other_categories_ties_by_id(spark):
    anchors, factors, categories = frames(spark)
    got = als_neighbours(anchors, factors, categories, 2).toPandas()
    by_anchor = got.groupby("anchor_item_id", sort=True)["item_id"].apply(list).to_dict()
    # A: B (cos 0.99), then E and F tie (0.71): E by id; D shares A's category. Z has no factors.
    assert by_anchor == {"A": ["B", "E"], "C": ["E", "F"]}
    assert set(got["anchor_category"]) == {"phones", "cases"}


def test_no_neighbours_are_asked_for(spark):
    anchors, factors, categories = frames(spark)
    assert als_neighbours(anchors, factors, categories, 0).count() == 0


def test_an_als_neighbour_says_shoppers_buy_both():
    row = {"source": "als_neighbour", "is_behavioural": False, "is_content": False, "anchor_title": "Phone X",
           "item_title": "Case", "co_users": None, "item_category": "cases", "anchor_category": "phones"}  # fmt: skip
    explained = lists.explain(pd.DataFrame([row]), pd.DataFrame({"item_category": [], "category_name": []}))
    assert explained.loc[0, "reason_codes"] == [lists.SAME_SHOPPERS]
    assert explained.loc[0, "reason"] == "bought by shoppers whose tastes match those who buy Phone X"
