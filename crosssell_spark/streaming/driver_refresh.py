"""The refresh of one micro-batch's touched users on the driver, in pandas and numpy.

Why: a micro-batch touches a bounded set of users (`streaming.max_files_per_trigger` files). The
batch stage's Spark builders run about 60 small Spark jobs for them, 10-14 s on local[2] whatever
the batch size, which alone breaks the latency goal of the stream. Here the interest rules run as
a few vectorised pandas steps over driver copies of the signal tables (`DriverTables`, collected
once per published item-factor version), and the lists come from `build_user_lists_local`, the
driver engine of list building (`crosssell/build.py`), which ends in the same tail as batch.

Each interest function mirrors one batch function, named in its docstring, step by step. The
parity tests hold the two engines equal (tests/unit/crosssell/test_engine_parity.py,
tests/integration/test_streaming.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import AppConfig, InterestConfig
from crosssell_spark.crosssell.build import LIST_COLUMNS, LocalInputs, build_user_lists_local
from crosssell_spark.crosssell.candidates import EVIDENCE
from crosssell_spark.crosssell.candidates_local import allowed_user_categories_local
from crosssell_spark.interest.interactions import SECONDS_PER_DAY
from crosssell_spark.schemas import (
    CATEGORY_A,
    CATEGORY_ID,
    EVENT_TS,
    EVENT_TYPE,
    FEATURES,
    HISTORY_ITEMS,
    INTERACTION_WEIGHT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_NEW_CATEGORY,
    ITEM_A,
    ITEM_B,
    ITEM_ID,
    OBSERVED_SHARE,
    POPULARITY,
    PURCHASE,
    SCORE_ALS,
    SCORE_CENTROID,
    SCORE_POPULARITY,
    SCORE_SOURCE,
    USER_ID,
)
from crosssell_spark.streaming.engine import FoldedUsers
from crosssell_spark.tables import USER_CROSS_SELL

INTEREST_ROWS_SCHEMA = (
    "user_id string, category_id string, interest_score double, observed_share double, "
    "is_new_category boolean, interest_rank int, score_source string"
)


def _local(df: DataFrame) -> pd.DataFrame:
    return cast(pd.DataFrame, df.toPandas())


@dataclass(frozen=True)
class DriverTables:
    """Driver-side copies of the signal tables a refresh reads (`RefreshContext`'s DataFrames)."""

    attributes: pd.DataFrame  # item_id, item_category, item_price, item_in_stock, item_title
    popularity: pd.DataFrame  # every column of `signals.item_popularity`
    similarity: pd.DataFrame  # item_similarity rows
    shares: pd.DataFrame  # item_category, category_share
    names: pd.DataFrame  # item_category, category_name
    category_popularity: pd.DataFrame  # category_id, popularity (share of all interaction weight)
    item_category: pd.DataFrame  # item_id, category_id (at the cross level)

    @classmethod
    def collect(
        cls,
        attributes: DataFrame,
        popularity: DataFrame,
        similarity: DataFrame,
        shares: DataFrame,
        names: DataFrame,
        category_popularity: DataFrame,
        item_category: DataFrame,
    ) -> DriverTables:
        columns = [ITEM_A, ITEM_B, CATEGORY_A, *EVIDENCE]
        return cls(
            attributes=_local(attributes),
            popularity=_local(popularity),
            similarity=_local(similarity.select(*columns)),
            shares=_local(shares),
            names=_local(names),
            category_popularity=_local(category_popularity),
            item_category=_local(item_category),
        )


# --- interest -------------------------------------------------------------------------------------


def interactions_local(cfg: InterestConfig, reference_ts: object, events: pd.DataFrame) -> pd.DataFrame:
    """`interactions.build_interactions`: events (user_id, item_id, event_type, event_ts) ->
    (user_id, item_id, interaction_weight): type weight x recency decay, summed, capped."""
    weight = events[EVENT_TYPE].map({k: float(v) for k, v in cfg.event_weights.items()}).fillna(0.0)
    if cfg.half_life_days is not None:
        age_days = np.maximum((pd.Timestamp(reference_ts) - events[EVENT_TS]).dt.total_seconds() / SECONDS_PER_DAY, 0.0)
        weight = weight * np.power(0.5, age_days / float(cfg.half_life_days))
    weighted = events.assign(_w=weight)[weight > 0]
    summed = weighted.groupby([USER_ID, ITEM_ID], as_index=False)["_w"].sum()
    return summed.assign(**{INTERACTION_WEIGHT: np.minimum(summed["_w"], float(cfg.max_weight))})[
        [USER_ID, ITEM_ID, INTERACTION_WEIGHT]
    ]


def observed_shares(interactions: pd.DataFrame, item_category: pd.DataFrame) -> pd.DataFrame:
    """`category_interest.observed_weights`: (user_id, category_id, observed_share) where users interacted."""
    joined = interactions.merge(item_category, on=ITEM_ID)
    per_category = joined.groupby([USER_ID, CATEGORY_ID], as_index=False)[INTERACTION_WEIGHT].sum()
    total = per_category.groupby(USER_ID)[INTERACTION_WEIGHT].transform("sum")
    return per_category.assign(**{OBSERVED_SHARE: per_category[INTERACTION_WEIGHT] / total})[
        [USER_ID, CATEGORY_ID, OBSERVED_SHARE]
    ]


def score_interest_local(
    cfg: InterestConfig,
    category_popularity: pd.DataFrame,
    observed: pd.DataFrame,
    users: pd.DataFrame,
    als_scores: np.ndarray,
    als_categories: Sequence[str],
    centroid_categories: frozenset[str],
) -> pd.DataFrame:
    """`category_interest.score_interest`: users (user_id, history_items; row n has `als_scores[n]`)
    -> user_category_interest rows (without run columns)."""
    categories = category_popularity[CATEGORY_ID].to_numpy(object)
    n_users, n_categories = len(users), len(categories)
    column = {c: n for n, c in enumerate(als_categories)}
    als_column = np.asarray([column.get(c, -1) for c in categories])
    als = np.where(als_column >= 0, als_scores[:, np.maximum(als_column, 0)], np.nan)  # (users, categories)
    grid = pd.DataFrame(
        {
            USER_ID: np.repeat(users[USER_ID].to_numpy(object), n_categories),
            HISTORY_ITEMS: np.repeat(users[HISTORY_ITEMS].to_numpy(np.int64), n_categories),
            CATEGORY_ID: np.tile(categories, n_users),
            POPULARITY: np.tile(category_popularity[POPULARITY].to_numpy(np.float64), n_users),
            "_als": als.ravel(),
        }
    ).merge(observed, on=[USER_ID, CATEGORY_ID], how="left")
    share = grid[OBSERVED_SHARE].fillna(0.0).to_numpy(np.float64)
    n = grid[HISTORY_ITEMS].to_numpy(np.float64)
    cold = (grid[HISTORY_ITEMS].to_numpy() < cfg.min_user_items) | np.isnan(grid["_als"].to_numpy())
    prior = float(cfg.fallback_prior_items)
    fallback = (n * share + prior * grid[POPULARITY].to_numpy()) / (n + prior)
    raw = np.where(cold, fallback, grid["_als"].to_numpy())
    centroid = grid[CATEGORY_ID].isin(centroid_categories).to_numpy()
    scored = pd.DataFrame(
        {
            USER_ID: grid[USER_ID],
            CATEGORY_ID: grid[CATEGORY_ID],
            "_raw": raw,
            INTEREST_SCORE: np.clip(raw, 0.0, 1.0),
            OBSERVED_SHARE: share,
            IS_NEW_CATEGORY: share == 0,
            SCORE_SOURCE: np.where(cold, SCORE_POPULARITY, np.where(centroid, SCORE_CENTROID, SCORE_ALS)),
            POPULARITY: grid[POPULARITY],
        }
    )
    scored = scored.sort_values(
        [USER_ID, "_raw", POPULARITY, CATEGORY_ID], ascending=[True, False, False, True], kind="stable"
    )
    scored[INTEREST_RANK] = scored.groupby(USER_ID).cumcount().astype(np.int32) + 1
    if cfg.categories_per_user is not None:
        scored = scored[scored[INTEREST_RANK] <= cfg.categories_per_user]
    columns = [USER_ID, CATEGORY_ID, INTEREST_SCORE, OBSERVED_SHARE, IS_NEW_CATEGORY, INTEREST_RANK, SCORE_SOURCE]
    return scored[columns].reset_index(drop=True)


class DriverEngine:
    """The refresh engine `streaming.refresh_engine: driver`: everything in pandas on the driver."""

    def __init__(self, spark: SparkSession, config: AppConfig, tables: DriverTables, inputs: LocalInputs) -> None:
        self.spark, self.config, self.tables, self.inputs = spark, config, tables, inputs

    def interactions(self, events: pd.DataFrame, reference: datetime) -> pd.DataFrame:
        return interactions_local(self.config.interest, reference, events[[USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS]])

    def rows(self, touched: FoldedUsers) -> tuple[DataFrame, DataFrame]:
        """user_category_interest and user_cross_sell rows (without run columns)."""
        folded = touched.folded
        users = pd.DataFrame({USER_ID: folded[USER_ID].astype(str), HISTORY_ITEMS: folded[HISTORY_ITEMS]})
        interest = score_interest_local(
            self.config.interest,
            self.tables.category_popularity,
            observed_shares(touched.interactions, self.tables.item_category),
            users,
            touched.als_scores,
            touched.als_categories,
            touched.centroid_categories,
        )
        purchases = touched.events.loc[touched.events[EVENT_TYPE] == PURCHASE, [USER_ID, ITEM_ID, EVENT_TS]]
        lists = build_user_lists_local(
            self.config.crosssell,
            self.inputs,
            allowed_user_categories_local(interest, self.config.crosssell.user),
            purchases,
            dict(zip(users[USER_ID], folded[FEATURES], strict=True)),
        )
        return (
            self.spark.createDataFrame(interest, INTEREST_ROWS_SCHEMA),
            self.spark.createDataFrame(lists, LIST_COLUMNS[USER_CROSS_SELL.name]),
        )

    def close(self) -> None:
        """Nothing to free: the driver copies live with the refresh context."""
