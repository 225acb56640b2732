"""The MLlib ALS estimator from config (implicitPrefs, fixed seed), training figures, factor tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AlsConfig
from crosssell_spark.schemas import (
    FACTOR_ALS,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_ITEMS,
    HISTORY_USERS,
    INTERACTION_WEIGHT,
    ITEM_ID,
    ITEM_IDX,
    RUN_ID,
    USER_ID,
    USER_IDX,
)

log = logging.getLogger(__name__)
ALS_ID, ALS_FEATURES = "id", "features"  # columns of ALSModel.userFactors / itemFactors


def build_als(cfg: AlsConfig) -> ALS:
    """An implicit-feedback ALS over (user_idx, item_idx, interaction_weight)."""
    return ALS(
        rank=cfg.rank,
        maxIter=cfg.max_iter,
        regParam=cfg.reg_param,
        alpha=cfg.alpha,
        numUserBlocks=cfg.num_user_blocks,
        numItemBlocks=cfg.num_item_blocks,
        implicitPrefs=True,
        userCol=USER_IDX,
        itemCol=ITEM_IDX,
        ratingCol=INTERACTION_WEIGHT,
        seed=cfg.seed,
        checkpointInterval=cfg.checkpoint_interval,
        intermediateStorageLevel=cfg.intermediate_storage_level,
        finalStorageLevel=cfg.final_storage_level,
        coldStartStrategy="drop",  # scoring unknown ids yields no row rather than NaN
        blockSize=cfg.block_size,
    )


@dataclass(frozen=True)
class TrainingStats:
    """What a fit cost and what it was fitted on."""

    seconds: float
    iterations: int
    n_users: int
    n_items: int
    n_interactions: int

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_interactions / cells if cells else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "density": self.density}


def matrix_size(ratings: DataFrame) -> tuple[int, int, int]:
    """(users, items, interactions) of the ratings matrix, in one pass."""
    row = ratings.agg(
        F.countDistinct(USER_IDX).alias("users"), F.countDistinct(ITEM_IDX).alias("items"), F.count("*").alias("n")
    ).first()
    assert row is not None
    return int(row["users"]), int(row["items"]), int(row["n"])


def linear_algebra(spark: SparkSession) -> dict[str, str]:
    """The BLAS and LAPACK implementations ALS runs on in this JVM (netlib picks JNI*, a native
    library, when one is installed, else pure Java) and whether they are native."""
    netlib = spark.sparkContext._jvm.dev.ludovic.netlib  # type: ignore[union-attr]
    blas = str(netlib.blas.BLAS.getInstance().getClass().getSimpleName())
    lapack = str(netlib.lapack.LAPACK.getInstance().getClass().getSimpleName())
    native = blas.startswith("JNI") and lapack.startswith("JNI")
    return {"blas": blas, "lapack": lapack, "native": "yes" if native else "no"}


def train(ratings: DataFrame, cfg: AlsConfig) -> tuple[ALSModel, TrainingStats]:
    """Fit ALS and measure it; the factors are materialised inside the timed block."""
    users, items, interactions = matrix_size(ratings)
    log.info("ALS: %d users x %d items, %d interactions, rank %d, %d iterations",
             users, items, interactions, cfg.rank, cfg.max_iter)  # fmt: skip
    started = time.perf_counter()
    model = build_als(cfg).fit(ratings)
    model.userFactors.count()  # fit is lazy about the last half-step; count forces it
    model.itemFactors.count()
    stats = TrainingStats(round(time.perf_counter() - started, 3), cfg.max_iter, users, items, interactions)
    log.info("ALS trained in %.1f s (%.2f s per iteration)", stats.seconds, stats.seconds / cfg.max_iter)
    return model, stats


def history(interactions: DataFrame, key: str, counted: str, alias: str) -> DataFrame:
    """Distinct counterparts per key, e.g. distinct items per user."""
    return interactions.groupBy(key).agg(F.countDistinct(counted).cast("int").alias(alias))


def user_factors_table(user_map: DataFrame, interactions: DataFrame, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """ALSModel.userFactors -> user_factors rows (user_id, user_idx, features, history_items, run_id)."""

    def transform(factors: DataFrame) -> DataFrame:
        return (
            factors.select(F.col(ALS_ID).alias(USER_IDX), F.col(ALS_FEATURES).alias(FEATURES))
            .join(user_map.select(USER_ID, USER_IDX), USER_IDX)
            .join(history(interactions, USER_ID, ITEM_ID, HISTORY_ITEMS), USER_ID)
            .select(USER_ID, USER_IDX, FEATURES, HISTORY_ITEMS, F.lit(run_id).alias(RUN_ID))
        )

    return transform


def trained_item_factors(item_map: DataFrame, interactions: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """ALSModel.itemFactors -> (item_id, item_idx, features, factor_source='als', history_users)."""

    def transform(factors: DataFrame) -> DataFrame:
        return (
            factors.select(F.col(ALS_ID).alias(ITEM_IDX), F.col(ALS_FEATURES).alias(FEATURES))
            .join(item_map.select(ITEM_ID, ITEM_IDX), ITEM_IDX)
            .join(history(interactions, ITEM_ID, USER_ID, HISTORY_USERS), ITEM_ID)
            .select(ITEM_ID, ITEM_IDX, FEATURES, F.lit(FACTOR_ALS).alias(FACTOR_SOURCE), HISTORY_USERS)
        )

    return transform
