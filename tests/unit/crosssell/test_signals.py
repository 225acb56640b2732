"""Item popularity on in-line events (distinct users, the basket figures the ranker reads) and the
ALS cosine of candidate pairs."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.crosssell.signals import dot, factor_cosine, item_popularity
from crosssell_spark.schemas import EVENTS_CLEAN_SCHEMA

T0 = datetime(2026, 10, 1, 12, 0, 0)


def test_item_popularity_counts_baskets_and_repeat_buyers(spark: SparkSession):
    # (user, session, item, event type): U1 buys A in three baskets, U2 carts A and B in one basket,
    # U3 only views C; D is never seen. Four baskets in all (sessions with a cart or purchase).
    rows = [("U1", "s1", "A", "purchase"), ("U1", "s2", "A", "purchase"), ("U1", "s3", "A", "purchase"),
            ("U1", "s3", "A", "cart"), ("U2", "s1", "A", "cart"), ("U2", "s1", "B", "cart"),
            ("U3", "s1", "C", "view")]  # fmt: skip
    events = spark.createDataFrame(
        [(f"e{n}", u, i, t, T0 + timedelta(hours=n), s, 1, 1.0, T0.date()) for n, (u, s, i, t) in enumerate(rows)],
        EVENTS_CLEAN_SCHEMA,
    )
    attributes = spark.createDataFrame(
        [("A", "fruit"), ("B", "sauces"), ("C", "sauces"), ("D", "fruit")], "item_id string, item_category string"
    )
    got = {r["item_id"]: r for r in item_popularity(events, attributes, ["cart", "purchase"]).collect()}
    assert {i: r["item_users"] for i, r in got.items()} == {"A": 2, "B": 1, "C": 1, "D": 0}
    assert {i: r["basket_share"] for i, r in got.items()} == {"A": 1.0, "B": 0.25, "C": 0.0, "D": 0.0}
    assert {i: r["baskets_per_buyer"] for i, r in got.items()} == {"A": 2.0, "B": 1.0, "C": 0.0, "D": 0.0}
    assert {i: r["popularity_rank"] for i, r in got.items()} == {"A": 1, "D": 2, "B": 1, "C": 2}


def test_factor_cosine_matches_spark_arithmetic_and_is_null_without_factors(spark: SparkSession):
    rng = np.random.default_rng(7)
    vectors = {f"I{n}": rng.normal(size=32).astype(np.float32).tolist() for n in range(6)}
    vectors.update({"X": [1.0, 0.0] + [0.0] * 30, "Y": [1.0, 1.0] + [0.0] * 30, "Z": [0.0] * 32})
    factors = spark.createDataFrame(list(vectors.items()), "item_id string, features array<float>")
    pairs = [(a, b) for a in vectors for b in vectors] + [("I0", "unknown"), ("unknown", "I1")]
    frame = spark.createDataFrame(pairs, "anchor string, item string")
    cosine = factor_cosine(factors)
    got = {
        (r["anchor"], r["item"]): r["cos"]
        for r in frame.select("*", cosine(F.col("anchor"), F.col("item")).alias("cos")).collect()
    }

    # the same figure with Spark's own array arithmetic (float products summed in double), bit for bit
    left = factors.select(F.col("item_id").alias("anchor"), F.col("features").alias("l"))
    right = factors.select(F.col("item_id").alias("item"), F.col("features").alias("r"))
    norms = F.sqrt(dot(F.col("l"), F.col("l"))) * F.sqrt(dot(F.col("r"), F.col("r")))
    spark_cos = F.when(norms > 0, dot(F.col("l"), F.col("r")) / norms)
    expected = {
        (r["anchor"], r["item"]): r["cos"]
        for r in left.crossJoin(right).select("anchor", "item", spark_cos.alias("cos")).collect()
    }
    assert {k: got[k] for k in expected} == expected
    assert abs(got[("X", "Y")] - 2**-0.5) < 1e-12 and abs(got[("I3", "I3")] - 1.0) < 1e-6
    assert got[("X", "Z")] is None and got[("Z", "Z")] is None  # a zero vector has no direction
    assert got[("I0", "unknown")] is None and got[("unknown", "I1")] is None  # no factors, no figure


def test_factor_cosine_refuses_an_item_with_two_factor_rows(spark: SparkSession):
    factors = spark.createDataFrame([("A", [1.0, 0.0]), ("A", [0.0, 1.0])], "item_id string, features array<float>")
    with pytest.raises(ValueError, match="'A' more than once"):
        factor_cosine(factors)
