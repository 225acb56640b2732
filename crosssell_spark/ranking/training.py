"""Labelled candidates for the learnt ranker, and the fit with its guard.

The run's own events are split in time: the label part is each shopper's newest basket
(`label_window: last_basket`) or the final `label_days` days (`days`); everything earlier is the
"early" part. Signals and candidates are rebuilt from the early part only, exactly as the stages build
them, and each (anchor, candidate) row is labelled 1 when a label basket holds both (in different
categories). The label part never reaches a feature or a candidate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.config import RankerConfig
from crosssell_spark.crosssell.lists import (
    CONFIGURED,
    LEARNT,
    POPULARITY_ONLY,
    ListSpec,
    apply_rules,
    blend,
    support,
)
from crosssell_spark.crosssell.ranker import FEATURE_GROUPS, FEATURES, Ranker, RankerParams, feature_matrix
from crosssell_spark.schemas import (
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    CATEGORY_SHARE,
    EVENT_DATE,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_CATEGORY,
    ITEM_ID,
    RANK,
    SCORE,
    SESSION_ID,
    SOURCE_NAME,
    SOURCE_PRIORITY,
    SUPPORT,
    USER_ID,
)
from crosssell_spark.significance import paired_bootstrap

BASKET = "basket"
LABEL = "label"
POSITIVES = "positives"  # the key's label items, whether or not a candidate holds them (NDCG's ideal)
FOLD = "fold"  # the key's cross-fitting fold: scored, for the guard, by a model fitted on the other folds
_CUT = "_cut"


def label_split(cfg: RankerConfig, basket_types: list[str]) -> Callable[[DataFrame], tuple[DataFrame, DataFrame]]:
    """events_clean -> (early events, label lines (basket, user_id, item_id)).

    share: the newest `label_share` of baskets (by their first basket event) are the label part, and
    events before the first of them are early; days: the same from midnight of the first of the final
    `label_days` calendar days; last_basket: each shopper's newest basket is their label part, and only
    their events before it are early.
    """
    bought = F.col(EVENT_TYPE).isin(*basket_types)

    def at(cut: datetime) -> Column:
        return F.lit(cut.strftime("%Y-%m-%d %H:%M:%S")).cast("timestamp")

    def split(events: DataFrame) -> tuple[DataFrame, DataFrame]:
        lines = events.where(bought)
        starts = lines.groupBy(USER_ID, SESSION_ID).agg(F.min(EVENT_TS).alias(_CUT))
        if cfg.label_window == "last_basket":
            newest_first = Window.partitionBy(USER_ID).orderBy(F.col(_CUT).desc(), F.col(SESSION_ID).desc())
            last = starts.withColumn("_r", F.row_number().over(newest_first)).where(F.col("_r") == 1).drop("_r")
            early = (
                events.join(last.select(USER_ID, _CUT), USER_ID, "left")
                .where(F.col(_CUT).isNull() | (F.col(EVENT_TS) < F.col(_CUT)))
                .drop(_CUT)
            )
            label = lines.join(last.select(USER_ID, SESSION_ID), [USER_ID, SESSION_ID])
        else:
            if cfg.label_window == "days":
                newest = events.agg(F.max(EVENT_DATE)).first()
                if newest is None or newest[0] is None:
                    raise ValueError("events_clean is empty: nothing to learn a ranking from")
                cut = datetime.combine(newest[0] - timedelta(days=cfg.label_days - 1), clock.min)
            else:
                seconds = starts.select(F.unix_timestamp(_CUT).cast("double").alias("s"))
                quantile = seconds.approxQuantile("s", [1.0 - cfg.label_share], 0.0005)
                if not quantile:
                    raise ValueError("events_clean holds no basket events: nothing to learn a ranking from")
                cut = datetime.fromtimestamp(quantile[0], UTC).replace(tzinfo=None)
            label_starts = starts.where(F.col(_CUT) >= at(cut)).select(USER_ID, SESSION_ID)
            early = events.where(F.col(EVENT_TS) < at(cut))
            label = lines.join(label_starts, [USER_ID, SESSION_ID])
        label_lines = label.select(F.concat_ws("|", USER_ID, SESSION_ID).alias(BASKET), USER_ID, ITEM_ID).distinct()
        return early, label_lines

    return split


def anchor_labels(lines: DataFrame, attributes: DataFrame, cfg: RankerConfig) -> tuple[DataFrame, DataFrame]:
    """Label lines -> (anchors, positives). Anchors: up to `max_keys` items (a seeded sample) of
    label baskets spanning two or more categories, each with its `fold` (`key_folds`). Positives:
    (anchor_item_id, item_id) of other categories in the same basket."""
    typed = lines.join(attributes.select(ITEM_ID, ITEM_CATEGORY), ITEM_ID)
    wide = typed.groupBy(BASKET).agg(F.countDistinct(ITEM_CATEGORY).alias("_n")).where(F.col("_n") >= 2)
    typed = typed.join(wide.select(BASKET), BASKET)
    anchors = (
        typed.select(F.col(ITEM_ID).alias(ANCHOR_ITEM_ID), F.col(ITEM_CATEGORY).alias(ANCHOR_CATEGORY))
        .distinct()
        .orderBy(F.xxhash64(ANCHOR_ITEM_ID, F.lit(cfg.seed)), ANCHOR_ITEM_ID)
        .limit(cfg.max_keys)
        .transform(key_folds(ANCHOR_ITEM_ID, cfg))
    )
    anchor_side = typed.select(BASKET, F.col(ITEM_ID).alias(ANCHOR_ITEM_ID), F.col(ITEM_CATEGORY).alias("_ac"))
    positives = (
        anchor_side.join(typed.select(BASKET, ITEM_ID, ITEM_CATEGORY), BASKET)
        .where(F.col(ITEM_CATEGORY) != F.col("_ac"))
        .select(ANCHOR_ITEM_ID, ITEM_ID)
        .distinct()
    )
    return anchors, positives


def key_folds(key: str, cfg: RankerConfig) -> Callable[[DataFrame], DataFrame]:
    """Keys -> keys with a seeded `fold` in [0, `cfg.folds`): which part of the cross-fitting validates them."""
    return lambda keys: keys.withColumn(
        FOLD, F.pmod(F.xxhash64(key, F.lit(cfg.seed + 1)), F.lit(cfg.folds)).cast("int")
    )


def user_labels(lines: DataFrame, known_users: DataFrame, cfg: RankerConfig) -> tuple[DataFrame, DataFrame]:
    """Label lines -> (users, positives). Users: up to `max_keys` shoppers (a seeded sample) with a
    label basket and an early history (`known_users`), each with its `fold`. Positives: (user_id,
    item_id) they bought in the label part."""
    users = (
        lines.select(USER_ID)
        .distinct()
        .join(known_users, USER_ID)
        .orderBy(F.xxhash64(USER_ID, F.lit(cfg.seed)), USER_ID)
        .limit(cfg.max_keys)
        .transform(key_folds(USER_ID, cfg))
    )
    return users, lines.select(USER_ID, ITEM_ID).distinct()


def labelled(candidates: DataFrame, keys: DataFrame, positives: DataFrame, key: str) -> DataFrame:
    """Candidate feature rows of the sampled keys with their 0/1 label and fold."""
    per_key = positives.groupBy(key).agg(F.count(F.lit(1)).alias(POSITIVES))
    return (
        candidates.join(keys.select(key, FOLD), key)
        .join(positives.withColumn(LABEL, F.lit(1)), [key, ITEM_ID], "left")
        .join(per_key, key, "left")
        .fillna(0, [LABEL, POSITIVES])
    )


def informative(key: str, objective: str) -> Callable[[DataFrame], DataFrame]:
    """The labelled rows that can move a fit or the guard: every row of a key with a positive
    candidate, and every row unless the objective is lambdarank. A key without a positive candidate
    scores 0 under every scorer in the guard (`fit_and_guard` still counts it), and under lambdarank
    its list has no pair to order."""
    if objective != "lambdarank":
        return lambda rows: rows
    positive = F.max(LABEL).over(Window.partitionBy(key)) > 0
    return lambda rows: rows.withColumn("_positive", positive).where("_positive").drop("_positive")


# --- fit and guard (pandas, on the driver) --------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How much labelled data a run had: the keys, rows and positives the lists' model is fitted on,
    and the keys the guard judged (every sampled key; each validates once, out of fold)."""

    train_keys: int
    train_rows: int
    train_positives: int
    validation_keys: int


@dataclass(frozen=True)
class Outcome:
    """What the guard decided for one list kind, and what it measured."""

    scorer: str
    reason: str
    ranker: Ranker | None
    counts: Counts
    quality: dict[str, dict[str, float]]
    seconds: float
    ablation: dict[str, dict[str, float]] | None = None  # the learnt lists without each feature group or source


def canonical(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The labelled rows in one order whatever order Spark returned them in: by key and item, the
    best evidence tier first (the row a fit keeps per item), then source and anchor."""
    by = [key, ITEM_ID, SOURCE_PRIORITY, SOURCE_NAME, *([ANCHOR_ITEM_ID] if key != ANCHOR_ITEM_ID else [])]
    return frame.sort_values(by, na_position="last", kind="stable").reset_index(drop=True)


def servable(frame: pd.DataFrame, spec: ListSpec) -> pd.DataFrame:
    """The rows the list rules would let through (before any score threshold or balancing)."""
    rules = spec.rules.model_copy(update={"min_score": float("-inf")})
    scored = frame.assign(**{SCORE: 0.0, SUPPORT: support(frame)})
    kept, _ = apply_rules(scored, rules, 0.0, pd.DataFrame({ITEM_CATEGORY: [], CATEGORY_SHARE: []}))
    return kept.drop(columns=[SCORE, SUPPORT])


def key_quality(frame: pd.DataFrame, spec: ListSpec, score: np.ndarray) -> pd.DataFrame:
    """Per listed key (index): hit_rate (0/1) and ndcg@k of the list `ListSpec.rank` builds from
    `score` under the spec's own rules (a key whose candidates hold no positive scores 0)."""
    ranked = spec.rank(frame.assign(**{SCORE: score}))
    gain = ranked[LABEL].to_numpy(np.float64) / np.log2(ranked[RANK].to_numpy(np.float64) + 1)
    dcg = pd.Series(gain).groupby(ranked[spec.key].to_numpy()).sum()
    found = frame.groupby(spec.key)[POSITIVES].max().clip(upper=spec.k)
    ideal = found.map(lambda n: float(np.sum(1.0 / np.log2(np.arange(2, int(n) + 2)))))
    ndcg = (dcg / ideal.reindex(dcg.index)).replace([np.inf], 0.0).fillna(0.0)
    hits = ranked.groupby(spec.key)[LABEL].max()
    return pd.DataFrame({"hit_rate": hits.astype(np.float64), "ndcg": ndcg.reindex(hits.index).fillna(0.0)})


def fit_and_guard(frame: pd.DataFrame, spec: ListSpec, cfg: RankerConfig, all_keys: int | None = None) -> Outcome:
    """Judge the learnt score by cross-fitting, then fit the model the lists get on every key.

    Each fold's keys are scored by a model fitted on the other folds' keys, so every key validates
    once, out of sample. The learnt score is kept only where its NDCG@k lead over the configured
    weights and over popularity alone is beyond noise (a paired bootstrap over all keys, 95 %
    interval above zero); otherwise the better of the other two (NDCG@k, then HitRate@k) scores the
    lists. Kept, the lists get one more fit, on every key.

    `all_keys`: how many keys had candidates when `frame` holds only the `informative` rows (the
    others score 0 under every scorer); None: the frame's own."""
    started = time.perf_counter()
    rows = servable(canonical(frame, spec.key), spec)
    present = pd.Index(frame[spec.key].unique())
    n_keys = len(present) if all_keys is None else all_keys
    keys = present.append(pd.Index([f"_without_positive_{n}" for n in range(n_keys - len(present))]))  # every one
    counts = Counts(int(rows[spec.key].nunique()), len(rows), int(rows[LABEL].sum()), n_keys)
    per_key = {}  # scorer -> per key hit_rate and ndcg: one ranking per scorer
    if n_keys:
        for name in (CONFIGURED, POPULARITY_ONLY):
            scored = spec.scored_by(name)
            per_key[name] = key_quality(rows, scored, _blend(rows, scored)).reindex(keys, fill_value=0.0)
    quality = {name: _means(figures) for name, figures in per_key.items()}
    fallback = max((CONFIGURED, POPULARITY_ONLY), key=lambda s: _order(quality.get(s)))
    if counts.train_positives < cfg.min_positives or not n_keys:
        reason = (
            f"{counts.train_positives} labelled positives, below crosssell.ranker.min_positives "
            f"({cfg.min_positives}); {n_keys} keys: scored by {fallback}"
        )
        return Outcome(fallback, reason, None, counts, quality, time.perf_counter() - started)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the lists' model, beside the guard's fold fits
        final = pool.submit(_fit, rows, spec, cfg)
        per_key[LEARNT] = cross_fitted(rows, spec, cfg, keys)
        ranker = final.result()
    quality[LEARNT] = _means(per_key[LEARNT])
    leads = {
        s: paired_bootstrap(per_key[LEARNT]["ndcg"], per_key[s]["ndcg"], cfg.seed)
        for s in (CONFIGURED, POPULARITY_ONLY)
    }
    wins = all(lead.significant for lead in leads.values())
    scorer = LEARNT if wins else fallback
    said = ", ".join(f"{s} {lead.text()}" for s, lead in leads.items())
    judged = f"{n_keys} keys, each scored by a model fitted on the other {cfg.folds - 1} of {cfg.folds} folds"
    reason = (
        f"learnt beats configured and popularity beyond noise on {judged} (NDCG lead: {said})"
        if wins
        else f"learnt does not beat both beyond noise on {judged} (NDCG lead: {said}): scored by {fallback}"
    )
    dropped = ablation(rows, spec, cfg, keys) if cfg.ablation else None
    return Outcome(scorer, reason, ranker, counts, quality, time.perf_counter() - started, dropped)


def cross_fitted(
    rows: pd.DataFrame, spec: ListSpec, cfg: RankerConfig, keys: pd.Index | None = None, hidden: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Per key (`key_quality`): the learnt lists of each fold's keys, scored by a model fitted on the
    other folds' keys (`hidden` features missing in both); reindexed to `keys` (0 where a key has no
    row) when given."""
    fold, labels = rows[FOLD].to_numpy(np.int64), rows[LABEL].to_numpy()
    learnable = [f for f in np.unique(fold) if labels[fold != f].sum() > 0]
    per_key = pd.DataFrame({"hit_rate": [], "ndcg": []})
    if learnable:
        # one fit per fold, side by side: each LightGBM fit runs on one thread and releases the GIL
        with ThreadPoolExecutor(max_workers=min(len(learnable), os.cpu_count() or 1)) as pool:
            rankers = list(pool.map(lambda f: _fit(rows[fold != f], spec, cfg, hidden), learnable))
        score = np.zeros(len(rows))  # a fold with nothing to learn from stays unscored (ties, in frame order)
        for f, ranker in zip(learnable, rankers, strict=True):
            score[fold == f] = ranker.score(rows[fold == f], spec.key, hidden)
        per_key = key_quality(rows, spec.scored_by(LEARNT, rankers[0]), score)
    return per_key if keys is None else per_key.reindex(keys, fill_value=0.0)


def _fit(train: pd.DataFrame, spec: ListSpec, cfg: RankerConfig, hidden: tuple[str, ...] = ()) -> Ranker:
    m = cfg.model
    params = RankerParams(m.num_trees, m.learning_rate, m.num_leaves, m.min_data_in_leaf, cfg.seed, m.objective)
    features = feature_matrix(train, spec.key, hidden)  # over every row: which sources found each item
    first = ~train.duplicated([spec.key, ITEM_ID]).to_numpy()  # then one row per listed item (`canonical`)
    keys = train[spec.key].to_numpy(dtype=object).astype(str)[first]
    return Ranker.fit(features[first], train[LABEL].to_numpy(np.float64)[first], keys, params)


def ablation(rows: pd.DataFrame, spec: ListSpec, cfg: RankerConfig, keys: pd.Index) -> dict[str, dict[str, float]]:
    """The cross-fitted learnt lists' figures with each feature group hidden, and each candidate
    source's rows removed, in turn: what every signal and source is worth."""
    out = {}
    full = feature_matrix(rows, spec.key)
    for group, features in FEATURE_GROUPS.items():
        if np.isnan(full[:, [FEATURES.index(f) for f in features]]).all():
            continue  # the list kind has none of it (interest on item lists)
        out[f"without {group} features"] = _means(cross_fitted(rows, spec, cfg, keys, features))
    for source in sorted(set(rows[SOURCE_NAME])):
        kept = rows[rows[SOURCE_NAME] != source]
        if kept[LABEL].sum() == 0:
            continue
        out[f"without {source} candidates"] = _means(cross_fitted(kept, spec, cfg, keys))
    return out


def _means(per_key: pd.DataFrame) -> dict[str, float]:
    """Mean hit_rate and ndcg over every validation key (`key_quality` reindexed to them)."""
    return {m: round(float(per_key[m].mean()), 6) for m in ("hit_rate", "ndcg")}


def _blend(frame: pd.DataFrame, spec: ListSpec) -> np.ndarray:
    return blend(frame, spec.weights).to_numpy(np.float64)


def _order(figures: dict[str, float] | None) -> tuple[float, float]:
    return (figures["ndcg"], figures["hit_rate"]) if figures else (-1.0, -1.0)
