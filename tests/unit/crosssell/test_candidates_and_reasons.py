"""The per-user category rule, the score blend and the reasons, on in-line rows."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import UserListConfig
from crosssell_spark.crosssell.candidates import allowed_user_categories
from crosssell_spark.crosssell.reasons import explain, shared_title_words
from tests.conftest import make_test_config

INTEREST = (
    "user_id string, category_id string, interest_score double, observed_share double, "
    "is_new_category boolean, interest_rank int"
)


@pytest.fixture(scope="module")
def user_cfg(tmp_path_factory: pytest.TempPathFactory) -> UserListConfig:
    return make_test_config(tmp_path_factory.mktemp("lh")).crosssell.user


def interest(spark: SparkSession):
    rows = [
        ("U1", "phones", 0.9, 0.7, False, 1),
        ("U1", "cases", 0.8, 0.3, False, 2),
        ("U1", "garden", 0.5, 0.0, True, 3),
        ("U1", "sauces", 0.2, 0.0, True, 4),
    ]
    return spark.createDataFrame(rows, INTEREST)


@pytest.mark.parametrize(
    ("rule", "top_n", "expected"),
    [
        ("new", 1, {"garden", "sauces"}),
        ("outside_top", 1, {"cases", "garden", "sauces"}),
        ("outside_top", 2, {"garden", "sauces"}),
        ("any", 1, {"phones", "cases", "garden", "sauces"}),
    ],
)
def test_user_category_rule(spark, user_cfg, rule, top_n, expected):
    cfg = user_cfg.model_copy(update={"category_rule": rule, "outside_top_n": top_n})
    allowed = allowed_user_categories(interest(spark), cfg)
    assert {r["item_category"] for r in allowed.collect()} == expected


def test_interest_component_is_relative_to_the_users_best_category(spark, user_cfg):
    allowed = allowed_user_categories(interest(spark), user_cfg.model_copy(update={"category_rule": "any"}))
    components = {r["item_category"]: r["interest_component"] for r in allowed.collect()}
    assert components["phones"] == pytest.approx(1.0) and components["sauces"] == pytest.approx(0.2 / 0.9)


def test_shared_title_words(spark):
    df = spark.createDataFrame([("Samsung Galaxy S23 128GB", "Spigen Galaxy S23 Case")], "a string, b string")
    assert df.select(shared_title_words(df["a"], df["b"]).alias("w")).first()["w"] == ["galaxy", "s23"]


def test_reasons_name_the_evidence(spark):
    rows = [
        ("neighbour", True, False, 214, "Galaxy S23 128GB", "Galaxy S23 Case", "phones", "cases", False),
        ("neighbour", False, True, None, "Galaxy S23 128GB", "Galaxy S23 Case", "phones", "cases", False),
        ("basket", True, False, 5, "Spaghetti 500g", "Bolognese Sauce", "pasta", "sauces", False),
        ("category_affinity", False, False, None, "Spaghetti 500g", "Parmesan", "pasta", "cheese", False),
        ("interest", False, False, None, None, "Rose Bush", None, "garden", True),
        ("popular", False, False, None, "Spaghetti 500g", "Ketchup", "pasta", "sauces", False),
    ]
    schema = (
        "source string, is_behavioural boolean, is_content boolean, co_users long, anchor_title string, "
        "item_title string, anchor_category string, item_category string, is_new_category boolean"
    )
    names = spark.createDataFrame(
        [
            ("phones", "Phones"),
            ("cases", "Cases"),
            ("pasta", "Pasta"),
            ("sauces", "Sauces"),
            ("cheese", "Cheese"),
            ("garden", "Garden"),
        ],
        "item_category string, category_name string",
    )
    explained = explain(spark.createDataFrame(rows, schema), names).collect()
    got = {(r["source"], r["is_content"]): (r["reason_codes"], r["reason"]) for r in explained}
    assert got[("neighbour", False)] == (["BOUGHT_TOGETHER"], "bought together with Galaxy S23 128GB by 214 shoppers")
    assert got[("neighbour", True)] == (["SIMILAR_CONTENT"], "matches 'galaxy s23' of Galaxy S23 128GB")
    assert got[("basket", False)][1] == "bought together with your Spaghetti 500g by 5 shoppers"
    assert got[("category_affinity", False)] == (["CATEGORY_AFFINITY"], "Pasta shoppers often buy Cheese")
    assert got[("interest", False)] == (["USER_INTEREST", "NEW_CATEGORY"], "you like Garden; a category new to you")
    assert got[("popular", False)] == (["POPULAR_IN_CATEGORY"], "popular in Sauces")
