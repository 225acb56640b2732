"""The driver engine's pandas steps give what the Spark builders give, on in-line rows with ties and odd text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.crosssell import rules
from crosssell_spark.crosssell.reasons import shared_title_words
from crosssell_spark.streaming.driver_refresh import rank_lists_local, shared_title_words_local

TITLES = [
    ("Red Cotton T-Shirt", "cotton shirt, red"),
    ("Café crème_brûlée 2x", "CRÈME brûlée café 2x"),
    ("USB-C cable 2m (braided)", "braided usb cable"),
    ("a b c", "a b c"),
    ("Garden hose", "Kitchen knife"),
    ("one two three four five", "five four three two one"),
    ("Ölkanne – 1L", "ölkanne 1l"),
    (None, "anything"),
    ("anything", None),
]


def test_shared_title_words_match_spark(spark: SparkSession):
    frame = spark.createDataFrame(TITLES, "left string, right string")
    joined = F.array_join(shared_title_words(F.col("left"), F.col("right")), " ")
    expected = [r[0] for r in frame.select(joined).collect()]
    assert [shared_title_words_local(left, right) for left, right in TITLES] == expected
    assert expected[0] == "red cotton shirt" and expected[4] == "" and expected[7] is None


@pytest.mark.parametrize("evidence_first", [True, False])
def test_rank_lists_match_spark_with_ties(spark: SparkSession, evidence_first: bool):
    rng = np.random.default_rng(7)
    n = 400
    local = pd.DataFrame(
        {
            "user_id": rng.choice(["u1", "u2", "u3", "u4"], n),
            "item_id": rng.choice([f"i{k}" for k in range(40)], n),
            "item_category": rng.choice(["c1", "c2", "c3", "c4", "c5"], n),
            "anchor_item_id": rng.choice(["a1", "a2", None], n),
            "score": rng.choice([0.1, 0.2, 0.3, 0.5], n),  # few values: many ties
            "source": rng.choice(["basket", "interest", "popular"], n),
            "source_priority": rng.choice([1, 3], n).astype(np.int32),
        }
    )
    # one category per item, as in real candidates
    local["item_category"] = local["item_id"].map(lambda i: f"c{int(i[1:]) % 5}")
    schema = (
        "user_id string, item_id string, item_category string, anchor_item_id string, score double, "
        "source string, source_priority int"
    )
    ranked = rules.rank_lists("user_id", k=8, per_category_cap=2, min_distinct_categories=3,
                              evidence_first=evidence_first)  # fmt: skip
    expected = spark.createDataFrame(local, schema).transform(ranked).toPandas()
    actual = rank_lists_local(local, "user_id", 8, 2, 3, evidence_first)
    columns = ["user_id", "rank", "item_id", "score", "source", "anchor_item_id"]
    pd.testing.assert_frame_equal(
        actual[columns].sort_values(["user_id", "rank"]).reset_index(drop=True),
        expected[columns].sort_values(["user_id", "rank"]).reset_index(drop=True),
        check_dtype=False,
    )
