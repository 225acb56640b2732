"""The train-ranker stage: learn from this shop's own recent baskets how to score cross-sell
candidates, guard the result, and publish the decision (and model) to ranker_runs.

It replays the signal-building of the similarity and train-interest stages on the early part of a
time split (`training.label_split`), builds item-list candidates exactly as the candidates stage
does, labels them with the held-out baskets, fits a LightGBM ranker and keeps it only where it beats
the configured weights and popularity alone on held-back anchors. The candidates stage reads the
newest row: the learnt model, or which of the other two scorers to use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig, CrossSellConfig, RankerConfig
from crosssell_spark.crosssell.build import ITEM_LISTS, USER_LISTS
from crosssell_spark.crosssell.candidates import (
    allowed_user_categories,
    item_candidate_features,
    item_candidates,
    user_candidate_features,
    user_candidates,
)
from crosssell_spark.crosssell.lists import CONFIGURED, ListSpec
from crosssell_spark.crosssell.signals import item_attributes, item_popularity, purchases_within
from crosssell_spark.interest.als import train, trained_item_factors, user_factors_table
from crosssell_spark.interest.category_interest import category_interest
from crosssell_spark.interest.cold_start import fill_unseen_items
from crosssell_spark.interest.id_maps import attach_ids
from crosssell_spark.interest.interactions import build_interactions
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate
from crosssell_spark.quality.publish import publish_audited
from crosssell_spark.ranking.training import (
    FOLD,
    Counts,
    Outcome,
    anchor_labels,
    fit_and_guard,
    informative,
    label_split,
    labelled,
    user_labels,
)
from crosssell_spark.run import Run, StageResult
from crosssell_spark.schemas import (
    ANCHOR_ITEM_ID,
    CATEGORY_A,
    CATEGORY_B,
    EVENT_TS,
    EVENT_TYPE,
    FEATURES,
    INTERACTION_WEIGHT,
    IS_CONTENT,
    IS_SEMANTIC,
    ITEM_A,
    ITEM_B,
    ITEM_ID,
    ITEM_IDX,
    JACCARD,
    PURCHASE,
    SEMANTIC,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.similarity.cooccurrence import (
    affinity_rows,
    basket_categories,
    basket_items,
    meets_floor,
    pair_statistics,
)
from crosssell_spark.similarity.graph import behavioural_neighbours, item_similarity
from crosssell_spark.tables import EVENTS_CLEAN, ITEM_ID_MAP, ITEM_SIMILARITY, ITEMS_CLEAN, RANKER_RUNS, USER_ID_MAP

log = logging.getLogger(__name__)
STAGE = "train-ranker"


@dataclass(frozen=True)
class EarlySignals:
    """What the stages would have published from the early events alone."""

    attributes: DataFrame
    popularity: DataFrame
    similarity: DataFrame
    affinity: DataFrame
    item_factors: DataFrame  # item_id, features
    user_factors: DataFrame  # user_id, features
    interest: DataFrame  # user_category_interest rows


def _early_interest(lake: Lakehouse, config: AppConfig, early: DataFrame, items: DataFrame, run: Run) -> tuple[
    DataFrame, DataFrame, DataFrame
]:  # fmt: skip
    """ALS (the configured parameters) and category interest on the early events, as train-interest
    computes them: (item factors, user factors, user category interest)."""
    cfg = config.interest
    newest = early.agg(F.max(EVENT_TS)).first()
    if newest is None or newest[0] is None:
        raise ValueError("no events before the label part: nothing to learn a ranking from")
    user_map, item_map = lake.read(USER_ID_MAP.name), lake.read(ITEM_ID_MAP.name)
    interactions = lake.stage_intermediate(
        "ranker_interactions", early.transform(build_interactions(cfg, newest[0])), run.run_id
    )
    ratings = (
        interactions.transform(attach_ids(user_map, USER_ID, USER_IDX))
        .transform(attach_ids(item_map, ITEM_ID, ITEM_IDX))
        .select(USER_IDX, ITEM_IDX, INTERACTION_WEIGHT)
    )
    model, _ = train(ratings, cfg.als)
    user_factors = lake.stage_intermediate(
        "ranker_user_factors", model.userFactors.transform(user_factors_table(user_map, interactions, run.run_id)),
        run.run_id,
    )  # fmt: skip
    item_factors = lake.stage_intermediate(
        "ranker_item_factors",
        model.itemFactors.transform(trained_item_factors(item_map, interactions)).transform(
            fill_unseen_items(items, item_map)
        ),
        run.run_id,
    )
    interest = user_factors.transform(
        category_interest(cfg, config.categories.cross_level, items, interactions, item_factors, run.run_id)
    )
    return (
        item_factors.select(ITEM_ID, FEATURES),
        user_factors.select(USER_ID, FEATURES),
        lake.stage_intermediate("ranker_interest", interest, run.run_id),
    )


def early_signals(lake: Lakehouse, config: AppConfig, early: DataFrame, run: Run) -> EarlySignals:
    """Every signal the lists are built from, rebuilt from the early events only (content and
    semantic pairs come from the catalogue, so the published ones are reused without their behavioural evidence)."""
    sim, level = config.similarity, config.categories.cross_level
    items = lake.read(ITEMS_CLEAN.name)
    attributes = item_attributes(items, level)
    members = early.transform(basket_items(sim.cooccurrence, items, level))
    floor = meets_floor(sim.cooccurrence)
    pairs = lake.stage_intermediate("ranker_pairs", pair_statistics(members), run.run_id)
    published = lake.read(ITEM_SIMILARITY.name)
    content = published.where(F.col(IS_CONTENT)).select(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, JACCARD)
    semantic = published.where(F.col(IS_SEMANTIC)).select(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, SEMANTIC)
    behavioural = pairs.where(floor).transform(behavioural_neighbours(sim.top_n))
    similarity = item_similarity(sim)(content, behavioural, semantic)
    affinity = affinity_rows(pair_statistics(basket_categories(members)).where(floor))
    item_factors, user_factors, interest = _early_interest(lake, config, early, items, run)
    return EarlySignals(
        attributes=attributes,
        popularity=lake.stage_intermediate(
            "ranker_popularity", item_popularity(early, attributes, sim.cooccurrence.basket_types), run.run_id
        ),
        similarity=lake.stage_intermediate("ranker_similarity", similarity, run.run_id),
        affinity=lake.stage_intermediate("ranker_affinity", affinity, run.run_id),
        item_factors=item_factors,
        user_factors=user_factors,
        interest=interest,
    )


def item_training_rows(cs: CrossSellConfig, signals: EarlySignals, lines: DataFrame) -> DataFrame:
    """Labelled item-list candidate rows of a sample of label-basket anchors."""
    anchors, positives = anchor_labels(lines, signals.attributes, cs.ranker)
    s = signals
    candidates = item_candidates(
        anchors.drop(FOLD), s.similarity, s.affinity, s.popularity, s.item_factors, cs.item
    ).transform(lambda c: item_candidate_features(c, s.attributes, s.popularity, s.affinity, s.item_factors))
    return labelled(candidates, anchors, positives, ANCHOR_ITEM_ID)


def user_training_rows(cs: CrossSellConfig, signals: EarlySignals, early: DataFrame, lines: DataFrame) -> DataFrame:
    """Labelled user-list candidate rows of a sample of shoppers with a label basket and an early history."""
    s = signals
    users, positives = user_labels(lines, s.interest.select(USER_ID).distinct(), cs.ranker)
    allowed = allowed_user_categories(s.interest.join(users.select(USER_ID), USER_ID), cs.user)
    early_of_users = early.join(users.select(USER_ID), USER_ID)
    purchases = early_of_users.where(F.col(EVENT_TYPE) == PURCHASE).select(USER_ID, ITEM_ID, EVENT_TS)
    owned = purchases_within(early_of_users, cs.rules.exclude_owned_days)
    candidates = user_candidates(
        allowed, purchases, s.similarity, s.popularity, cs.user, cs.user.popular_items
    ).transform(
        lambda c: user_candidate_features(c, allowed, s.attributes, s.popularity, s.user_factors, s.item_factors, owned)
    )
    return labelled(candidates, users, positives, USER_ID)


def fit_rows(rows: DataFrame, spec: ListSpec, cfg: RankerConfig) -> Outcome:
    """Fit and guard on the labelled rows that can move either (`training.informative`), brought to
    the driver once; the keys are counted over all rows."""
    rows = rows.persist()
    try:
        keys = rows.select(spec.key).distinct().count()
        frame = rows.transform(informative(spec.key, cfg.model.objective)).toPandas()
    finally:
        rows.unpersist()
    return fit_and_guard(frame, spec, cfg, keys)


def _row(run: Run, kind: str, outcome: Outcome, config: AppConfig) -> tuple[object, ...]:
    ranker, n = outcome.ranker, outcome.counts
    return (
        run.run_id, datetime.now(UTC).replace(tzinfo=None), kind, outcome.scorer, outcome.reason,
        config.crosssell.ranker.label_window, n.train_keys, n.train_rows, n.train_positives, n.validation_keys,
        round(outcome.seconds, 3), json.dumps(outcome.quality, sort_keys=True),
        json.dumps(ranker.importances(), sort_keys=True) if ranker else None,
        config.crosssell.ranker.model_dump_json(), ranker.model_text if ranker else None,
        json.dumps(outcome.ablation, sort_keys=True) if outcome.ablation is not None else None,
    )  # fmt: skip


def skipped(why: str) -> Outcome:
    return Outcome(CONFIGURED, why, None, Counts(0, 0, 0, 0), {}, 0.0)


def run_ranker(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Fit and guard a ranker per list kind; publish the decisions (and models) to ranker_runs."""
    lake = Lakehouse(spark, config.lakehouse)
    cs = config.crosssell
    kinds = {ITEM_LISTS: ListSpec.items(cs), USER_LISTS: ListSpec.users(cs)}
    if not cs.ranker.enabled:
        outcomes = {kind: skipped("crosssell.ranker.enabled is false: scored by configured") for kind in kinds}
    elif config.privacy.dp.enabled:
        why = "privacy.dp is on: the ranker's pair counts are not noised yet; scored by configured"
        outcomes = {kind: skipped(why) for kind in kinds}
    else:
        events = lake.read(EVENTS_CLEAN.name)
        early, lines = label_split(cs.ranker, config.similarity.cooccurrence.basket_types)(events)
        early = lake.stage_intermediate("ranker_early_events", early, run.run_id)
        lines = lake.stage_intermediate("ranker_labels", lines, run.run_id)
        signals = early_signals(lake, config, early, run)
        rows = {
            ITEM_LISTS: item_training_rows(cs, signals, lines),
            USER_LISTS: user_training_rows(cs, signals, early, lines),
        }
        outcomes = {kind: fit_rows(rows[kind], kinds[kind], cs.ranker) for kind in kinds}
    for kind, outcome in outcomes.items():
        log.info("train-ranker: %s lists scored by %s (%s); validation %s", kind, outcome.scorer, outcome.reason,
                 outcome.quality)  # fmt: skip
    decisions = spark.createDataFrame([_row(run, k, o, config) for k, o in outcomes.items()], RANKER_RUNS.schema)
    gate = QualityGate(spark, config, lake, run)
    done = publish_audited(gate, [], stage=STAGE, appends=[(RANKER_RUNS, decisions)])
    return StageResult(
        stage=STAGE,
        published=done.versions,
        metrics={
            kind: {
                "scorer": o.scorer,
                "reason": o.reason,
                "train_rows": o.counts.train_rows,
                "train_positives": o.counts.train_positives,
                "validation_keys": o.counts.validation_keys,
                "validation": o.quality,
                "top_features": dict(sorted(o.ranker.importances().items(), key=lambda kv: -kv[1])[:5])
                if o.ranker
                else {},
            }
            for kind, o in outcomes.items()
        },
    )
