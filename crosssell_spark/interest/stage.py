"""The user-interest stage: events_clean, items_clean -> id maps, ALS factors, user x category interest."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AlsConfig, AppConfig
from crosssell_spark.interest.als import (
    TrainingStats,
    linear_algebra,
    train,
    trained_item_factors,
    user_factors_table,
)
from crosssell_spark.interest.category_interest import category_interest
from crosssell_spark.interest.cold_start import fill_unseen_items
from crosssell_spark.interest.id_maps import (
    MAX_ID,
    MapMovedError,
    NewIds,
    assign_ids,
    attach_ids,
    empty_map,
    extend_id_map,
)
from crosssell_spark.interest.interactions import build_interactions
from crosssell_spark.interest.model_store import mark_latest, save_model
from crosssell_spark.interest.tuning import TuningResult, before, time_cutoff, tune
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import ExpectationOutcome, QualityGate, quality_summary
from crosssell_spark.quality.publish import publish_audited
from crosssell_spark.run import Run, StageFailedError, StageResult
from crosssell_spark.schemas import (
    EVENT_TS,
    INTERACTION_WEIGHT,
    ITEM_ID,
    ITEM_IDX,
    REFRESH_BATCH,
    REFRESHED_AT,
    RUN_ID,
    SCORE_SOURCE,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.tables import (
    EVENTS_CLEAN,
    INTEREST_MODEL_RUNS,
    ITEM_FACTORS,
    ITEM_ID_MAP,
    ITEMS_CLEAN,
    USER_CATEGORY_INTEREST,
    USER_FACTORS,
    USER_ID_MAP,
    TableSpec,
)

log = logging.getLogger(__name__)
STAGE = "train-interest"


def _ids(user_map: DataFrame, item_map: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """(user_id, item_id, ...) -> (user_idx, item_idx, ...)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.transform(attach_ids(user_map, USER_ID, USER_IDX)).transform(attach_ids(item_map, ITEM_ID, ITEM_IDX))

    return transform


Audit = Callable[[dict[str, DataFrame]], object]  # the quality gate's `audit`


def _check_room(table: str, top: int) -> None:
    """Fail before anything is written if ids would reach beyond the Java int ALS needs."""
    if top >= MAX_ID:
        raise StageFailedError(f"{table}: ids reached {top}, beyond the Java int ALS needs")


def _extend_map(lake: Lakehouse, spec: TableSpec, keys: DataFrame, key: str, idx: str, run: Run) -> DataFrame:
    """Stage the published map plus this run's new keys; fail before publishing if ids overflow."""
    existing = lake.read(spec.name) if lake.exists(spec.name) else empty_map(lake.spark, spec.schema)
    staged = lake.stage(spec, keys.transform(extend_id_map(existing, key, idx, run.run_id)), run.run_id)
    top = staged.agg(F.max(idx)).first()
    if top is not None and top[0] is not None:
        _check_room(spec.name, top[0])
    return staged


def assign_user_ids(lake: Lakehouse, users: DataFrame, run: Run, audit: Audit | None) -> tuple[DataFrame, int]:
    """Commit this run's new users to user_id_map; the map at a version holding them all, and that version.

    The stream adds users too, so user_id_map is not published with the other tables at the end: its
    new ids go in now, before ALS trains on them, by `assign_ids` (a guarded MERGE, planned again when
    the stream got there first). Each plan is staged (the map it read plus the new rows) and must pass
    `audit` (the quality gate; None only where the caller audits the map itself) before it is
    committed; an audit that fails while the map has moved under it is planned again, not fatal.
    """
    lake.ensure_table(USER_ID_MAP)

    def moved(plan: NewIds) -> bool:
        return lake.latest_version(USER_ID_MAP.name) != plan.version

    def validate(plan: NewIds) -> None:
        _check_room(USER_ID_MAP.name, plan.start + plan.size)
        if audit is None:
            return
        if moved(plan):
            raise MapMovedError("changed before the audit")
        existing = lake.read(USER_ID_MAP.name, plan.version)
        staged = lake.stage(USER_ID_MAP, existing.unionByName(plan.rows), run.run_id)
        try:
            audit({USER_ID_MAP.name: staged})
        except StageFailedError as err:  # e.g. ids the stream added during the audit are not in the staged map
            if moved(plan):
                raise MapMovedError(f"changed during the audit ({str(err).splitlines()[0]})") from err
            raise

    assigned = assign_ids(lake, USER_ID_MAP, users, USER_ID, USER_IDX, run.run_id, validate=validate)
    return lake.read(USER_ID_MAP.name, assigned.version), assigned.version


def stage_item_map(lake: Lakehouse, interactions: DataFrame, items: DataFrame, run: Run) -> DataFrame:
    """The staged item id map: the published one plus this run's new items (only this stage adds items,
    so the map is published with the factor tables, after the gate)."""
    item_keys = items.select(ITEM_ID).unionByName(interactions.select(ITEM_ID))
    return _extend_map(lake, ITEM_ID_MAP, item_keys, ITEM_ID, ITEM_IDX, run)


def update_id_maps(
    lake: Lakehouse, interactions: DataFrame, items: DataFrame, run: Run, audit: Audit | None = None
) -> tuple[DataFrame, DataFrame]:
    """Both id maps for `interactions` and `items`: the user map with the new users committed
    (`assign_user_ids`) and the staged item map (`stage_item_map`)."""
    user_map, _ = assign_user_ids(lake, interactions.select(USER_ID), run, audit)
    return user_map, stage_item_map(lake, interactions, items, run)


def _tune(
    config: AppConfig, events: DataFrame, ids: Callable[[DataFrame], DataFrame], lake: Lakehouse, run: Run
) -> tuple[AlsConfig, TuningResult]:
    """Run the grid on a time split; the chosen rank/regParam/alpha with the configured iterations."""
    cfg = config.interest
    cutoff = time_cutoff(events, cfg.tune.test_fraction)
    train_ratings = lake.stage_intermediate(
        "interest_tune_train",
        events.transform(before(cutoff)).transform(build_interactions(cfg, cutoff)).transform(ids),
        run.run_id,
    )
    later = events.where(F.col(EVENT_TS) >= F.lit(cutoff)).select(USER_ID, ITEM_ID).transform(ids)
    result = tune(cfg, train_ratings, later, cutoff)
    best = result.best
    log.info("tune: best %s", best)
    chosen = cfg.als.model_copy(update={"rank": best["rank"], "reg_param": best["reg_param"], "alpha": best["alpha"]})
    return chosen, result


def _run_row(
    spark: SparkSession, run: Run, folder: str, params: AlsConfig, stats: TrainingStats, tuning: TuningResult | None
) -> DataFrame:
    row = (
        run.run_id, datetime.now(UTC).replace(tzinfo=None), "tune" if tuning else "train", folder, params.rank,
        params.reg_param, params.alpha, params.max_iter, stats.n_users, stats.n_items, stats.n_interactions,
        stats.density, stats.seconds, params.model_dump_json(),
        json.dumps(tuning.best["metrics"]) if tuning else None, json.dumps(tuning.as_dict()) if tuning else None,
    )  # fmt: skip
    return spark.createDataFrame([row], INTEREST_MODEL_RUNS.schema)


def run_interest(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Build interactions and id maps (new user ids audited and committed first), train ALS (tuning first
    if asked), score interests, audit, publish."""
    cfg = config.interest
    lake = Lakehouse(spark, config.lakehouse)
    events, items = lake.read(EVENTS_CLEAN.name), lake.read(ITEMS_CLEAN.name)
    newest = events.agg(F.max(EVENT_TS)).first()
    if newest is None or newest[0] is None:
        raise StageFailedError("events_clean is empty: no interactions to learn interests from")
    interactions = lake.stage_intermediate(
        "interest_interactions", events.transform(build_interactions(cfg, newest[0])), run.run_id
    )

    gate = QualityGate(spark, config, lake, run)
    map_outcomes: list[ExpectationOutcome] = []

    def audit_user_map(staged: dict[str, DataFrame]) -> None:
        map_outcomes[:] = gate.audit(staged)  # the last audit: the one of the rows committed

    user_map, user_map_version = assign_user_ids(lake, interactions.select(USER_ID), run, audit_user_map)
    item_map = stage_item_map(lake, interactions, items, run)
    ids = _ids(user_map, item_map)
    ratings = lake.stage_intermediate(
        "interest_ratings", interactions.transform(ids).select(USER_IDX, ITEM_IDX, INTERACTION_WEIGHT), run.run_id
    )

    params, tuning = _tune(config, events, ids, lake, run) if cfg.tune.enabled else (cfg.als, None)
    backends = linear_algebra(spark)
    log.info("ALS linear algebra on the driver: BLAS %s, LAPACK %s%s", backends["blas"], backends["lapack"],
             "" if backends["native"] == "yes" else " (pure Java; a native libblas.so.3 / liblapack.so.3 on "
             "every node, e.g. apt-get install libopenblas0-pthread, is faster: docs/interest.md)")  # fmt: skip
    model, stats = train(ratings, params)
    metadata: dict[str, Any] = {
        "run_id": run.run_id,
        "params": params.model_dump(),
        "training": stats.as_dict(),
        "interest": cfg.model_dump(),
        "tuning": tuning.as_dict() if tuning else None,
    }
    folder = save_model(spark, lake.root, run.run_id, model, metadata)

    user_factors = lake.stage(
        USER_FACTORS, model.userFactors.transform(user_factors_table(user_map, interactions, run.run_id)), run.run_id
    )
    item_factors = lake.stage(
        ITEM_FACTORS,
        model.itemFactors.transform(trained_item_factors(item_map, interactions))
        .transform(fill_unseen_items(items, item_map))
        .withColumn(RUN_ID, F.lit(run.run_id)),
        run.run_id,
    )
    interest = lake.stage(
        USER_CATEGORY_INTEREST,
        user_factors.transform(
            category_interest(cfg, config.categories.cross_level, items, interactions, item_factors, run.run_id)
        )
        .withColumn(REFRESHED_AT, F.lit(None).cast("timestamp"))  # batch rows: not a streaming refresh
        .withColumn(REFRESH_BATCH, F.lit(None).cast("long")),
        run.run_id,
    )

    staged: list[tuple[TableSpec, DataFrame]] = [
        (ITEM_ID_MAP, item_map),
        (USER_FACTORS, user_factors),
        (ITEM_FACTORS, item_factors),
        (USER_CATEGORY_INTEREST, interest),
    ]  # user_id_map is not among them: its new rows were audited and committed before training
    sources = {r[SCORE_SOURCE]: int(r["count"]) for r in interest.groupBy(SCORE_SOURCE).count().collect()}
    model_run = _run_row(spark, run, folder, params, stats, tuning)
    done = publish_audited(gate, staged, stage=STAGE, appends=[(INTEREST_MODEL_RUNS, model_run)])
    mark_latest(spark, lake.root, run.run_id)
    outcomes = map_outcomes + done.outcomes
    published = {USER_ID_MAP.name: user_map_version, **done.versions}
    return StageResult(
        stage=STAGE,
        published=published,
        metrics={
            "matrix": f"{stats.n_users:,} users x {stats.n_items:,} items, {stats.n_interactions:,} interactions "
            f"(density {stats.density:.4%})",
            "als": f"rank {params.rank}, regParam {params.reg_param}, alpha {params.alpha}, "
            f"{params.max_iter} iterations in {stats.seconds:.1f} s ({stats.seconds / params.max_iter:.2f} s/iter)",
            "als_linear_algebra": backends,
            "score_sources": sources,
            "tuning_best": tuning.best if tuning else None,
            "model": folder,
            "quality": quality_summary(outcomes),
        },
    )
