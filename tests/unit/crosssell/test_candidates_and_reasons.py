"""The per-user category rule, its interest component and the eligible-popular source, in both engines,
on in-line rows."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import UserListConfig
from crosssell_spark.crosssell.candidates import allowed_user_categories, eligible_popular
from crosssell_spark.crosssell.candidates_local import allowed_user_categories_local, eligible_popular_local
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
    assert set(allowed_user_categories_local(interest(spark).toPandas(), cfg)["item_category"]) == expected


def test_interest_component_is_relative_to_the_users_best_category(spark, user_cfg):
    allowed = allowed_user_categories(interest(spark), user_cfg.model_copy(update={"category_rule": "any"}))
    components = {r["item_category"]: r["interest_component"] for r in allowed.collect()}
    assert components["phones"] == pytest.approx(1.0) and components["sauces"] == pytest.approx(0.2 / 0.9)


def test_popular_candidates_come_from_the_categories_the_user_may_see(spark, user_cfg):
    # the three most bought items are phones and cases, which U1 knows: the popular source must
    # still fill up from garden and sauces (the popularity_eligible baseline's list), in both engines
    popularity = spark.createDataFrame(
        [("p1", "phones", 90, 1), ("p2", "phones", 80, 2), ("c1", "cases", 70, 1), ("g1", "garden", 40, 1),
         ("g2", "garden", 30, 2), ("g3", "garden", 25, 3), ("s1", "sauces", 35, 1)],
        "item_id string, item_category string, item_users long, popularity_rank int",
    )  # fmt: skip
    allowed = allowed_user_categories(interest(spark), user_cfg.model_copy(update={"category_rule": "new"}))
    spark_rows = [r["item_id"] for r in eligible_popular(allowed, popularity, 2, 3).orderBy("item_id").collect()]
    local = eligible_popular_local(allowed.toPandas(), popularity.toPandas(), 2, 3)
    assert spark_rows == sorted(local["item_id"]) == ["g1", "g2", "s1"]  # g3 is past the per-category 2
