"""`tune` mode: a small grid over rank, regParam and alpha on a time-based split, scored by ranking metrics.

The newest `tune.test_fraction` of events is held out. Each combination is trained on the older
events and asked for its top-k new items for every user who came back; items the user already had
before the cut-off are filtered out after an over-fetch. The best combination by ndcg@k wins.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.config import AlsConfig, InterestConfig
from crosssell_spark.interest.als import train
from crosssell_spark.schemas import EVENT_TS, INTERACTION_WEIGHT, ITEM_IDX, USER_IDX

log = logging.getLogger(__name__)
METRICS = {"ndcg_at_k": "ndcgAtK", "precision_at_k": "precisionAtK", "recall_at_k": "recallAtK",
           "map_at_k": "meanAveragePrecisionAtK"}  # fmt: skip
CHOSEN_BY = "ndcg_at_k"
PREDICTED, RELEVANT = "predicted", "relevant"


def time_cutoff(events: DataFrame, test_fraction: float) -> datetime:
    """The event time before which (1 - test_fraction) of events fall."""
    seconds = events.select(F.col(EVENT_TS).cast("double").alias("t")).approxQuantile("t", [1 - test_fraction], 1e-4)
    if not seconds:
        raise ValueError("no events to split")
    return datetime.fromtimestamp(seconds[0], UTC).replace(tzinfo=None)  # session time zone is UTC


def before(cutoff: datetime) -> Callable[[DataFrame], DataFrame]:
    def transform(events: DataFrame) -> DataFrame:
        return events.where(F.col(EVENT_TS) < F.lit(cutoff))

    return transform


def holdout_pairs(train_ratings: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """later (user_idx, item_idx) pairs -> (user_idx, relevant items) that are new to a known user.

    Only users and items the training matrix knows are kept: ALS cannot score the others, and a
    cold user or item is the fallbacks' job, not the grid's.
    """

    def transform(later: DataFrame) -> DataFrame:
        known_users = train_ratings.select(USER_IDX).distinct()
        known_items = train_ratings.select(ITEM_IDX).distinct()
        return (
            later.select(USER_IDX, ITEM_IDX)
            .distinct()
            .join(train_ratings.select(USER_IDX, ITEM_IDX), [USER_IDX, ITEM_IDX], "left_anti")
            .join(known_users, USER_IDX)
            .join(known_items, ITEM_IDX)
            .groupBy(USER_IDX)
            .agg(F.collect_list(F.col(ITEM_IDX).cast("double")).alias(RELEVANT))
        )

    return transform


def top_new_items(model: ALSModel, users: DataFrame, train_ratings: DataFrame, k: int, overfetch: int) -> DataFrame:
    """(user_idx, predicted): each user's top-k items by ALS, items seen in training removed."""
    fetched = model.recommendForUserSubset(users, k + overfetch).select(
        USER_IDX, F.posexplode("recommendations").alias("pos", "rec")
    )
    fresh = fetched.select(USER_IDX, "pos", F.col(f"rec.{ITEM_IDX}").alias(ITEM_IDX)).join(
        train_ratings.select(USER_IDX, ITEM_IDX), [USER_IDX, ITEM_IDX], "left_anti"
    )
    ranked = fresh.groupBy(USER_IDX).agg(F.sort_array(F.collect_list(F.struct("pos", ITEM_IDX))).alias("_recs"))
    return ranked.select(
        USER_IDX, F.slice(F.transform("_recs", lambda r: r[ITEM_IDX].cast("double")), 1, k).alias(PREDICTED)
    )


def ranking_metrics(predicted: DataFrame, relevant: DataFrame, k: int) -> dict[str, float]:
    """precision/recall/ndcg/map@k over users with held-out items (no prediction counts as a miss)."""
    joined = relevant.join(predicted, USER_IDX, "left").select(
        F.coalesce(F.col(PREDICTED), F.array().cast("array<double>")).alias(PREDICTED), RELEVANT
    )
    joined = joined.cache()
    try:
        evaluator = RankingEvaluator(predictionCol=PREDICTED, labelCol=RELEVANT, k=k)
        return {name: round(float(evaluator.setMetricName(metric).evaluate(joined)), 6)  # type: ignore[arg-type]
                for name, metric in METRICS.items()}  # fmt: skip
    finally:
        joined.unpersist()


@dataclass
class TuningResult:
    """Every combination's metrics and the one chosen."""

    cutoff: datetime
    k: int
    combinations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, Any]:
        # ties keep grid order, so the smallest rank / regParam / alpha among equals wins
        return max(self.combinations, key=lambda c: c["metrics"][CHOSEN_BY])

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "k": self.k, "chosen_by": CHOSEN_BY,
                "best": self.best, "combinations": self.combinations}  # fmt: skip


def grid(cfg: InterestConfig) -> list[AlsConfig]:
    """Every (rank, regParam, alpha) of the grid, at the grid's iteration count."""
    tune = cfg.tune
    return [
        cfg.als.model_copy(update={"rank": rank, "reg_param": reg, "alpha": alpha, "max_iter": tune.max_iter})
        for rank, reg, alpha in itertools.product(tune.ranks, tune.reg_params, tune.alphas)
    ]


def tune(cfg: InterestConfig, train_ratings: DataFrame, later_pairs: DataFrame, cutoff: datetime) -> TuningResult:
    """Fit every grid combination on `train_ratings`, score it on `later_pairs`; returns all results."""
    relevant = later_pairs.transform(holdout_pairs(train_ratings)).cache()
    users = relevant.select(USER_IDX)
    result = TuningResult(cutoff=cutoff, k=cfg.tune.k)
    try:
        for params in grid(cfg):
            model, stats = train(train_ratings.select(USER_IDX, ITEM_IDX, INTERACTION_WEIGHT), params)
            predicted = top_new_items(model, users, train_ratings, cfg.tune.k, cfg.tune.overfetch)
            metrics = ranking_metrics(predicted, relevant, cfg.tune.k)
            combination = {"rank": params.rank, "reg_param": params.reg_param, "alpha": params.alpha,
                           "max_iter": params.max_iter, "train_seconds": stats.seconds, "metrics": metrics}  # fmt: skip
            log.info("tune: %s", combination)
            result.combinations.append(combination)
    finally:
        relevant.unpersist()
    return result
