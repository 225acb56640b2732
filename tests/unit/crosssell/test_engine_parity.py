"""One test body, both engines of list building: Spark (batch) and pandas (the stream's driver).

The in-line world below exercises every `StrategyRules` switch: for each, both engines must build
the same user lists, and the switch must change them (so the rows really test it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import CrossSellConfig
from crosssell_spark.crosssell import lists as tail
from crosssell_spark.crosssell.build import ListInputs, LocalInputs, build_user_lists, build_user_lists_local
from crosssell_spark.crosssell.candidates import allowed_user_categories
from crosssell_spark.crosssell.candidates_local import allowed_user_categories_local
from crosssell_spark.crosssell.lists import LEARNT, ListSpec
from tests.conftest import make_test_config
from tests.unit.ranking.test_training import fitted

NOW = datetime(2026, 3, 1, 12, 0)
# item: (category, price, in stock, title, distinct users)
ITEMS = {
    "phone": ("phones", 500.0, True, "Galaxy S23 phone", 90),
    "phone2": ("phones", 300.0, True, "Pixel phone", 60),
    "case": ("cases", 20.0, True, "Galaxy S23 case", 80),
    "case2": ("cases", 25.0, True, "Clear case", 40),
    "case3": ("cases", 2000.0, True, "Gold case", 5),
    "cable": ("cables", 10.0, True, "USB-C cable", 70),
    "cable2": ("cables", 12.0, False, "Braided cable", 30),
    "sauce": ("sauces", 3.0, True, "Tomato sauce", 85),
    "sauce2": ("sauces", 4.0, True, "Pesto", 20),
    "pasta": ("pasta", 2.0, True, "Spaghetti 500g", 75),
    "hose": ("garden", 30.0, True, "Garden hose", 15),
    "fork": ("garden", 25.0, None, "Garden fork", 10),
}
CATEGORY_NAMES = {"phones": "Phones", "cases": "Cases", "cables": "Cables", "sauces": "Sauces", "pasta": "Pasta",
                  "garden": "Garden"}  # fmt: skip
# (item_a, item_b, jaccard, confidence, lift, co_users, semantic): content-only pairs have no co_users,
# semantic-only pairs (embedding cosine) neither
PAIRS = [
    ("phone", "case", 0.4, 0.5, 3.0, 12, 0.7),
    ("phone", "cable", None, 0.3, 2.0, 4, None),
    ("phone", "case3", None, 0.2, 1.5, 6, None),
    ("phone", "sauce", None, 0.1, 1.1, 3, None),
    ("pasta", "sauce", None, 0.6, 4.0, 20, 0.6),
    ("pasta", "sauce2", 0.1, None, None, None, None),
    ("pasta", "hose", None, 0.05, 0.9, 5, None),
    ("case", "cable", None, 0.2, 1.8, 8, None),
    ("case", "cable2", None, 0.25, 2.2, 9, None),
    ("cable", "fork", 0.2, None, None, None, None),
    ("cable", "sauce2", None, None, None, None, 0.55),
]
# user: [(category, interest_score, observed_share)] — rank and newness follow
INTEREST = {
    "u1": [("phones", 0.9, 0.6), ("cases", 0.7, 0.3), ("cables", 0.5, 0.1), ("sauces", 0.3, 0.0), ("garden", 0.2, 0.0)],
    "u2": [("pasta", 0.8, 0.9), ("sauces", 0.6, 0.1), ("garden", 0.5, 0.0), ("cases", 0.1, 0.0)],
    "u3": [("garden", 0.4, 0.0), ("cables", 0.35, 0.0), ("phones", 0.3, 0.0)],
}
# (user, item, days ago)
PURCHASES = [("u1", "phone", 1), ("u1", "case", 2), ("u1", "cable", 100), ("u2", "pasta", 3), ("u2", "sauce2", 60)]
RANK = 4


@dataclass(frozen=True)
class World:
    attributes: pd.DataFrame
    popularity: pd.DataFrame
    similarity: pd.DataFrame
    shares: pd.DataFrame
    names: pd.DataFrame
    interest: pd.DataFrame
    purchases: pd.DataFrame
    item_factors: dict[str, np.ndarray]
    user_factors: dict[str, np.ndarray]


def world() -> World:
    attributes = pd.DataFrame(
        [(i, c, p, s, t) for i, (c, p, s, t, _) in ITEMS.items()],
        columns=["item_id", "item_category", "item_price", "item_in_stock", "item_title"],
    )
    popularity = attributes[["item_id", "item_category"]].assign(item_users=[u for *_, u in ITEMS.values()])
    popularity["popularity"] = np.log1p(popularity["item_users"]) / np.log1p(popularity["item_users"].max())
    popularity["popularity_rank"] = (
        popularity.sort_values(["item_category", "item_users"], ascending=[True, False])
        .groupby("item_category").cumcount().reindex(popularity.index).astype(np.int32) + 1
    )  # fmt: skip
    popularity["basket_share"] = popularity["item_users"] / 1000.0
    popularity["baskets_per_buyer"] = 1.0 + (popularity.index % 3) / 2.0  # repeat purchase: a ranker feature
    similarity = pd.DataFrame(
        [
            (a, b, ITEMS[a][0], j, conf, lift, co, sem, j is not None, co is not None, sem is not None)
            for x, y, j, conf, lift, co, sem in PAIRS
            for a, b in ((x, y), (y, x))
        ],
        columns=[
            "item_a",
            "item_b",
            "category_a",
            "jaccard",
            "confidence",
            "lift",
            "co_users",
            "semantic",
            "is_content",
            "is_behavioural",
            "is_semantic",
        ],
    ).astype({"co_users": "Int64"})
    shares = popularity.groupby("item_category", as_index=False)["item_users"].sum()
    shares = shares.assign(category_share=shares["item_users"] / shares["item_users"].sum())[
        ["item_category", "category_share"]
    ]
    names = pd.DataFrame({"item_category": list(CATEGORY_NAMES), "category_name": list(CATEGORY_NAMES.values())})
    interest = pd.DataFrame(
        [
            (user, category, score, share, share == 0.0, n + 1)
            for user, rows in INTEREST.items()
            for n, (category, score, share) in enumerate(rows)
        ],
        columns=["user_id", "category_id", "interest_score", "observed_share", "is_new_category", "interest_rank"],
    ).astype({"interest_rank": np.int32})
    purchases = pd.DataFrame(
        [(u, i, NOW - timedelta(days=d)) for u, i, d in PURCHASES], columns=["user_id", "item_id", "event_ts"]
    )
    rng = np.random.default_rng(11)
    item_factors = {i: rng.uniform(0, 0.5, RANK).astype(np.float32) for i in ITEMS}
    user_factors = {u: rng.uniform(0, 0.6, RANK).astype(np.float32) for u in INTEREST}
    return World(attributes, popularity, similarity, shares, names, interest, purchases, item_factors, user_factors)


def spark_lists(spark: SparkSession, cs: CrossSellConfig, w: World, user_spec: ListSpec | None = None) -> pd.DataFrame:
    """The batch engine: Spark candidates, then the tail through mapInPandas."""
    factors = lambda d, key: spark.createDataFrame(  # noqa: E731
        [(k, [float(x) for x in v]) for k, v in d.items()], f"{key} string, features array<float>"
    )
    inputs = ListInputs(
        attributes=spark.createDataFrame(w.attributes),
        popularity=spark.createDataFrame(w.popularity),
        similarity=spark.createDataFrame(w.similarity.astype({"co_users": object}).replace({pd.NA: None})),
        item_factors=factors(w.item_factors, "item_id"),
        shares=w.shares,
        names=w.names,
        partitions=2,
        item_spec=ListSpec.items(cs),
        user_spec=user_spec or ListSpec.users(cs),
    )
    interest = spark.createDataFrame(w.interest)
    events = spark.createDataFrame(w.purchases.assign(event_type="purchase"))
    allowed = allowed_user_categories(interest, cs.user)
    lists = build_user_lists(cs, inputs, allowed, events, factors(w.user_factors, "user_id"))
    return lists.toPandas()


def driver_lists(spark: SparkSession, cs: CrossSellConfig, w: World, user_spec: ListSpec | None = None) -> pd.DataFrame:
    """The stream's driver engine: pandas candidates, then the same tail."""
    del spark
    position = {item: n for n, item in enumerate(w.item_factors)}
    inputs = LocalInputs(w.attributes, w.popularity, w.similarity, w.shares, w.names, position,
                         np.stack(list(w.item_factors.values())), user_spec or ListSpec.users(cs))  # fmt: skip
    allowed = allowed_user_categories_local(w.interest, cs.user)
    return build_user_lists_local(cs, inputs, allowed, w.purchases, w.user_factors)


ENGINES = {"spark": spark_lists, "driver": driver_lists}
# Each switch alone, on top of a permissive rule set; then the shipped defaults.
PERMISSIVE = (
    "crosssell.rules.exclude_owned_days=null", "crosssell.rules.per_category_cap=null",
    "crosssell.rules.min_distinct_categories=1", "crosssell.rules.max_price_ratio=null",
    "crosssell.rules.in_stock_only=false", "crosssell.rules.min_score=0.0", "crosssell.rules.min_support=0",
    "crosssell.rules.evidence_first=true", "crosssell.user.category_rule=any", "crosssell.k=6",
    "crosssell.user.interest_categories=1",  # room for basket and popular candidates in a list of 6
)  # fmt: skip
SWITCHES = {
    "exclude_owned_days": ["crosssell.rules.exclude_owned_days=30"],
    "per_category_cap": ["crosssell.rules.per_category_cap=1"],
    "min_distinct_categories": ["crosssell.rules.min_distinct_categories=3"],
    "allow_pairs": ['crosssell.rules.allow_pairs=[["phones","cases"],["*","garden"]]'],
    "deny_pairs": ['crosssell.rules.deny_pairs=[["*","sauces"],["phones","cables"]]'],
    "max_price_ratio": ["crosssell.rules.max_price_ratio=1.5"],
    "in_stock_only": ["crosssell.rules.in_stock_only=true"],
    "min_score": ["crosssell.rules.min_score=0.45"],
    "min_support": ["crosssell.rules.min_support=7"],
    "evidence_first": ["crosssell.rules.evidence_first=false"],
    "balance_strength": ["crosssell.balance_strength=0.5"],
    "category_rule_new": ["crosssell.user.category_rule=new"],
}
COLUMNS = ["user_id", "rank", "item_id", "source", "anchor_item_id", "reason", "support", "is_new_category"]


def crosssell(tmp_path_factory: pytest.TempPathFactory, *overrides: str) -> CrossSellConfig:
    return make_test_config(tmp_path_factory.mktemp("lh"), *PERMISSIVE, *overrides).crosssell


def normalised(lists: pd.DataFrame) -> pd.DataFrame:
    out = lists[COLUMNS].sort_values(["user_id", "rank"]).reset_index(drop=True)
    out["support"] = [None if pd.isna(v) else int(v) for v in out["support"]]
    out["anchor_item_id"] = [None if pd.isna(v) else v for v in out["anchor_item_id"]]
    return out


@pytest.fixture(scope="module")
def permissive(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    cs, w = crosssell(tmp_path_factory), world()
    return {name: build(spark, cs, w) for name, build in ENGINES.items()}


def test_both_engines_list_every_user_with_scores_that_match(permissive):
    spark_rows, driver_rows = permissive["spark"], permissive["driver"]
    assert set(spark_rows["user_id"]) == {"u1", "u2", "u3"}
    pd.testing.assert_frame_equal(normalised(spark_rows), normalised(driver_rows), check_dtype=False)
    merged = spark_rows.merge(driver_rows, on=["user_id", "rank"], suffixes=("_s", "_d"))
    for column in ("score", "als_score", "interest_component", "cooccurrence_score", "popularity_score"):
        assert np.allclose(merged[f"{column}_s"], merged[f"{column}_d"], rtol=0, atol=1e-9), column
    assert (merged["als_score_s"] > 0).any()
    assert merged["als_score_s"].tolist() == merged["als_score_d"].tolist()  # the same bits (`sequential_dot`)


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_rule_switch_changes_the_lists_the_same_way_in_both_engines(spark, tmp_path_factory, permissive, switch):
    cs, w = crosssell(tmp_path_factory, *SWITCHES[switch]), world()
    built = {name: normalised(build(spark, cs, w)) for name, build in ENGINES.items()}
    pd.testing.assert_frame_equal(built["spark"], built["driver"], check_dtype=False)
    assert not built["driver"].equals(normalised(permissive["driver"])), f"{switch} changed nothing here"


def test_a_learnt_user_ranker_scores_the_same_in_both_engines(spark, tmp_path_factory, permissive):
    cs, w = crosssell(tmp_path_factory), world()
    _, ranker = fitted(80, seed=5, trees=20)
    spec = ListSpec.users(cs).scored_by(LEARNT, ranker)
    built = {name: build(spark, cs, w, spec) for name, build in ENGINES.items()}
    pd.testing.assert_frame_equal(normalised(built["spark"]), normalised(built["driver"]), check_dtype=False)
    merged = built["spark"].merge(built["driver"], on=["user_id", "rank"], suffixes=("_s", "_d"))
    assert np.allclose(merged["score_s"], merged["score_d"], rtol=0, atol=1e-12)
    assert ((merged["score_s"] > 0) & (merged["score_s"] < 1)).all()  # probabilities, not blended weights
    assert len(merged) == len(permissive["driver"])  # the same candidates fill the lists, ordered by the model


def test_the_batch_tail_finishes_whole_lists_in_chunks_of_any_size(spark, tmp_path_factory, permissive, monkeypatch):
    """Chunks of 3 rows over Arrow batches of 2: a user's rows straddle batches, yet each list is
    finished whole, so the lists are the ones one chunk per partition gives."""
    cs, w = crosssell(tmp_path_factory), world()
    monkeypatch.setattr(tail, "ROWS_PER_CALL", 3)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2")
    try:
        chunked = spark_lists(spark, cs, w)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    pd.testing.assert_frame_equal(normalised(chunked), normalised(permissive["spark"]), check_dtype=False)
