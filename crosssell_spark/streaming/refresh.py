"""Fresh interest for the users a micro-batch touched: fold-in, category interest, user lists.

`RefreshContext` holds what a refresh reads from the published batch tables (item factors and
Y^T Y, the category candidates of the interest graph, popularity, similarity, item attributes),
loaded once and reloaded when a batch run publishes new item factors. `refresh_users` folds the
touched users in, then hands interest and lists to the engine chosen once by
`streaming.refresh_engine`: `DriverEngine` (pandas on the driver, default) or `SparkEngine` (the
batch stage's Spark builders). Both end in the one list tail, `crosssell.lists.finish`.
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
from crosssell_spark.crosssell.build import ListInputs, LocalInputs, build_user_lists, scored_specs
from crosssell_spark.crosssell.candidates import allowed_user_categories
from crosssell_spark.crosssell.signals import category_names, category_shares, item_attributes, item_popularity
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
    FACTOR_ALS,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_ITEMS,
    INTERACTION_WEIGHT,
    ITEM_ID,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.streaming.driver_refresh import DriverEngine, DriverTables
from crosssell_spark.streaming.engine import FoldedUsers, RefreshEngine
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
    list_inputs: ListInputs  # what the spark engine builds lists from (small tables on the driver)
    tables: DriverTables | None  # driver-side copies for `streaming.refresh_engine: driver`

    @classmethod
    def load(cls, spark: SparkSession, config: AppConfig, lake: Lakehouse) -> RefreshContext:
        missing = [spec.name for spec in REQUIRED_TABLES if not lake.exists(spec.name)]
        if missing:
            raise RuntimeError(f"streaming refresh needs a batch run first; missing tables {missing}")
        cfg, level = config.interest, config.categories.cross_level
        version = int(lake.read_version(ITEM_FACTORS.name) or 0)
        item_factors = lake.read(ITEM_FACTORS.name, version).select(ITEM_ID, FEATURES, FACTOR_SOURCE, "history_users")
        local = _to_pandas(item_factors.select(ITEM_ID, FEATURES, FACTOR_SOURCE))
        factors = np.stack(local[FEATURES].to_numpy()).astype(np.float32)
        trained = (local[FACTOR_SOURCE] == FACTOR_ALS).to_numpy()
        events, items = lake.read(EVENTS_CLEAN.name), lake.read(ITEMS_CLEAN.name)
        newest = events.agg(F.max(EVENT_TS)).first()
        reference = newest[0] if newest is not None and newest[0] is not None else datetime.now()
        item_category = items.transform(item_categories(level)).cache()
        attributes = item_attributes(items, level).cache()
        popularity = item_popularity(events, attributes, config.similarity.cooccurrence.basket_types).cache()
        alpha, reg = _trained_params(spark, lake, config)
        popularity_per_category = (
            events.transform(build_interactions(cfg, reference)).transform(category_popularity(item_category)).cache()
        )
        similarity = lake.read(ITEM_SIMILARITY.name).cache()
        shares, names = category_shares(popularity), category_names(lake.read(CATEGORIES.name))
        tables = None
        if config.streaming.refresh_engine == "driver":
            signals = (attributes, popularity, similarity, shares, names, popularity_per_category, item_category)
            tables = DriverTables.collect(*signals)
        item_factors_cached = item_factors.select(ITEM_ID, FEATURES).cache()
        item_spec, user_spec = scored_specs(lake, config.crosssell)  # the batch run's ranker, reloaded with it
        list_inputs = ListInputs(
            attributes=attributes,
            popularity=popularity,
            similarity=similarity,
            item_factors=item_factors_cached,
            shares=tables.shares if tables is not None else _to_pandas(shares),
            names=tables.names if tables is not None else _to_pandas(names),
            partitions=config.spark.shuffle_partitions,
            item_spec=item_spec,
            user_spec=user_spec,
        )
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
            item_factors=item_factors_cached,
            attributes=attributes,
            popularity=popularity,
            similarity=similarity,
            list_inputs=list_inputs,
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
                   self.popularity, self.similarity):  # fmt: skip
            df.unpersist()

    def local_inputs(self) -> LocalInputs:
        """The driver copies list building reads (refresh_engine driver)."""
        assert self.tables is not None
        t = self.tables
        return LocalInputs(t.attributes, t.popularity, t.similarity, t.shares, t.names, self.item_position,
                           self.factors, self.list_inputs.user_spec)  # fmt: skip


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


class SparkEngine:
    """`streaming.refresh_engine: spark`: the batch stages' Spark builders, for signal tables too
    large for the driver. Rows are materialised (`localCheckpoint`) before the engine closes."""

    def __init__(self, spark: SparkSession, config: AppConfig, context: RefreshContext) -> None:
        self.spark, self.config, self.context = spark, config, context
        self.cached: list[DataFrame] = []

    def _cache(self, df: DataFrame) -> DataFrame:
        self.cached.append(df.cache())
        return df

    def interactions(self, events: pd.DataFrame, reference: datetime) -> pd.DataFrame:
        self.user_events = self._cache(
            self.spark.createDataFrame(events[EVENTS_CLEAN.schema.fieldNames()], EVENTS_CLEAN.schema)
        )
        self.interaction_rows = self._cache(
            self.user_events.transform(build_interactions(self.config.interest, reference))
        )
        return _to_pandas(self.interaction_rows.select(USER_ID, ITEM_ID, INTERACTION_WEIGHT))

    def rows(self, users: FoldedUsers) -> tuple[DataFrame, DataFrame]:
        categories = np.asarray(users.als_categories, dtype=object)
        folded_idx = users.folded[USER_IDX].to_numpy(np.int32)
        # pandas in, Arrow across (spark.sql.execution.arrow.pyspark.enabled): no per-row Python objects
        scores = self.spark.createDataFrame(
            pd.DataFrame(
                {
                    USER_IDX: np.repeat(folded_idx, len(categories)).astype(np.int32),
                    CATEGORY_ID: np.tile(categories, len(users.folded)),
                    ALS_SCORE: users.als_scores.ravel().astype(np.float64),
                }
            ),
            ALS_SCORES_SCHEMA,
        )
        ctx, cfg = self.context, self.config.interest
        observed = self.interaction_rows.transform(observed_weights(ctx.item_category))
        interest = (
            users.user_factors.select(USER_ID, USER_IDX, HISTORY_ITEMS)
            .transform(
                score_interest(cfg, ctx.category_popularity, observed, scores, users.centroid_categories, users.run_id)
            )
            .drop(RUN_ID)
            .localCheckpoint()
        )
        allowed = allowed_user_categories(interest, self.config.crosssell.user)
        lists = build_user_lists(self.config.crosssell, ctx.list_inputs, allowed, self.user_events, users.user_factors)
        return interest, lists.localCheckpoint()

    def close(self) -> None:
        for df in self.cached:
            df.unpersist()


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
    """user_factors, user_category_interest and user_cross_sell rows of the users in `events`.

    Args:
        events: every events_clean row of the touched users (batch history plus streamed events).
        ids: (user_id, user_idx) of those users, new ones included.
    """
    engine: RefreshEngine = (
        DriverEngine(spark, config, context.tables, context.local_inputs())
        if context.tables is not None
        else SparkEngine(spark, config, context)
    )
    newest = events[EVENT_TS].max() if len(events) else None
    reference = max(context.reference_ts, newest.to_pydatetime()) if newest is not None else context.reference_ts
    try:
        interactions = engine.interactions(events, reference)
        idx = ids.set_index(USER_ID)[USER_IDX]
        folded = fold_in_users(context, interactions[interactions[USER_ID].isin(idx.index)])
        if folded.empty:
            empty = spark.createDataFrame([], FOLDED_SCHEMA)
            return RefreshedRows(empty, empty, empty, [])
        folded[USER_IDX] = idx.loc[folded[USER_ID]].to_numpy(np.int32)
        factors = spark.createDataFrame(
            pd.DataFrame(
                {
                    USER_ID: folded[USER_ID].astype(str).to_numpy(object),
                    FEATURES: [np.asarray(f, np.float32) for f in folded[FEATURES]],
                    HISTORY_ITEMS: folded[HISTORY_ITEMS].astype(np.int32).to_numpy(),
                    USER_IDX: folded[USER_IDX].to_numpy(np.int32),
                }
            ),
            FOLDED_SCHEMA,
        )
        user_factors = factors.select(USER_ID, USER_IDX, FEATURES, HISTORY_ITEMS, F.lit(run_id).alias(RUN_ID))
        scores = context.candidates.scores(np.stack(folded[FEATURES].to_numpy()), config.interest.top_k_affinities)
        folded_users = FoldedUsers(
            events,
            interactions,
            folded,
            scores,
            list(context.candidates.category_ids),
            context.candidates.without_als,
            user_factors,
            run_id,
        )
        interest, lists = engine.rows(folded_users)
    finally:
        engine.close()
    stamp = (
        F.lit(run_id).alias(RUN_ID),
        F.lit(refreshed_at).cast("timestamp").alias(REFRESHED_AT),
        F.lit(batch_id).cast("long").alias(REFRESH_BATCH),
    )
    refreshed = [str(u) for u in folded[USER_ID]]
    return RefreshedRows(user_factors, interest.select("*", *stamp), lists.select("*", *stamp), refreshed)
