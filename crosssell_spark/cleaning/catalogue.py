"""Catalogue cleaning: normalise text, parse prices and stock, resolve items listed twice.

Rules, first failing one wins (reason codes in `ItemReason`):
- `null_key`: blank `item_id`;
- `missing_title`: blank title after normalisation;
- `bad_price`: unparseable, negative or above `cleaning.max_price`;
- `bad_in_stock`: an in-stock value that is not a recognised boolean.
Rows of the same `item_id` are resolved to one: the deepest category path wins, then the path
listed most often, then the lexicographically smallest path, then the first title; the others
are counted as duplicates.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.cleaning.text import blank_to_null, normalise_text, slug
from crosssell_spark.config import CleaningConfig
from crosssell_spark.schemas import (
    BRAND,
    CATEGORY_DEPTH,
    CATEGORY_ID,
    CATEGORY_IDS,
    CATEGORY_NAME,
    CATEGORY_NAMES,
    CATEGORY_PATH,
    CATEGORY_SEPARATOR,
    DESCRIPTION,
    DETAIL,
    IN_STOCK,
    IS_LEAF,
    ITEM_ID,
    LEVEL,
    PARENT_ID,
    PRICE,
    RAW_ITEM_COLUMNS,
    REASON,
    TITLE,
)

IS_DUPLICATE = "is_duplicate"
CLEAN_PREFIX = "clean_"  # parsed values ride beside the raw ones until the split


class ItemReason:
    NULL_KEY = "null_key"
    MISSING_TITLE = "missing_title"
    BAD_PRICE = "bad_price"
    BAD_IN_STOCK = "bad_in_stock"


TRUE_WORDS = ("true", "t", "yes", "y", "1", "in stock", "instock", "available")
FALSE_WORDS = ("false", "f", "no", "n", "0", "out of stock", "outofstock", "unavailable", "sold out")


def _clean(name: str) -> str:
    return CLEAN_PREFIX + name


def _parse_in_stock(raw: Column, default: bool) -> Column:
    value = F.lower(F.trim(raw))
    return (
        F.when(raw.isNull() | (value == ""), F.lit(default))
        .when(value.isin(*TRUE_WORDS), F.lit(True))
        .when(value.isin(*FALSE_WORDS), F.lit(False))
    )


def category_levels(raw_path: Column, unknown_category: str) -> Column:
    """Split a ' > ' path into normalised level names; an empty path is the unknown category."""
    levels = F.filter(
        F.transform(F.split(F.coalesce(raw_path, F.lit("")), CATEGORY_SEPARATOR, -1), normalise_level),
        lambda level: level.isNotNull(),
    )
    return F.when(F.size(levels) > 0, levels).otherwise(F.array(F.lit(unknown_category)))


def normalise_level(level: Column) -> Column:
    """Whitespace-normalise one category level name (NFKC is applied to the whole path first)."""
    trimmed = F.trim(F.regexp_replace(level, r"\s+", " "))
    return F.when(trimmed == "", None).otherwise(trimmed)


def category_ids(levels: Column) -> Column:
    """Stable, readable ids per level: slugs of the path prefix, e.g. `electronics/phones`."""
    slugs = F.transform(levels, slug)
    return F.transform(slugs, lambda _s, i: F.array_join(F.slice(slugs, 1, i + 1), "/"))


def classify_items(cfg: CleaningConfig) -> Callable[[DataFrame], DataFrame]:
    """Raw catalogue -> raw columns + parsed `clean_*` columns + `reason` + `is_duplicate`."""

    def transform(raw: DataFrame) -> DataFrame:
        price = F.col(PRICE).try_cast("double")
        in_stock = _parse_in_stock(F.col(IN_STOCK), cfg.default_in_stock)
        levels = category_levels(normalise_text(CATEGORY_PATH), cfg.unknown_category)
        parsed = raw.select(
            *RAW_ITEM_COLUMNS,
            blank_to_null(ITEM_ID).alias(_clean(ITEM_ID)),
            normalise_text(TITLE).alias(_clean(TITLE)),
            normalise_text(DESCRIPTION).alias(_clean(DESCRIPTION)),
            F.lower(normalise_text(BRAND)).alias(_clean(BRAND)),
            levels.alias(_clean(CATEGORY_NAMES)),
            price.alias(_clean(PRICE)),
            in_stock.alias(_clean(IN_STOCK)),
        )
        price_present = blank_to_null(PRICE).isNotNull()
        reason = (
            F.when(F.col(_clean(ITEM_ID)).isNull(), F.lit(ItemReason.NULL_KEY))
            .when(F.col(_clean(TITLE)).isNull(), F.lit(ItemReason.MISSING_TITLE))
            .when(
                price_present
                & (F.col(_clean(PRICE)).isNull() | (F.col(_clean(PRICE)) < 0) | (F.col(_clean(PRICE)) > cfg.max_price)),
                F.lit(ItemReason.BAD_PRICE),
            )
            .when(F.col(_clean(IN_STOCK)).isNull(), F.lit(ItemReason.BAD_IN_STOCK))
        )
        detail = F.when(reason == ItemReason.BAD_PRICE, F.concat(F.lit("price="), F.col(PRICE))).when(
            reason == ItemReason.BAD_IN_STOCK, F.concat(F.lit("in_stock="), F.col(IN_STOCK))
        )
        classified = parsed.withColumn(REASON, reason).withColumn(DETAIL, detail)
        return _flag_duplicates(classified)

    return transform


def _flag_duplicates(classified: DataFrame) -> DataFrame:
    """Keep one valid row per item id by the documented rule; flag the rest as duplicates."""
    valid = F.col(REASON).isNull()
    path_text = F.array_join(F.col(_clean(CATEGORY_NAMES)), CATEGORY_SEPARATOR)
    path_count = F.count(F.lit(1)).over(Window.partitionBy(_clean(ITEM_ID), valid, path_text))
    winner_order = Window.partitionBy(_clean(ITEM_ID), valid).orderBy(
        F.size(_clean(CATEGORY_NAMES)).desc(),
        F.col("_path_count").desc(),
        path_text.asc(),
        F.col(_clean(TITLE)).asc(),
        F.col(_clean(PRICE)).asc_nulls_last(),
        F.col(_clean(BRAND)).asc_nulls_last(),
    )
    return (
        classified.withColumn("_path_count", path_count)
        .withColumn(IS_DUPLICATE, valid & (F.row_number().over(winner_order) > 1))
        .drop("_path_count")
    )


def clean_items(classified: DataFrame) -> DataFrame:
    """Valid, de-duplicated items in the `items_clean` shape."""
    ids = category_ids(F.col(_clean(CATEGORY_NAMES)))
    return classified.filter(F.col(REASON).isNull() & ~F.col(IS_DUPLICATE)).select(
        F.col(_clean(ITEM_ID)).alias(ITEM_ID),
        F.col(_clean(TITLE)).alias(TITLE),
        F.col(_clean(DESCRIPTION)).alias(DESCRIPTION),
        F.col(_clean(BRAND)).alias(BRAND),
        F.col(_clean(CATEGORY_NAMES)).alias(CATEGORY_NAMES),
        ids.alias(CATEGORY_IDS),
        F.element_at(ids, -1).alias(CATEGORY_ID),
        F.size(_clean(CATEGORY_NAMES)).alias(CATEGORY_DEPTH),
        F.col(_clean(PRICE)).alias(PRICE),
        F.col(_clean(IN_STOCK)).alias(IN_STOCK),
    )


def quarantined_items(classified: DataFrame) -> DataFrame:
    """Rejected raw rows with their reason; `run_id` is added by the stage."""
    return classified.filter(F.col(REASON).isNotNull()).select(*RAW_ITEM_COLUMNS, REASON, DETAIL)


def build_categories(items: DataFrame) -> DataFrame:
    """The category hierarchy (id, name, level, parent, path, leaf flag) from clean items."""
    nodes = (
        items.select(F.posexplode(CATEGORY_IDS).alias("pos", CATEGORY_ID), CATEGORY_NAMES, CATEGORY_IDS)
        .select(
            CATEGORY_ID,
            F.element_at(CATEGORY_NAMES, F.col("pos") + 1).alias(CATEGORY_NAME),
            (F.col("pos") + 1).alias(LEVEL),
            F.when(F.col("pos") > 0, F.element_at(CATEGORY_IDS, F.col("pos"))).alias(PARENT_ID),
            F.array_join(F.slice(CATEGORY_NAMES, 1, F.col("pos") + 1), CATEGORY_SEPARATOR).alias(CATEGORY_PATH),
        )
        .groupBy(CATEGORY_ID)
        .agg(
            F.min(CATEGORY_NAME).alias(CATEGORY_NAME),
            F.min(LEVEL).alias(LEVEL),
            F.min(PARENT_ID).alias(PARENT_ID),
            F.min(CATEGORY_PATH).alias(CATEGORY_PATH),
        )
    )
    parents = nodes.select(F.col(PARENT_ID).alias("_parent")).where(F.col("_parent").isNotNull()).distinct()
    return nodes.join(parents, nodes[CATEGORY_ID] == parents["_parent"], "left").select(
        CATEGORY_ID, CATEGORY_NAME, LEVEL, PARENT_ID, CATEGORY_PATH, F.col("_parent").isNull().alias(IS_LEAF)
    )
