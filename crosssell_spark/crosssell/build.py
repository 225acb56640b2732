"""Both engines of list building side by side: Spark for the batch stage, pandas on the driver for
the streaming refresh. Each builds a candidate frame its own way (`candidates.py`,
`candidates_local.py`) and hands it to the one tail, `lists.finish`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.config import AppConfig, CrossSellConfig
from crosssell_spark.crosssell.candidates import (
    item_candidate_features,
    item_candidates,
    user_candidate_features,
    user_candidates,
)
from crosssell_spark.crosssell.candidates_local import (
    purchases_within_local,
    user_candidate_features_local,
    user_candidates_local,
)
from crosssell_spark.crosssell.lists import CONFIGURED, LEARNT, WITHHELD, ListSpec, finish, finish_in_spark, to_rows
from crosssell_spark.crosssell.ranker import Ranker
from crosssell_spark.crosssell.signals import category_names, category_shares, purchases_within
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import (
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_CATEGORY,
    ITEM_ID,
    LIST_TYPE,
    MODEL_TEXT,
    PURCHASE,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    SCORER,
    TRAINED_AT,
    USER_ID,
)
from crosssell_spark.tables import (
    CATEGORIES,
    ITEM_CROSS_SELL,
    ITEM_FACTORS,
    ITEM_SIMILARITY,
    RANKER_RUNS,
    USER_CROSS_SELL,
)

log = logging.getLogger(__name__)
LIST_COLUMNS = {  # a list table's columns before the run columns
    name: StructType([f for f in spec.schema.fields if f.name not in (RUN_ID, REFRESHED_AT, REFRESH_BATCH)])
    for name, spec in ((ITEM_CROSS_SELL.name, ITEM_CROSS_SELL), (USER_CROSS_SELL.name, USER_CROSS_SELL))
}


@dataclass(frozen=True)
class ListInputs:
    """What both lists are scored against: published signals and their small driver copies."""

    attributes: DataFrame
    popularity: DataFrame
    similarity: DataFrame
    item_factors: DataFrame
    shares: pd.DataFrame  # item_category, category_share
    names: pd.DataFrame  # item_category, category_name
    partitions: int  # Spark partitions of the list tail (keys are hashed into them)
    item_spec: ListSpec  # how item lists are scored (`scored_specs`)
    user_spec: ListSpec  # how user lists are scored


ITEM_LISTS, USER_LISTS = "item", "user"  # ranker_runs.list_type


def scored_specs(lake: Lakehouse, cs: CrossSellConfig) -> tuple[ListSpec, ListSpec]:
    """(item, user) list specs scored as the newest ranker_runs row of each list type says: the learnt
    model, the configured weights or popularity alone; the configured weights where no row exists or
    `crosssell.ranker.enabled` is false."""
    specs = {ITEM_LISTS: ListSpec.items(cs), USER_LISTS: ListSpec.users(cs)}
    chosen = {kind: spec.scored_by(CONFIGURED) for kind, spec in specs.items()}
    if cs.ranker.enabled and lake.exists(RANKER_RUNS.name):
        newest = Window.partitionBy(LIST_TYPE).orderBy(F.col(TRAINED_AT).desc(), F.col(RUN_ID).desc())
        rows = (
            lake.read(RANKER_RUNS.name)
            .withColumn("_r", F.row_number().over(newest))
            .where(F.col("_r") == 1)
            .select(LIST_TYPE, SCORER, MODEL_TEXT)
            .collect()
        )
        for row in rows:
            ranker = Ranker(row[MODEL_TEXT]) if row[MODEL_TEXT] is not None else None
            if row[LIST_TYPE] not in specs:
                continue
            if row[SCORER] == LEARNT and ranker is not None and not ranker.compatible:
                log.warning("%s lists: the newest ranker was fitted on other features; run train-ranker again. "
                            "Scored by configured until then", row[LIST_TYPE])  # fmt: skip
                continue
            chosen[row[LIST_TYPE]] = specs[row[LIST_TYPE]].scored_by(row[SCORER], ranker)
    return chosen[ITEM_LISTS], chosen[USER_LISTS]


def _lists(features: DataFrame, spec: ListSpec, inputs: ListInputs, table: str) -> DataFrame:
    return finish_in_spark(features, spec, inputs.shares, inputs.names, LIST_COLUMNS[table], inputs.partitions)


def list_rows(finished: DataFrame, key: str) -> DataFrame:
    """The list rows of `finish_in_spark`'s output (without its per-chunk withheld counts)."""
    return finished.filter(F.col(key).isNotNull()).drop(WITHHELD)


def build_item_lists(cs: CrossSellConfig, inputs: ListInputs, affinity: DataFrame) -> DataFrame:
    """`finish_in_spark` output of item_cross_sell (every item is an anchor)."""
    anchors = inputs.attributes.select(
        F.col(ITEM_ID).alias(ANCHOR_ITEM_ID), F.col(ITEM_CATEGORY).alias(ANCHOR_CATEGORY)
    )
    features = item_candidates(
        anchors, inputs.similarity, affinity, inputs.popularity, inputs.item_factors, cs.item
    ).transform(
        lambda c: item_candidate_features(c, inputs.attributes, inputs.popularity, affinity, inputs.item_factors)
    )
    return _lists(features, inputs.item_spec, inputs, ITEM_CROSS_SELL.name)


def build_user_lists(
    cs: CrossSellConfig, inputs: ListInputs, allowed: DataFrame, events: DataFrame, user_factors: DataFrame
) -> DataFrame:
    """user_cross_sell rows (without run columns) of the users in `allowed`. The batch stage and
    the streaming refresh's spark engine both call this.

    Args:
        allowed: `allowed_user_categories` of the users to list.
        events: events_clean rows of (at least) those users: recent purchases and owned items.
    """
    purchases = events.filter(F.col(EVENT_TYPE) == PURCHASE).select(USER_ID, ITEM_ID, EVENT_TS)
    owned = purchases_within(events, cs.rules.exclude_owned_days)
    features = user_candidates(
        allowed, purchases, inputs.similarity, inputs.popularity, cs.user, cs.user.popular_items
    ).transform(
        lambda c: user_candidate_features(
            c, allowed, inputs.attributes, inputs.popularity, user_factors, inputs.item_factors, owned
        )
    )
    return list_rows(_lists(features, inputs.user_spec, inputs, USER_CROSS_SELL.name), USER_ID)


def list_inputs(
    spark: SparkSession, lake: Lakehouse, config: AppConfig, popularity: DataFrame, attributes: DataFrame
) -> ListInputs:
    """The signals both lists read, with the small tables collected for the list tail."""
    item_spec, user_spec = scored_specs(lake, config.crosssell)
    return ListInputs(
        attributes=attributes,
        popularity=popularity,
        similarity=lake.read(ITEM_SIMILARITY.name),
        item_factors=lake.read(ITEM_FACTORS.name),
        shares=category_shares(popularity).toPandas(),
        names=category_names(lake.read(CATEGORIES.name)).toPandas(),
        partitions=config.spark.shuffle_partitions,
        item_spec=item_spec,
        user_spec=user_spec,
    )


@dataclass(frozen=True)
class LocalInputs:
    """Driver copies of what user lists are scored against (the streaming refresh's signals)."""

    attributes: pd.DataFrame  # item_id, item_category, item_price, item_in_stock, item_title
    popularity: pd.DataFrame  # item_id, item_category, item_users, popularity, popularity_rank
    similarity: pd.DataFrame  # item_similarity rows
    shares: pd.DataFrame  # item_category, category_share
    names: pd.DataFrame  # item_category, category_name
    item_position: dict[str, int]  # item_id -> row of `item_factors`
    item_factors: np.ndarray  # (items, rank) float32
    user_spec: ListSpec  # how user lists are scored (`scored_specs`)


def build_user_lists_local(
    cs: CrossSellConfig,
    inputs: LocalInputs,
    allowed: pd.DataFrame,
    purchases: pd.DataFrame,
    user_factors: dict[str, np.ndarray],
) -> pd.DataFrame:
    """`build_user_lists` on the driver: user_cross_sell rows (without run columns) of the users in
    `allowed`, in the table's columns.

    Args:
        allowed: `allowed_user_categories_local` of the users to list.
        purchases: user_id, item_id, event_ts of the users' purchase events.
    """
    candidates = user_candidates_local(
        allowed, purchases, inputs.similarity, inputs.popularity, cs.user, cs.user.popular_items
    )
    features = user_candidate_features_local(
        candidates,
        allowed,
        inputs.attributes,
        inputs.popularity,
        user_factors,
        inputs.item_position,
        inputs.item_factors,
        purchases_within_local(purchases, cs.rules.exclude_owned_days),
    )
    lists, _ = finish(features, inputs.user_spec, inputs.shares, inputs.names)
    return to_rows(lists, LIST_COLUMNS[USER_CROSS_SELL.name])
