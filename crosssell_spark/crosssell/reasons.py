"""Why each recommendation is there: reason codes and a sentence a shopper or merchandiser can read."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crosssell_spark.crosssell.candidates import AFFINITY, ANCHOR_TITLE, BASKET, INTEREST, NEIGHBOUR, POPULAR
from crosssell_spark.crosssell.rules import ANCHOR_CATEGORY, ITEM_CATEGORY, SOURCE
from crosssell_spark.crosssell.signals import ITEM_TITLE
from crosssell_spark.schemas import CATEGORY_NAME, CO_USERS, IS_BEHAVIOURAL, IS_CONTENT, IS_NEW_CATEGORY

REASON_CODES = "reason_codes"
REASON = "reason"
BOUGHT_TOGETHER = "BOUGHT_TOGETHER"
SIMILAR_CONTENT = "SIMILAR_CONTENT"
CATEGORY_AFFINITY = "CATEGORY_AFFINITY"
USER_INTEREST = "USER_INTEREST"
NEW_CATEGORY = "NEW_CATEGORY"
POPULAR_IN_CATEGORY = "POPULAR_IN_CATEGORY"
MAX_SHARED_TOKENS = 3


def shared_title_words(left: Column, right: Column) -> Column:
    """Up to three words (2+ characters) both titles contain, lower-cased, in the left title's order."""

    def words(title: Column) -> Column:
        return F.filter(F.split(F.lower(title), r"[^\p{L}\p{N}]+"), lambda w: F.length(w) >= 2)

    return F.slice(F.array_intersect(words(left), words(right)), 1, MAX_SHARED_TOKENS)


def _codes(*pairs: tuple[Column, str]) -> Column:
    return F.filter(F.array(*[F.when(condition, F.lit(code)) for condition, code in pairs]), lambda c: c.isNotNull())


def explain(candidates: DataFrame, category_names: DataFrame) -> DataFrame:
    """Add `reason_codes` and `reason` from the evidence each row carries.

    Args:
        category_names: item_category, category_name.
    """
    item_names = category_names.withColumnRenamed(CATEGORY_NAME, "_item_category_name")
    anchor_names = category_names.select(
        F.col(ITEM_CATEGORY).alias(ANCHOR_CATEGORY), F.col(CATEGORY_NAME).alias("_anchor_category_name")
    )
    named = candidates.join(F.broadcast(item_names), ITEM_CATEGORY, "left").join(
        F.broadcast(anchor_names), ANCHOR_CATEGORY, "left"
    )
    source = F.col(SOURCE)
    has_anchor = source.isin(NEIGHBOUR, BASKET)
    together = has_anchor & F.col(IS_BEHAVIOURAL)
    alike = has_anchor & F.col(IS_CONTENT)
    new_category = (
        F.coalesce(F.col(IS_NEW_CATEGORY), F.lit(False)) if IS_NEW_CATEGORY in candidates.columns else (F.lit(False))
    )
    shared = F.array_join(shared_title_words(F.col(ANCHOR_TITLE), F.col(ITEM_TITLE)), " ")
    anchor = F.when(source == BASKET, F.concat(F.lit("your "), F.col(ANCHOR_TITLE))).otherwise(F.col(ANCHOR_TITLE))
    sentences = F.array(
        F.when(together, F.format_string("bought together with %s by %d shoppers", anchor, F.col(CO_USERS))),
        F.when(alike & (shared != ""), F.format_string("matches '%s' of %s", shared, anchor)),
        F.when(alike & (shared == ""), F.format_string("looks related to %s", anchor)),
        F.when(
            source == AFFINITY,
            F.format_string("%s shoppers often buy %s", F.col("_anchor_category_name"), F.col("_item_category_name")),
        ),
        F.when(source == INTEREST, F.format_string("you like %s", F.col("_item_category_name"))),
        F.when(new_category, F.lit("a category new to you")),
        F.when(source == POPULAR, F.format_string("popular in %s", F.col("_item_category_name"))),
    )
    codes = _codes(
        (together, BOUGHT_TOGETHER),
        (alike, SIMILAR_CONTENT),
        (source == AFFINITY, CATEGORY_AFFINITY),
        (source == INTEREST, USER_INTEREST),
        (new_category, NEW_CATEGORY),
        (source == POPULAR, POPULAR_IN_CATEGORY),
    )
    return (
        named.withColumn(REASON_CODES, codes)
        .withColumn(REASON, F.array_join(F.filter(sentences, lambda s: s.isNotNull()), "; "))
        .drop("_item_category_name", "_anchor_category_name")
    )
