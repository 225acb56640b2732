"""Fresh interest for the users a micro-batch touched: fold-in, category interest, user lists.

`RefreshContext` holds what a refresh reads from the published batch tables (item factors and
Y^T Y, the category candidates of the interest graph, popularity, similarity, item attributes),
loaded once and reloaded when a batch run publishes new item factors. `refresh_users` then
builds, for the touched users only, the same rows the batch stages build for everyone: with
`streaming.refresh_engine: spark` it calls the batch code (`score_interest`,
`allowed_user_categories`, `build_user_lists`); with `driver` (default) it runs their pandas
mirrors in `driver_refresh.py`, which a test holds equal to them, in a fraction of the time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, IntegerType, StringType, StructField, StructType

from crosssell_spark.config import AppConfig
from crosssell_spark.crosssell.candidates import allowed_user_categories
from crosssell_spark.crosssell.signals import category_names, category_shares, item_attributes, item_popularity
from crosssell_spark.crosssell.stage import build_user_lists
from crosssell_spark.interest.category_interest import (
    ALS_SCORES_SCHEMA,
    CategoryCandidates,
    category_popularity,
    item_categories,
    observed_weights,
    score_interest,
    top_items_per_category,
)
from crosssell_spark.interest.interactions import build_interactions
from crosssell_spark.interest.model_store import LATEST, METADATA, MODELS_DIR, read_text
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import (
    ALS_SCORE,
    CATEGORY_ID,
    EVENT_TS,
    EVENT_TYPE,
    FACTOR_ALS,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_ITEMS,
    INTERACTION_WEIGHT,
    ITEM_ID,
    PURCHASE,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.streaming.driver_refresh import (
    DriverTables,
    allowed_categories_local,
    build_user_lists_local,
    interactions_local,
    observed_shares,
    score_interest_local,
)
from crosssell_spark.streaming.foldin import fold_in_many, gram
from crosssell_spark.tables import (
    CATEGORIES,
    EVENTS_CLEAN,
    ITEM_FACTORS,
    ITEM_SIMILARITY,
    ITEMS_CLEAN,
    USER_FACTORS,
    USER_ID_MAP,
)

log = logging.getLogger(__name__)
FOLDED_SCHEMA = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(FEATURES, ArrayType(FloatType()), False),
        StructField(HISTORY_ITEMS, IntegerType(), False),
        StructField(USER_IDX, IntegerType(), False),
    ]
)
REQUIRED_TABLES = (EVENTS_CLEAN, ITEMS_CLEAN, CATEGORIES, ITEM_FACTORS, ITEM_SIMILARITY, USER_ID_MAP, USER_FACTORS)


@dataclass
class RefreshContext:
    """The published batch state a refresh scores against (cached DataFrames and driver arrays)."""

    item_factors_version: int
    item_position: dict[str, int]  # item_id -> row of `factors`
    factors: np.ndarray  # (items, rank) float32, every item with factors (ALS-trained and fallback)
    yty: np.ndarray  # Y^T Y over the ALS-trained rows
    alpha: float
    reg_param: float
    reference_ts: datetime  # recency-decay clock of the published interactions (their newest event)
    candidates: CategoryCandidates
    item_category: DataFrame
    category_popularity: DataFrame
    item_factors: DataFrame
    attributes: DataFrame
    popularity: DataFrame
    similarity: DataFrame
    shares: DataFrame
    names: DataFrame
    tables: DriverTables | None  # driver-side copies for `streaming.refresh_engine: driver`

    @classmethod
    def load(cls, spark: SparkSession, config: AppConfig, lake: Lakehouse) -> RefreshContext:
        missing = [spec.name for spec in REQUIRED_TABLES if not lake.exists(spec.name)]
        if missing:
            raise RuntimeError(f"streaming refresh needs a batch run first; missing tables {missing}")
        cfg, level = config.interest, config.categories.cross_level
        version = int(lake.version(ITEM_FACTORS.name) or 0)
        item_factors = lake.read(ITEM_FACTORS.name, version).select(ITEM_ID, FEATURES, FACTOR_SOURCE, "history_users")
        local = _to_pandas(item_factors.select(ITEM_ID, FEATURES, FACTOR_SOURCE))
        factors = np.stack(local[FEATURES].to_numpy()).astype(np.float32)
        trained = (local[FACTOR_SOURCE] == FACTOR_ALS).to_numpy()
        events, items = lake.read(EVENTS_CLEAN.name), lake.read(ITEMS_CLEAN.name)
        newest = events.agg(F.max(EVENT_TS)).first()
        reference = newest[0] if newest is not None and newest[0] is not None else datetime.now()
        item_category = items.transform(item_categories(level)).cache()
        attributes = item_attributes(items, level).cache()
        popularity = item_popularity(events, attributes).cache()
        alpha, reg = _trained_params(spark, lake, config)
        popularity_per_category = (
            events.transform(build_interactions(cfg, reference)).transform(category_popularity(item_category)).cache()
        )
        similarity = lake.read(ITEM_SIMILARITY.name).cache()
        shares, names = category_shares(popularity).cache(), category_names(lake.read(CATEGORIES.name)).cache()
        tables = None
        if config.streaming.refresh_engine == "driver":
            signals = (attributes, popularity, similarity, shares, names, popularity_per_category, item_category)
            tables = DriverTables.collect(*signals)
        context = cls(
            item_factors_version=version,
            item_position={item: n for n, item in enumerate(local[ITEM_ID])},
            factors=factors,
            yty=gram(factors[trained]),
            alpha=alpha,
            reg_param=reg,
            reference_ts=reference,
            candidates=CategoryCandidates.from_rows(
                item_factors.transform(top_items_per_category(cfg.top_items_per_category, item_category)).collect()
            ),
            item_category=item_category,
            category_popularity=popularity_per_category,
            item_factors=item_factors.select(ITEM_ID, FEATURES).cache(),
            attributes=attributes,
            popularity=popularity,
            similarity=similarity,
            shares=shares,
            names=names,
            tables=tables,
        )
        log.info(
            "refresh context: item_factors v%d, %d items (%d ALS-trained), alpha %s, reg %s",
            version, len(factors), int(trained.sum()), alpha, reg,
        )  # fmt: skip
        if tables is not None:  # the driver copies serve the refresh: free the cached Spark copies (plans stay)
            context.release()
        return context

    def release(self) -> None:
        for df in (self.item_category, self.category_popularity, self.item_factors, self.attributes,
                   self.popularity, self.similarity, self.shares, self.names):  # fmt: skip
            df.unpersist()


def _to_pandas(df: DataFrame) -> pd.DataFrame:
    return cast(pd.DataFrame, df.toPandas())


def _trained_params(spark: SparkSession, lake: Lakehouse, config: AppConfig) -> tuple[float, float]:
    """alpha and regParam of the model behind the published factors (tuning may have changed them)."""
    als = config.interest.als
    latest = read_text(spark, f"{lake.root}/{MODELS_DIR}/{LATEST}")
    metadata = read_text(spark, f"{lake.root}/{MODELS_DIR}/{latest.strip()}/{METADATA}") if latest else None
    if not metadata:
        return als.alpha, als.reg_param
    params = json.loads(metadata).get("params", {})
    return float(params.get("alpha", als.alpha)), float(params.get("reg_param", als.reg_param))


@dataclass(frozen=True)
class RefreshedRows:
    """Rows to write for `user_ids`: the touched users with at least one weighted interaction."""

    user_factors: DataFrame
    interest: DataFrame
    user_lists: DataFrame
    user_ids: list[str]


def fold_in_users(context: RefreshContext, interactions: pd.DataFrame) -> pd.DataFrame:
    """(user_id, item_id, interaction_weight) rows -> (user_id, features, history_items) per user
    with at least one item that has factors."""
    known = interactions[ITEM_ID].map(context.item_position)
    rows = interactions.assign(_pos=known).dropna(subset=["_pos"])
    if rows.empty:
        return pd.DataFrame({USER_ID: [], FEATURES: [], HISTORY_ITEMS: []})
    users, factors = fold_in_many(
        context.factors,
        context.yty,
        rows[USER_ID].to_numpy(dtype=object),
        rows["_pos"].to_numpy(dtype=np.int64),
        rows[INTERACTION_WEIGHT].to_numpy(dtype=np.float64),
        context.alpha,
        context.reg_param,
    )
    history = interactions.groupby(USER_ID)[ITEM_ID].nunique()
    return pd.DataFrame({USER_ID: users, FEATURES: list(factors), HISTORY_ITEMS: history.loc[users].to_numpy()})


def refresh_users(
    spark: SparkSession,
    config: AppConfig,
    context: RefreshContext,
    events: pd.DataFrame,
    ids: pd.DataFrame,
    run_id: str,
    batch_id: int,
    refreshed_at: datetime,
) -> RefreshedRows:
    """user_factors, user_category_interest and user_cross_sell rows of the users in `events`, built
    on the driver (`context.tables`, refresh_engine driver) or by the batch stage's Spark builders.

    Args:
        events: every events_clean row of the touched users (batch history plus streamed events).
        ids: (user_id, user_idx) of those users, new ones included.
    """
    cfg = config.interest
    interactions: DataFrame | None = None
    newest = events[EVENT_TS].max() if len(events) else None
    reference = max(context.reference_ts, newest.to_pydatetime()) if newest is not None else context.reference_ts
    if context.tables is not None:  # refresh_engine driver
        local = interactions_local(cfg, reference, events[[USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS]])
    else:
        user_events = spark.createDataFrame(events[EVENTS_CLEAN.schema.fieldNames()], EVENTS_CLEAN.schema).cache()
        interactions = user_events.transform(build_interactions(cfg, reference)).cache()
        local = _to_pandas(interactions.select(USER_ID, ITEM_ID, INTERACTION_WEIGHT))
    idx = ids.set_index(USER_ID)[USER_IDX]
    folded = fold_in_users(context, local[local[USER_ID].isin(idx.index)])
    folded_idx = idx.loc[folded[USER_ID]].to_numpy(np.int32)
    if folded.empty:
        if interactions is not None:
            interactions.unpersist()
            user_events.unpersist()
        empty = spark.createDataFrame([], FOLDED_SCHEMA)
        return RefreshedRows(empty, empty, empty, [])

    scores = context.candidates.scores(np.stack(folded[FEATURES].to_numpy()), cfg.top_k_affinities)
    stamp = (
        F.lit(refreshed_at).cast("timestamp").alias(REFRESHED_AT),
        F.lit(batch_id).cast("long").alias(REFRESH_BATCH),
    )
    factors = spark.createDataFrame(
        pd.DataFrame(
            {
                USER_ID: folded[USER_ID].astype(str).to_numpy(object),
                FEATURES: [np.asarray(f, np.float32) for f in folded[FEATURES]],
                HISTORY_ITEMS: folded[HISTORY_ITEMS].astype(np.int32).to_numpy(),
                USER_IDX: folded_idx,
            }
        ),
        FOLDED_SCHEMA,
    )
    user_factors = factors.select(USER_ID, USER_IDX, FEATURES, HISTORY_ITEMS, F.lit(run_id).alias(RUN_ID))
    refreshed = [str(u) for u in folded[USER_ID]]
    if interactions is None:  # refresh_engine: driver
        interest_rows, list_rows = _driver_rows(config, context, events, local, folded, scores, spark)
        with_run = (F.lit(run_id).alias(RUN_ID), *stamp)
        return RefreshedRows(user_factors, interest_rows.select("*", *with_run), list_rows.select("*", *with_run),
                             refreshed)  # fmt: skip

    categories = np.asarray(context.candidates.category_ids, dtype=object)
    # pandas in, Arrow across (spark.sql.execution.arrow.pyspark.enabled): no per-row Python objects
    als_scores = spark.createDataFrame(
        pd.DataFrame(
            {
                USER_IDX: np.repeat(folded_idx, len(categories)).astype(np.int32),
                CATEGORY_ID: np.tile(categories, len(folded)),
                ALS_SCORE: scores.ravel().astype(np.float64),
            }
        ),
        ALS_SCORES_SCHEMA,
    )
    interest = (
        user_factors.select(USER_ID, USER_IDX, HISTORY_ITEMS)
        .transform(
            score_interest(
                cfg,
                context.category_popularity,
                interactions.transform(observed_weights(context.item_category)),
                als_scores,
                context.candidates.without_als,
                run_id,
            )
        )
        .select("*", *stamp)
        .localCheckpoint()
    )
    lists = (
        build_user_lists(
            config.crosssell,
            allowed_user_categories(interest, config.crosssell.user),
            user_events,
            context.similarity,
            context.popularity,
            context.attributes,
            user_factors,
            context.item_factors,
            context.shares,
            context.names,
        )
        .select("*", F.lit(run_id).alias(RUN_ID), *stamp)
        .localCheckpoint()
    )
    interactions.unpersist()
    user_events.unpersist()
    return RefreshedRows(user_factors, interest, lists, refreshed)


INTEREST_ROWS_SCHEMA = (
    "user_id string, category_id string, interest_score double, observed_share double, "
    "is_new_category boolean, interest_rank int, score_source string"
)
LIST_ROWS_SCHEMA = (
    "user_id string, rank int, item_id string, score double, item_category string, anchor_item_id string, "
    "source string, reason_codes array<string>, reason string, support long, als_score double, "
    "interest_component double, cooccurrence_score double, popularity_score double, is_new_category boolean"
)


def _driver_rows(
    config: AppConfig,
    context: RefreshContext,
    events: pd.DataFrame,
    interactions: pd.DataFrame,
    folded: pd.DataFrame,
    als_scores: np.ndarray,
    spark: SparkSession,
) -> tuple[DataFrame, DataFrame]:
    """user_category_interest and user_cross_sell rows (without run columns) built on the driver."""
    tables = context.tables
    assert tables is not None
    users = pd.DataFrame({USER_ID: folded[USER_ID].astype(str), HISTORY_ITEMS: folded[HISTORY_ITEMS]})
    interest = score_interest_local(
        config.interest,
        tables.category_popularity,
        observed_shares(interactions, tables.item_category),
        users,
        als_scores,
        context.candidates.category_ids,
        context.candidates.without_als,
    )
    purchases = events.loc[events[EVENT_TYPE] == PURCHASE, [USER_ID, ITEM_ID, EVENT_TS]]
    lists = build_user_lists_local(
        config.crosssell,
        allowed_categories_local(interest, config.crosssell.user),
        purchases,
        tables,
        dict(zip(users[USER_ID], folded[FEATURES], strict=True)),
        context.item_position,
        context.factors,
    )
    list_columns = [c.split(" ")[0] for c in LIST_ROWS_SCHEMA.split(", ")]
    lists = lists[list_columns].astype({"support": object})
    lists["support"] = [None if pd.isna(v) else int(v) for v in lists["support"]]
    return spark.createDataFrame(interest, INTEREST_ROWS_SCHEMA), spark.createDataFrame(lists, LIST_ROWS_SCHEMA)
