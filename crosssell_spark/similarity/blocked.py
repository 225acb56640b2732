"""Exact cross-category Jaccard by blocked sparse products: every pair, no catalogue on the driver.

Items are split into `blocks` by a hash of their id. Each pair of blocks (i <= j) is one task
(`applyInPandas`): it receives both blocks' feature sets, builds their binary item x feature
matrices A_i, A_j (scipy CSR, over the features present in the task) and computes A_i . A_j^T,
whose entries are the features each pair shares. Jaccard = shared / (|a| + |b| - shared), kept
at or above the threshold and across categories; a block with itself keeps the upper triangle.
Every item is sent to `blocks` tasks, so the shuffle is blocks x the features; the arithmetic is
the one sparse product a single machine would run, cut into blocks(blocks + 1)/2 pieces.

The answer is exact (every pair LSH could find and the ones it misses), independent of the
blocking: a finer one only changes how the work is cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import sparse

from crosssell_spark.schemas import CATEGORY_A, CATEGORY_B, CATEGORY_ID, ITEM_A, ITEM_B, ITEM_ID, JACCARD
from crosssell_spark.similarity.tokens import FEATURES

BLOCK, TASK, OTHER, IDS = "_block", "_task", "_other", "_ids"
PAIR_SCHEMA = f"{ITEM_A} string, {ITEM_B} string, {CATEGORY_A} string, {CATEGORY_B} string, {JACCARD} double"


def block_count(items: int, block_items: int, parallelism: int) -> int:
    """Blocks for `items`: about `block_items` items each, and enough block pairs to keep
    `parallelism` cores busy (b(b + 1)/2 >= parallelism)."""
    by_size = math.ceil(items / block_items)
    by_cores = math.ceil((math.sqrt(8 * parallelism + 1) - 1) / 2)
    return max(1, by_size, by_cores)


def block_tasks(blocks: int) -> Callable[[DataFrame], DataFrame]:
    """Items (with item_id) -> each item once per pair of blocks it belongs to: its block (a hash of
    the id) with every block, itself included, as `_block` and the pair's task `i * blocks + j`, i <= j."""

    def transform(items: DataFrame) -> DataFrame:
        block = F.pmod(F.xxhash64(ITEM_ID), F.lit(blocks)).cast("int")
        other = F.explode(F.sequence(F.lit(0), F.lit(blocks - 1)))
        keyed = items.select("*", block.alias(BLOCK)).select("*", other.alias(OTHER))
        task = F.least(BLOCK, OTHER) * blocks + F.greatest(BLOCK, OTHER)
        return keyed.select(*items.columns, BLOCK, task.alias(TASK))

    return transform


def task_blocks(rows: pd.DataFrame, blocks: int) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """One task's rows (`block_tasks`) -> its two blocks' items (left, right) and whether they are one
    block (right is then left itself)."""
    low, high = divmod(int(rows[TASK].iloc[0]), blocks)
    left = rows[rows[BLOCK] == low].reset_index(drop=True)
    if low == high:
        return left, left, True
    return left, rows[rows[BLOCK] == high].reset_index(drop=True), False


def _matrix(ids: pd.Series, vocabulary: np.ndarray) -> sparse.csr_matrix:
    """Binary item x feature matrix of feature-id arrays, columns indexed by `vocabulary` (sorted)."""
    lengths = ids.map(len).to_numpy()
    flat = np.concatenate(ids.to_numpy()) if len(ids) else np.empty(0, dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    columns = np.searchsorted(vocabulary, flat)
    data = np.ones(len(flat), dtype=np.int32)
    return sparse.csr_matrix((data, columns, indptr), shape=(len(ids), len(vocabulary)))


def block_pairs(rows: pd.DataFrame, blocks: int, threshold: float) -> pd.DataFrame:
    """One task's pairs: the rows of blocks i <= j (task i * blocks + j) -> cross-category pairs,
    item_a < item_b, with Jaccard >= threshold."""
    left, right, same = task_blocks(rows, blocks)
    if left.empty or right.empty:
        return pd.DataFrame(columns=[ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, JACCARD])
    vocabulary = np.unique(np.concatenate(rows[IDS].to_numpy()))
    a, b = _matrix(left[IDS], vocabulary), _matrix(right[IDS], vocabulary)
    shared = (a @ b.T).tocoo()
    if same:  # a block with itself: each pair once, never an item with itself
        upper = shared.row < shared.col
        shared = sparse.coo_matrix((shared.data[upper], (shared.row[upper], shared.col[upper])), shape=shared.shape)
    i, j, common = shared.row, shared.col, shared.data.astype(np.float64)
    size_a, size_b = np.diff(a.indptr)[i], np.diff(b.indptr)[j]
    similarity = common / (size_a + size_b - common)
    category_a, category_b = left[CATEGORY_ID].to_numpy()[i], right[CATEGORY_ID].to_numpy()[j]
    keep = (similarity >= threshold) & (category_a != category_b)
    item_a, item_b = left[ITEM_ID].to_numpy()[i][keep], right[ITEM_ID].to_numpy()[j][keep]
    category_a, category_b = category_a[keep], category_b[keep]
    first = item_a < item_b
    return pd.DataFrame(
        {
            ITEM_A: np.where(first, item_a, item_b),
            ITEM_B: np.where(first, item_b, item_a),
            CATEGORY_A: np.where(first, category_a, category_b),
            CATEGORY_B: np.where(first, category_b, category_a),
            JACCARD: similarity[keep],
        }
    )


def blocked_exact_pairs(threshold: float, blocks: int) -> Callable[[DataFrame], DataFrame]:
    """features (item_id, category_id, features) -> every cross-category pair (item_a < item_b)
    with Jaccard >= threshold, computed exactly in blocks(blocks + 1)/2 tasks."""

    def transform(features: DataFrame) -> DataFrame:
        ids = F.array_distinct(F.transform(FEATURES, lambda f: F.xxhash64(f)))
        tasks = features.select(ITEM_ID, CATEGORY_ID, ids.alias(IDS)).transform(block_tasks(blocks))
        return tasks.groupBy(TASK).applyInPandas(lambda rows: block_pairs(rows, blocks, threshold), PAIR_SCHEMA)

    return transform
