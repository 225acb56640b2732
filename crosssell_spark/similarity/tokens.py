"""Content features of items: normalised tokens, a stop list learnt from document frequency, shingles.

Tokens are lower-case runs of letters and digits. Hyphens, apostrophes and dots inside a word are
dropped first, so "ET-2810", "L'Oreal" and "No.5" stay one token ("et2810", "loreal", "no5"). Tokens
shorter than `token_min_length` are dropped unless they hold a digit, which keeps model-like tokens
such as "s23" or "x1"; with the default minimum of 2, size tokens like "xl" are kept too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crosssell_spark.config import ContentSimilarityConfig
from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.schemas import CATEGORY_ID, ITEM_ID

TOKENS = "tokens"
FEATURES = "features"
TOKEN = "token"
DOC_FREQ = "doc_freq"
DOC_SHARE = "doc_share"

_JOINERS = r"(?<=[\p{L}\p{N}])['\u2019.\-](?=[\p{L}\p{N}])"  # punctuation inside a word
_SEPARATORS = r"[^\p{L}\p{N}]+"


def normalised_tokens(text: Column, token_min_length: int) -> Column:
    """Lower-case word tokens of `text` in order (repeats kept); model-like short tokens survive."""
    joined = F.regexp_replace(F.lower(F.coalesce(text, F.lit(""))), _JOINERS, "")
    words = F.split(joined, _SEPARATORS)
    return F.filter(
        words,
        lambda w: (F.length(w) >= token_min_length) | ((F.length(w) > 0) & w.rlike(r"\p{N}")),
    )


def item_tokens(cfg: ContentSimilarityConfig, cross_level: int) -> Callable[[DataFrame], DataFrame]:
    """items_clean -> (item_id, category_id at `cross_level`, tokens of the configured text fields)."""

    def transform(items: DataFrame) -> DataFrame:
        text = F.concat_ws(" ", *[F.col(field) for field in cfg.fields])
        return items.select(
            ITEM_ID,
            category_at_level(cross_level).alias(CATEGORY_ID),
            normalised_tokens(text, cfg.token_min_length).alias(TOKENS),
        )

    return transform


def stop_words(cfg: ContentSimilarityConfig) -> Callable[[DataFrame], DataFrame]:
    """Tokens too common to tell items apart: in more than `max_doc_freq` of items and at least
    `stop_word_min_items` items. Returns (token, doc_freq, doc_share), most common first."""

    def transform(tokens: DataFrame) -> DataFrame:
        items = tokens.select(F.count(F.lit(1)).alias("_items"))
        frequency = (
            tokens.select(ITEM_ID, F.explode(F.array_distinct(TOKENS)).alias(TOKEN))
            .groupBy(TOKEN)
            .agg(F.count(F.lit(1)).alias(DOC_FREQ))
        )
        return (
            frequency.crossJoin(items)
            .select(TOKEN, DOC_FREQ, (F.col(DOC_FREQ) / F.col("_items")).alias(DOC_SHARE))
            .where((F.col(DOC_SHARE) > cfg.max_doc_freq) & (F.col(DOC_FREQ) >= cfg.stop_word_min_items))
            .orderBy(F.col(DOC_FREQ).desc(), TOKEN)
        )

    return transform


def shingles(tokens: Column, kind: str, size: int) -> Column:
    """Distinct shingles of an ordered token array: word n-grams, or character n-grams of each token.

    A title with fewer than `size` tokens is one word shingle; a token shorter than `size` is one
    character shingle, so no item loses all its features to the shingle size.
    """
    if kind == "word":
        if size == 1:
            return F.array_distinct(tokens)
        grams = F.transform(
            F.sequence(F.lit(1), F.size(tokens) - size + 1),
            lambda i: F.array_join(F.slice(tokens, i, size), " "),
        )
        whole = F.when(F.size(tokens) > 0, F.array(F.array_join(tokens, " "))).otherwise(
            F.array().cast("array<string>")
        )
        return F.array_distinct(F.when(F.size(tokens) >= size, grams).otherwise(whole))
    if kind == "char":
        per_token = F.transform(
            tokens,
            lambda w: F.when(F.length(w) <= size, F.array(w)).otherwise(
                F.transform(F.sequence(F.lit(1), F.length(w) - size + 1), lambda i: w.substr(i, F.lit(size)))
            ),
        )
        return F.array_distinct(F.flatten(per_token))
    raise ValueError(f"unknown shingle kind {kind!r}; expected 'word' or 'char'")


def content_features(cfg: ContentSimilarityConfig, stop: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """(item_id, category_id, tokens) -> (item_id, category_id, features): stop words removed,
    shingled; items left without any feature are dropped (MinHash cannot hash an empty set)."""

    def transform(tokens: DataFrame) -> DataFrame:
        kept = F.col(TOKENS)
        if stop:
            stop_array = F.array(*[F.lit(word) for word in sorted(stop)])
            kept = F.filter(kept, lambda w: ~F.array_contains(stop_array, w))
        features = shingles(kept, cfg.shingle, cfg.shingle_size)
        return tokens.select(ITEM_ID, CATEGORY_ID, features.alias(FEATURES)).where(F.size(FEATURES) > 0)

    return transform
