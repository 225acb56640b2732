"""`crosssell evaluate`: retrain the pipeline on the past, score its lists and the baselines on the future.

1. Split the published events_clean at the cut (config: a date, or the last N days).
2. Publish the training slice (and the catalogue) into a private training lakehouse
   `<evaluation.root or <root>/_evaluation>/<run_id>` and run the ordinary train-interest,
   similarity and candidates stages there (a config copy whose lakehouse.root points at it).
3. Build the anchor and user tasks from the held-out events, the baselines from the training slice,
   and score every method with the same metric code (each method's lists collected once, see metrics.py).
4. Append the figures to the `evaluation` table of the main lakehouse and write a Markdown report
   with plots under `<root>/_reports/evaluation/<run_id>/`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark import pipeline
from crosssell_spark.config import AppConfig
from crosssell_spark.crosssell.signals import item_attributes
from crosssell_spark.evaluation import baselines as B
from crosssell_spark.evaluation import metrics as M
from crosssell_spark.evaluation import sar as S
from crosssell_spark.evaluation.report import REPORT_FOLDER, ReportInputs, write_report
from crosssell_spark.evaluation.split import before, cut_from, from_cut, last_event_date
from crosssell_spark.evaluation.tasks import (
    EXCLUDED_CATEGORIES,
    EXCLUDED_ITEMS,
    KEY,
    Task,
    anchor_task,
    bought,
    user_task,
)
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import Run, StageFailedError, StageResult, reports_dir
from crosssell_spark.schemas import (
    ANCHOR_ITEM_ID,
    CATEGORY_ID,
    CATEGORY_NAME,
    EVAL_CATEGORY,
    FACTOR_ALS,
    FACTOR_SOURCE,
    FEATURES,
    ITEM_CATEGORY,
    ITEM_ID,
    QUERIES,
    RANK,
    RUN_ID,
    SCORE,
    USER_ID,
    VALUE,
)
from crosssell_spark.significance import Lead, paired_bootstrap
from crosssell_spark.tables import (
    CATEGORIES,
    EVALUATION,
    EVENTS_CLEAN,
    ITEM_CROSS_SELL,
    ITEM_EMBEDDINGS,
    ITEM_FACTORS,
    ITEMS_CLEAN,
    RANKER_RUNS,
    USER_CROSS_SELL,
    USER_FACTORS,
)

log = logging.getLogger(__name__)
STAGE = "evaluate"
TRAINING_STAGES = ("train-interest", "similarity", "train-ranker", "candidates")
HASHED_SECTIONS = {"input", "cleaning", "categories", "similarity", "interest", "crosssell", "evaluation"}
SCORE_SAMPLE_ROWS = 20_000  # (score, hit) rows per task and method kept for the score-distribution plot
PLANTED_FILE = ("truth", "complements.parquet")
# A private copy of audited rows: no per-day partitions (years of daily files would dominate the run).
TRAINING_EVENTS = replace(EVENTS_CLEAN, partition_by=(), constraints=None)


@dataclass
class MethodFigures:
    """What one method scored on one task."""

    metrics: list[tuple[str, str | None, float, int | None]]  # (metric, category, value, queries)
    scores: pd.DataFrame  # sample of (score, is_hit)
    per_query: pd.DataFrame  # query_id -> hit_rate, ndcg (for the paired bootstrap)


def config_hash(config: AppConfig) -> str:
    """sha256 prefix of every setting that shapes the lists (paths and Spark tuning excluded)."""
    settings = config.model_dump(mode="json", include=HASHED_SECTIONS)
    settings["input"] = {k: v for k, v in settings["input"].items() if k != "path"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def dataset_name(config: AppConfig) -> str:
    if config.input.source == "sample":
        return f"sample(events={config.sample.events}, seed={config.sample.seed})"
    return f"{config.input.source}({Path(config.input.path or '').name})" if config.input.path else config.input.source


def training_config(config: AppConfig, root: str) -> AppConfig:
    """The same config with its lakehouse (and so checkpoints, GX and staging) under `root`."""
    lakehouse = config.lakehouse.model_copy(update={"root": root, "database": None})
    ranker = config.crosssell.ranker.model_copy(update={"ablation": config.evaluation.ablation})
    crosssell = config.crosssell.model_copy(update={"export_json": False, "ranker": ranker})
    return config.model_copy(update={"lakehouse": lakehouse, "crosssell": crosssell})


def publish_training_inputs(main: Lakehouse, training: Lakehouse, cut: datetime) -> tuple[int, int]:
    """events_clean before the cut, and the whole catalogue, into the training lakehouse (with the
    catalogue's text embeddings when there are any: they hold no behaviour, and save re-encoding)."""
    events = main.read(EVENTS_CLEAN.name).transform(before(cut))
    training.publish(TRAINING_EVENTS, events)
    training.publish(ITEMS_CLEAN, main.read(ITEMS_CLEAN.name))
    training.publish(CATEGORIES, main.read(CATEGORIES.name))
    if main.exists(ITEM_EMBEDDINGS.name):
        training.publish(ITEM_EMBEDDINGS, main.read(ITEM_EMBEDDINGS.name))
    stats = training.read(EVENTS_CLEAN.name).agg(F.count(F.lit(1)), F.countDistinct(USER_ID)).first()
    assert stats is not None
    return int(stats[0]), int(stats[1])


def score_method(
    truth: pd.DataFrame,
    recs: pd.DataFrame,
    catalogue_items: int,
    item_users: pd.Series,
    n_users: int,
    k: int,
    seed: int,
) -> MethodFigures:
    """Every metric of one method on one task from its collected lists (the same code for the pipeline
    and each baseline)."""
    rows: list[tuple[str, str | None, float, int | None]] = [
        (metric, None, value, queries) for metric, value, queries in M.accuracy(recs, truth, k)
    ]
    rows += [
        (M.COVERAGE, None, M.catalogue_coverage(recs, catalogue_items, k), None),
        (M.DIVERSITY, None, M.intra_list_diversity(recs, k), None),
        (M.NOVELTY, None, M.novelty(recs, item_users, n_users, k), None),
    ]
    categories = M.per_category_hit_rate(recs, truth, k)
    rows += [
        (M.HIT_RATE, str(c), float(v), int(q))
        for c, v, q in zip(categories[EVAL_CATEGORY], categories[VALUE], categories[QUERIES], strict=True)
    ]
    marked = M.mark_hits(recs, truth, k)
    sample = marked.sample(min(SCORE_SAMPLE_ROWS, len(marked)), random_state=seed)[[SCORE, M.IS_HIT]]
    queries = M.per_query(recs, truth, k)[[M.HIT_RATE, M.NDCG]]
    return MethodFigures(rows, sample.reset_index(drop=True), queries)


def collect_lists(task: Task, recs_by_key: DataFrame) -> pd.DataFrame:
    """A method's lists for the task's queries, on the driver: at most queries x K rows."""
    recs = task.queries.select(M.QUERY, KEY).join(recs_by_key, KEY).select(M.QUERY, ITEM_ID, ITEM_CATEGORY, RANK, SCORE)
    return cast(pd.DataFrame, recs.toPandas())


def _keys(task: Task) -> DataFrame:
    return task.queries.select(KEY, EXCLUDED_CATEGORIES, EXCLUDED_ITEMS).dropDuplicates([KEY])


def _planted_tasks(spark: SparkSession, config: AppConfig, attributes: DataFrame) -> list[Task]:
    """Sample world only: each planted complement kind as an anchor task (recovery of the planted truth)."""
    path = Path(config.sample.path).joinpath(*PLANTED_FILE)
    if config.input.source != "sample" or not path.exists():
        return []
    truth = spark.read.parquet(str(path.resolve()))
    anchors = attributes.select(F.col(ITEM_ID).alias(KEY), F.col(ITEM_CATEGORY).alias("_anchor_category"))
    tasks = []
    for kind in sorted(r["kind"] for r in truth.select("kind").distinct().collect()):
        pairs = (
            truth.where(F.col("kind") == kind)
            .select(F.col(ANCHOR_ITEM_ID).alias(KEY), F.col("complement_item_id").alias(ITEM_ID))
            .join(anchors, KEY)
            .join(attributes.select(ITEM_ID, ITEM_CATEGORY), ITEM_ID)
            .where(F.col(ITEM_CATEGORY) != F.col("_anchor_category"))
        )
        queries = pairs.select(
            F.col(KEY).alias(M.QUERY), KEY, F.array("_anchor_category").alias(EXCLUDED_CATEGORIES),
            F.array(KEY).alias(EXCLUDED_ITEMS),
        ).distinct()  # fmt: skip
        tasks.append(Task(f"planted_{kind}", queries, pairs.select(F.col(KEY).alias(M.QUERY), ITEM_ID, ITEM_CATEGORY)))
    return tasks


def score_all(
    spark: SparkSession,
    config: AppConfig,
    lake: Lakehouse,
    train_lake: Lakehouse,
    cut: datetime,
    run: Run,
    methods: set[str] | None = None,
) -> tuple[dict[tuple[str, str], MethodFigures], dict[str, dict[str, int]]]:
    """Build the tasks from the held-out events and score the chosen methods (None: all) on each."""
    cfg, k, level = config.evaluation, config.evaluation.k, config.categories.cross_level
    attributes = item_attributes(train_lake.read(ITEMS_CLEAN.name), level).select(ITEM_ID, ITEM_CATEGORY)
    training = train_lake.read(EVENTS_CLEAN.name)
    events = lake.read(EVENTS_CLEAN.name)
    held_out = lake.stage_intermediate("eval_held_out", events.transform(from_cut(cut)), run.run_id)
    lines = lake.stage_intermediate(
        "eval_training_lines", bought(training, cfg.basket_event_types, attributes), run.run_id
    )
    popularity = lake.stage_intermediate("eval_item_users", B.item_users(lines), run.run_id)
    pairs = lake.stage_intermediate("eval_cooccurrence_pairs", B.cooccurrence_pairs(lines), run.run_id)
    neighbours = B.cooccurrence_neighbours(pairs, cfg.cooccurrence_neighbours)
    min_users = config.similarity.cooccurrence.min_users
    neighbours_floor = B.cooccurrence_neighbours(pairs, cfg.cooccurrence_neighbours, min_users)
    sar_items = (  # staged once for every task, and only when SAR is scored
        lake.stage_intermediate(
            "eval_sar_similarity", S.sar_similarity(lines, min_users, cfg.cooccurrence_neighbours), run.run_id
        )
        if methods is None or B.SAR in methods
        else None
    )
    users_per_item = cast(pd.DataFrame, popularity.select(ITEM_ID, B.USERS).toPandas())
    if users_per_item.empty:  # guards an empty training side
        raise StageFailedError("no training purchases: the baselines have nothing to learn from")
    item_users = users_per_item.set_index(ITEM_ID)[B.USERS]
    n_buyers = lines.select(USER_ID).distinct().count()
    catalogue_items = attributes.select(ITEM_ID).distinct().count()

    als_items = (
        train_lake.read(ITEM_FACTORS.name)
        .where(F.col(FACTOR_SOURCE) == FACTOR_ALS)
        .select(ITEM_ID, FEATURES)
        .join(attributes, ITEM_ID)
    )
    vectors = {
        "anchor": als_items.select(F.col(ITEM_ID).alias(KEY), FEATURES),
        "user": train_lake.read(USER_FACTORS.name).select(F.col(USER_ID).alias(KEY), FEATURES),
    }
    seeds_user = lines.select(F.col(USER_ID).alias(KEY), ITEM_ID).distinct()
    affinity_user = S.user_affinity(training, config.interest.event_weights, cfg.sar_half_life_days, cut).select(
        F.col(USER_ID).alias(KEY), ITEM_ID, S.AFFINITY
    )
    served = (ITEM_ID, ITEM_CATEGORY, RANK, SCORE)
    lists = {
        "anchor": train_lake.read(ITEM_CROSS_SELL.name).select(F.col(ANCHOR_ITEM_ID).alias(KEY), *served),
        "user": train_lake.read(USER_CROSS_SELL.name).select(F.col(USER_ID).alias(KEY), *served),
    }

    tasks = [
        anchor_task(held_out, attributes, cfg.basket_event_types, cfg.min_basket_categories,
                    cfg.max_anchor_queries, cfg.seed),
        user_task(training, held_out, attributes, cfg.basket_event_types),
        *_planted_tasks(spark, config, attributes),
    ]  # fmt: skip
    figures: dict[tuple[str, str], MethodFigures] = {}
    task_sizes: dict[str, dict[str, int]] = {}
    for task in tasks:
        task = Task(
            task.name,
            lake.stage_intermediate(f"eval_{task.name}_queries", task.queries, run.run_id),
            task.truth,  # collected once below
        )
        kind = "user" if task.name == "user" else "anchor"
        keys = lake.stage_intermediate(f"eval_{task.name}_keys", _keys(task), run.run_id)
        seeds = seeds_user if kind == "user" else keys.select(KEY, F.col(KEY).alias(ITEM_ID))
        candidates = {
            B.PIPELINE: lists[kind],
            B.POPULARITY: B.global_popularity(keys, popularity, k, cfg.popularity_pool),
            B.POPULARITY_ELIGIBLE: B.eligible_popularity(keys, popularity, k),
            B.COOCCURRENCE: B.cooccurrence(keys, seeds, neighbours, k),
            B.COOCCURRENCE_FLOOR: B.cooccurrence(keys, seeds, neighbours_floor, k),
            B.ALS: B.als_top_k(keys, vectors[kind], als_items, k, cosine=kind == "anchor"),
        }
        if sar_items is not None:
            affinity = affinity_user if kind == "user" else S.anchor_affinity(keys)
            candidates[B.SAR] = S.sar_top_k(keys, affinity, sar_items, k)
        truth = cast(pd.DataFrame, task.truth.select(M.QUERY, ITEM_ID, ITEM_CATEGORY).toPandas())
        task_sizes[task.name] = {"queries": task.queries.count(), "keys": keys.count(), "relevant": len(truth)}
        log.info("evaluate: task %s %s", task.name, task_sizes[task.name])
        for method, recs in candidates.items():
            if methods is not None and method not in methods:
                continue
            collected = collect_lists(task, recs)
            figures[(task.name, method)] = score_method(
                truth, collected, catalogue_items, item_users, n_buyers, k, cfg.seed
            )
            log.info("evaluate: %s / %s done", task.name, method)

    return figures, task_sizes


def pipeline_leads(figures: dict[tuple[str, str], MethodFigures], seed: int) -> dict[str, dict[str, dict[str, Lead]]]:
    """task -> baseline -> metric -> the pipeline's paired-bootstrap lead, on the tasks it was scored on."""
    leads: dict[str, dict[str, dict[str, Lead]]] = {}
    for (task, method), fig in figures.items():
        ours = figures.get((task, B.PIPELINE))
        if method == B.PIPELINE or ours is None:
            continue
        leads.setdefault(task, {})[method] = {
            metric: paired_bootstrap(ours.per_query[metric], fig.per_query[metric], seed)
            for metric in (M.HIT_RATE, M.NDCG)
        }
    return leads


def run_evaluation(spark: SparkSession, config: AppConfig, run: Run) -> StageResult:
    """Split, retrain on the past, score pipeline and baselines on both tasks, record and report."""
    cfg, k = config.evaluation, config.evaluation.k
    lake = Lakehouse(spark, config.lakehouse)
    missing = [t.name for t in (EVENTS_CLEAN, ITEMS_CLEAN, CATEGORIES) if not lake.exists(t.name)]
    if missing:
        raise StageFailedError(f"evaluate needs the published {missing} under {lake.root}: run `crosssell clean` first")
    events = lake.read(EVENTS_CLEAN.name)
    cut = cut_from(cfg, last_event_date(events))
    training_root = f"{cfg.root or lake.root + '/_evaluation'}/{run.run_id}"
    train_config = training_config(config, training_root)
    train_lake = Lakehouse(spark, train_config.lakehouse)
    n_events, n_users = publish_training_inputs(lake, train_lake, cut)
    if n_events == 0:
        raise StageFailedError(f"no events before the cut {cut}: move evaluation.cut_date later")
    log.info("evaluate: cut %s, %s training events of %s users -> %s", cut, n_events, n_users, training_root)
    stage_seconds = {name: pipeline.run_stage(name, spark, train_config, run).seconds for name in TRAINING_STAGES}

    figures, task_sizes = score_all(spark, config, lake, train_lake, cut, run)

    now = datetime.now(UTC).replace(tzinfo=None)
    digest, dataset = config_hash(config), dataset_name(config)
    rows = [
        (run.run_id, now, digest, dataset, cut, task, method, metric, k, category, value, queries)
        for (task, method), fig in figures.items()
        for metric, category, value, queries in fig.metrics
    ]
    version = lake.append(EVALUATION, spark.createDataFrame(rows, EVALUATION.schema))
    leads = pipeline_leads(figures, cfg.seed)
    ranker_rows = (
        [r.asDict() for r in train_lake.read(RANKER_RUNS.name).where(F.col(RUN_ID) == run.run_id).collect()]
        if train_lake.exists(RANKER_RUNS.name)
        else []
    )
    categories = lake.read(CATEGORIES.name).select(CATEGORY_ID, CATEGORY_NAME).collect()
    names = {r[CATEGORY_ID]: r[CATEGORY_NAME] for r in categories}
    report = write_report(
        reports_dir(lake.root, REPORT_FOLDER, run.run_id),
        ReportInputs(
            run_id=run.run_id, dataset=dataset, config_hash=digest, cut=cut, k=k,
            training={"events": n_events, "users": n_users, "root": training_root, "stage_seconds": stage_seconds},
            task_sizes=task_sizes,
            figures=pd.DataFrame(rows, columns=EVALUATION.schema.fieldNames()),
            scores={key: fig.scores for key, fig in figures.items()},
            category_names=names,
            leads=leads,
            targets=B.TARGETS,
            ranker=ranker_rows,
        ),
    )  # fmt: skip
    lake.drop_staging(run.run_id)
    train_lake.drop_staging(run.run_id)
    headline: dict[str, Any] = {
        f"{task}/{method}": {m: round(v, 4) for m, c, v, _ in fig.metrics if c is None and m in (M.HIT_RATE, M.NDCG)}
        for (task, method), fig in figures.items()
    }
    metrics = {"run_id": run.run_id, "cut": str(cut), "training_root": training_root, "tasks": task_sizes}
    return StageResult(
        stage=STAGE,
        published={EVALUATION.name: version},
        metrics={**metrics, "report": str(report), "headline": headline},
    )
