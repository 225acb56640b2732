"""Exact content pairs by blocked sparse products: the same pairs and Jaccards as the exact self-join,
however the catalogue is cut into blocks."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.similarity.blocked import block_count, blocked_exact_pairs
from crosssell_spark.similarity.minhash import exact_pairs

FEATURES = "item_id string, category_id string, features array<string>"


def as_set(pairs: DataFrame) -> set[tuple]:
    return {(r.item_a, r.item_b, r.category_a, r.category_b, round(r.jaccard, 9)) for r in pairs.collect()}


def test_in_line_pairs_threshold_categories_and_order(spark: SparkSession) -> None:
    items = spark.createDataFrame(
        [
            ("P9", "phones", ["samsung", "galaxy", "s23"]),
            ("P2", "cases", ["spigen", "galaxy", "s23", "case"]),  # 2/5 with P9
            ("P3", "phones", ["samsung", "galaxy", "s23"]),  # P9's twin, same category: never paired with it
            ("P4", "pasta", ["penne", "rigate"]),  # shares nothing
            ("P5", "cases", ["samsung", "galaxy", "s23"]),  # P9's and P3's twin in another category
            ("P6", "sauces", ["case", "a", "b", "c", "d"]),  # 1/8 with P2: under the threshold
            ("P7", "sauces", ["spigen", "x", "y", "z", "w"]),  # 1/8 with P2 as well
            ("P8", "sauces", ["case", "spigen", "galaxy", "q", "r"]),  # 3/6 with P2, 1/7 with P9
        ],
        FEATURES,
    )
    expected = {
        ("P2", "P9", "cases", "phones", 0.4),
        ("P2", "P3", "cases", "phones", 0.4),
        ("P3", "P5", "phones", "cases", 1.0),
        ("P5", "P9", "cases", "phones", 1.0),
        ("P2", "P8", "cases", "sauces", 0.5),
    }
    for blocks in (1, 2, 3, 8):  # 8 blocks for 8 items: most tasks hold one item per side, some none
        assert as_set(items.transform(blocked_exact_pairs(0.2, blocks))) == expected, blocks
    assert as_set(items.transform(blocked_exact_pairs(0.4, 3))) == expected  # at the threshold is kept
    assert as_set(items.transform(blocked_exact_pairs(0.41, 3))) == {p for p in expected if p[4] > 0.41}


def test_same_pairs_as_the_exact_self_join_on_a_random_catalogue(spark: SparkSession) -> None:
    rng = random.Random(7)
    vocabulary = [f"t{i}" for i in range(60)]
    rows = [(f"I{i:04d}", f"c{rng.randrange(6)}", rng.sample(vocabulary, rng.randint(1, 6))) for i in range(400)]
    items = spark.createDataFrame(rows, FEATURES)
    reference = as_set(items.transform(exact_pairs(0.2)))
    assert len(reference) > 500
    for blocks in (1, 4):
        assert as_set(items.transform(blocked_exact_pairs(0.2, blocks))) == reference


def test_an_empty_catalogue_gives_no_pairs(spark: SparkSession) -> None:
    assert spark.createDataFrame([], FEATURES).transform(blocked_exact_pairs(0.2, 3)).count() == 0


@pytest.mark.parametrize(
    ("items", "block_items", "cores", "blocks"),
    [(5_000, 10_000, 2, 2), (5_000, 10_000, 1, 1), (100_000, 10_000, 2, 10), (20_000, 10_000, 16, 6), (0, 10, 1, 1)],
)
def test_block_count_by_size_and_cores(items: int, block_items: int, cores: int, blocks: int) -> None:
    assert block_count(items, block_items, cores) == blocks
