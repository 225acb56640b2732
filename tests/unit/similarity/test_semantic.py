"""Semantic similarity: a real multilingual encoder, incremental embeddings, exact blocked neighbours."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import SemanticSimilarityConfig
from crosssell_spark.run import StageFailedError
from crosssell_spark.schemas import EMBEDDING, EMBEDDING_MODEL, ITEM_ID, TEXT_HASH
from crosssell_spark.similarity import semantic
from crosssell_spark.similarity.semantic import (
    TEXT,
    blocked_semantic_pairs,
    current_embeddings,
    embed,
    encode,
    item_texts,
    model_name,
    semantic_neighbours,
    to_embed,
)

# The same eight products in English and in Chinese.
ENGLISH = [
    "spaghetti pasta 500g", "tomato basil pasta sauce", "clear case for iPhone 15", "wireless bluetooth headphones",
    "organic whole milk", "garden fork", "dark chocolate bar", "running shoes for men",
]  # fmt: skip
CHINESE = [
    "意大利面 500克",
    "番茄罗勒意面酱",
    "iPhone 15 透明手机壳",
    "无线蓝牙耳机",
    "有机全脂牛奶",
    "园艺叉",
    "黑巧克力",
    "男士跑鞋",
]
ITEMS = "item_id string, category_id string, title string"
VECTORS = "item_id string, category_id string, embedding array<float>"


def cfg(**changes: object) -> SemanticSimilarityConfig:
    base = {"enabled": True, "fields": ["title"], "min_cosine": 0.5, "block_items": 100, "batch_size": 3}
    return SemanticSimilarityConfig(**(base | changes))


def catalogue(spark: SparkSession, rows: list[tuple[str, str, str]]) -> DataFrame:
    """items_clean-like rows: item_id, one-level category_ids, title."""
    return spark.createDataFrame(rows, ITEMS).select(
        ITEM_ID, F.array("category_id").alias("category_ids"), "title", F.lit(None).cast("string").alias("brand")
    )


def embedded(spark: SparkSession, rows: list[tuple[str, str, str]]) -> DataFrame:
    texts = catalogue(spark, rows).transform(item_texts(["title"], 1))
    vectors = texts.transform(embed(model_name(), 3, "r1"))
    return vectors.join(texts.select(ITEM_ID, "category_id"), ITEM_ID)


def test_the_encoder_gives_unit_vectors_and_ignores_no_language() -> None:
    vectors = encode(ENGLISH + CHINESE)
    assert vectors.shape == (16, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_each_title_has_its_other_language_twin_as_nearest_neighbour(spark: SparkSession) -> None:
    rows = [(f"en{i}", "english", t) for i, t in enumerate(ENGLISH)] + [
        (f"zh{i}", "chinese", t) for i, t in enumerate(CHINESE)
    ]
    neighbours = embedded(spark, rows).transform(semantic_neighbours(cfg(), 1, 2)).collect()
    nearest = {r.item_a: r.item_b for r in neighbours}
    assert nearest == {f"en{i}": f"zh{i}" for i in range(8)} | {f"zh{i}": f"en{i}" for i in range(8)}
    assert all(0.65 < r.semantic <= 1.0 for r in neighbours)


def test_an_english_pasta_finds_a_chinese_pasta_sauce_in_another_category(spark: SparkSession) -> None:
    rows = [
        ("P1", "pasta", "spaghetti pasta 500g"),
        ("S1", "sauces", "番茄罗勒意面酱"),  # tomato basil pasta sauce: no word in common with the pasta
        ("G1", "garden", "garden fork"),
        ("H1", "audio", "wireless bluetooth headphones"),
        ("P2", "pasta", "penne rigate 1kg"),  # the same category as P1: never its neighbour
    ]
    pairs = {(r.item_a, r.item_b) for r in embedded(spark, rows).transform(semantic_neighbours(cfg(), 5, 1)).collect()}
    assert ("P1", "S1") in pairs and ("S1", "P1") in pairs
    assert not {p for p in pairs if "G1" in p or "H1" in p}  # unrelated goods stay under min_cosine
    assert ("P1", "P2") not in pairs


def test_blocked_neighbours_equal_the_brute_force_top_n(spark: SparkSession) -> None:
    rng = np.random.default_rng(3)
    n, top_n, min_cosine = 120, 4, 0.1
    base = rng.normal(size=(8, 16))
    vectors = base[rng.integers(0, 8, n)] + 0.8 * rng.normal(size=(n, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    categories = rng.integers(0, 5, n)
    rows = [(f"I{i:03d}", f"c{categories[i]}", [float(x) for x in vectors[i]]) for i in range(n)]
    scores = vectors @ vectors.T
    expected = set()
    for i in range(n):
        allowed = [j for j in range(n) if categories[j] != categories[i] and scores[i, j] >= min_cosine]
        for j in sorted(allowed, key=lambda j: (-scores[i, j], j))[:top_n]:
            expected.add((f"I{i:03d}", f"I{j:03d}"))
    items = spark.createDataFrame(rows, VECTORS)
    semantic = cfg(min_cosine=min_cosine)
    for blocks in (1, 3, 5):
        found = items.transform(semantic_neighbours(semantic, top_n, blocks)).collect()
        assert {(r.item_a, r.item_b) for r in found} == expected, blocks
        assert all(abs(r.semantic - scores[int(r.item_a[1:]), int(r.item_b[1:])]) < 1e-5 for r in found)
    pairs = items.transform(blocked_semantic_pairs(min_cosine, top_n, 3))
    assert pairs.where(F.col("category_a") == F.col("category_b")).count() == 0


def test_only_new_or_changed_texts_are_embedded_and_gone_items_drop_out(spark: SparkSession) -> None:
    model = model_name()
    first = catalogue(spark, [("A", "c1", "green tea"), ("B", "c2", "tea cups"), ("C", "c3", "honey")])
    texts = first.transform(item_texts(["title"], 1))
    assert to_embed(texts, None, model).count() == 3
    table = current_embeddings(texts, None, texts.transform(embed(model, 2, "r1")), model).cache()
    assert to_embed(texts, table, model).count() == 0  # a rerun on the same catalogue embeds nothing

    second = catalogue(spark, [("A", "c1", "green tea"), ("B", "c2", "porcelain tea cups"), ("D", "c4", "lemon")])
    new_texts = second.transform(item_texts(["title"], 1))
    pending = to_embed(new_texts, table, model)
    assert sorted(r[ITEM_ID] for r in pending.collect()) == ["B", "D"]  # B's text changed, D is new
    after = current_embeddings(new_texts, table, pending.transform(embed(model, 2, "r2")), model).collect()
    assert sorted(r[ITEM_ID] for r in after) == ["A", "B", "D"]  # C left the catalogue
    runs = {r[ITEM_ID]: r["run_id"] for r in after}
    assert runs == {"A": "r1", "B": "r2", "D": "r2"}
    hashes = {r[ITEM_ID]: r[TEXT_HASH] for r in after}
    assert hashes["B"] == new_texts.where(F.col(ITEM_ID) == "B").first()[TEXT_HASH]
    assert {r[EMBEDDING_MODEL] for r in after} == {model} and all(len(r[EMBEDDING]) == 512 for r in after)
    assert to_embed(new_texts, table, "another-model==1").count() == 3  # a new model re-embeds everything


def test_item_texts_join_the_configured_fields_and_skip_items_without_text(spark: SparkSession) -> None:
    items = spark.createDataFrame(
        [("A", ["c1"], " Tea ", "Brand"), ("B", ["c2"], None, None), ("C", ["c3"], "Cups", None)],
        "item_id string, category_ids array<string>, title string, brand string",
    )
    rows = {r[ITEM_ID]: r[TEXT] for r in items.transform(item_texts(["title", "brand"], 1)).collect()}
    assert rows == {"A": "Tea. Brand", "C": "Cups"}


def test_without_the_encoder_the_stage_fails_with_the_install_line(monkeypatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(semantic.metadata, "version", missing)
    model_name.cache_clear()  # looked up once per process: forget an earlier answer
    try:
        with pytest.raises(StageFailedError, match=r"pip install 'crosssell-spark\[semantic\]'"):
            model_name()
    finally:
        model_name.cache_clear()
