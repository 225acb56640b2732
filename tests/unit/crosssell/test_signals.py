"""Item popularity on in-line events: distinct users, and the basket figures the ranker reads."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import SparkSession

from crosssell_spark.crosssell.signals import item_popularity
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
