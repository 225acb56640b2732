"""Ranking metrics at K on collected lists (pandas): one method's lists on one task are at most
queries x K rows, so `score_method` brings them to the driver once and every metric is computed
from that one frame.

Inputs share two shapes:
    recs   (query_id, item_id, item_category, rank, score): a method's ranked list per query
    truth  (query_id, item_id, item_category): the held-out items that count as relevant

Definitions (binary relevance; `rel` = the query's relevant items, `hits` = relevant items in the top K):
    HitRate@K   = 1 if hits > 0                 Precision@K = hits / K
    Recall@K    = hits / |rel|                  NDCG@K = DCG / IDCG, DCG = sum over hits of 1 / log2(rank + 1)
    AP@K        = sum over hits of (hits so far / rank) / min(|rel|, K)   (as Spark's meanAveragePrecisionAtK)
Every query in `truth` counts; a query without a list scores 0. Coverage, intra-list diversity and
novelty describe the lists themselves, not their accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosssell_spark.schemas import EVAL_CATEGORY, ITEM_CATEGORY, ITEM_ID, QUERIES, RANK, SCORE, VALUE

QUERY = "query_id"  # evaluation-internal; the columns of lists and of the evaluation table are in schemas

HIT_RATE, PRECISION, RECALL, NDCG, MAP = "hit_rate", "precision", "recall", "ndcg", "map"
COVERAGE, DIVERSITY, NOVELTY = "coverage", "diversity", "novelty"
ACCURACY_METRICS = (HIT_RATE, PRECISION, RECALL, NDCG, MAP)
LIST_METRICS = (COVERAGE, DIVERSITY, NOVELTY)

N_RELEVANT, HITS, IS_HIT = "n_relevant", "hits", "is_hit"


def _validate(df: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")


def top_k(recs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each query's K best-ranked distinct items, renumbered 1..K (ties by item id)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _validate(recs, (QUERY, ITEM_ID, RANK), "recs")
    keys = [c for c in recs.columns if c not in (RANK, SCORE)]
    best = recs.groupby(keys, as_index=False, sort=False, dropna=False).agg(
        **{RANK: (RANK, "min"), **({SCORE: (SCORE, "max")} if SCORE in recs.columns else {})}
    )
    best = best.sort_values([QUERY, RANK, ITEM_ID], kind="stable")
    best[RANK] = best.groupby(QUERY, sort=False).cumcount() + 1
    return best[best[RANK] <= k].reset_index(drop=True)


def mark_hits(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """Top-K recs with `is_hit` (1/0): the rows every accuracy metric is computed from."""
    _validate(truth, (QUERY, ITEM_ID), "truth")
    relevant = truth[[QUERY, ITEM_ID]].drop_duplicates().assign(**{IS_HIT: 1})
    marked = top_k(recs, k).merge(relevant, on=[QUERY, ITEM_ID], how="left")
    return marked.assign(**{IS_HIT: marked[IS_HIT].fillna(0).astype(np.int64)})


def _ideal_dcg(n_relevant: pd.Series, k: int) -> pd.Series:
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])  # [i]: IDCG of i hits
    return pd.Series(discounts[np.minimum(n_relevant.to_numpy(np.int64), k)], index=n_relevant.index)


def per_query(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per query of `truth` (the index): n_relevant, hits and its HitRate, Precision, Recall,
    NDCG, AP at K."""
    marked = mark_hits(recs, truth, k).sort_values([QUERY, RANK], kind="stable")
    hit = marked[IS_HIT].to_numpy(np.float64)
    rank = marked[RANK].to_numpy(np.float64)
    so_far = marked.groupby(QUERY, sort=False)[IS_HIT].cumsum().to_numpy(np.float64)
    parts = pd.DataFrame({HITS: hit, "dcg": hit / np.log2(rank + 1), "ap": hit * so_far / rank})
    scored = parts.groupby(marked[QUERY].to_numpy()).sum()
    n_relevant = truth[[QUERY, ITEM_ID]].drop_duplicates().groupby(QUERY)[ITEM_ID].count().rename(N_RELEVANT)
    joined = scored.reindex(n_relevant.index, fill_value=0.0)
    hits = joined[HITS]
    return pd.DataFrame(
        {
            N_RELEVANT: n_relevant,
            HITS: hits.astype(np.int64),
            HIT_RATE: (hits > 0).astype(np.float64),
            PRECISION: hits / k,
            RECALL: hits / n_relevant,
            NDCG: joined["dcg"] / _ideal_dcg(n_relevant, k),
            MAP: joined["ap"] / np.minimum(n_relevant, k),
        }
    ).rename_axis(QUERY)


def accuracy(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> list[tuple[str, float, int]]:
    """(metric, value, queries): the mean of each accuracy metric over every query of `truth`."""
    scores = per_query(recs, truth, k)
    return [(m, float(scores[m].mean()) if len(scores) else float("nan"), len(scores)) for m in ACCURACY_METRICS]


def catalogue_coverage(recs: pd.DataFrame, catalogue_items: int, k: int) -> float:
    """Distinct items in any top-K list / items in the catalogue."""
    return top_k(recs, k)[ITEM_ID].nunique() / max(catalogue_items, 1)


def intra_list_diversity(recs: pd.DataFrame, k: int) -> float:
    """Mean over lists of >= 2 items of the share of item pairs in different categories."""
    per_category = top_k(recs, k).groupby([QUERY, ITEM_CATEGORY], dropna=False).size()
    n = per_category.groupby(level=QUERY).sum().astype(np.float64)
    squares = (per_category.astype(np.float64) ** 2).groupby(level=QUERY).sum()
    lists = n >= 2
    if not lists.any():
        return 0.0
    return float(((n * n - squares) / (n * (n - 1)))[lists].mean())


def novelty(recs: pd.DataFrame, item_users: pd.Series, n_users: int, k: int) -> float:
    """Mean self-information -log2((users_i + 1) / (n_users + 1)) of the recommended items.

    `item_users`: distinct training users per item (indexed by item_id); unseen items count 0 users.
    """
    shown = top_k(recs, k)[ITEM_ID]
    if shown.empty:
        return 0.0
    users = shown.map(item_users).fillna(0).to_numpy(np.float64)
    return float(np.mean(-np.log2((users + 1) / (n_users + 1))))


def per_category_hit_rate(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """(category, value, queries): among queries with relevant items of a category, the share whose top K
    holds one of them. Shows which categories the method serves and which it misses."""
    _validate(truth, (QUERY, ITEM_ID, ITEM_CATEGORY), "truth")
    wanted = truth[[QUERY, ITEM_ID, ITEM_CATEGORY]].drop_duplicates().rename(columns={ITEM_CATEGORY: EVAL_CATEGORY})
    marked = mark_hits(recs, truth, k)
    hits = marked.loc[marked[IS_HIT] == 1, [QUERY, ITEM_ID]].drop_duplicates().assign(_found=1)
    found = wanted.merge(hits, on=[QUERY, ITEM_ID], how="left").fillna({"_found": 0})
    per_pair = found.groupby([QUERY, EVAL_CATEGORY])["_found"].max().reset_index()
    return (
        per_pair.groupby(EVAL_CATEGORY)["_found"]
        .agg(**{VALUE: "mean", QUERIES: "size"})
        .reset_index()
        .astype({VALUE: np.float64, QUERIES: np.int64})
    )
