"""The per-key tail of list building, written once: score, support, strategy rules, rank, reasons.

Both engines hand this module one candidate frame (pandas): a row per (list key, item, source,
anchor) with the item's and anchor's attributes, the pair evidence and the score components
(`candidates.py` builds it in Spark, `candidates_local.py` on the driver). `finish` turns it into
ranked, explained list rows. The batch stage runs it on chunks of whole keys through
`mapInPandas` (`finish_in_spark`); the streaming refresh calls it directly. So every
rule, the ranking and every reason sentence exist once.

Blend (every component in [0, 1], weights in config `crosssell.item.weights` / `.user.weights`):
    item score = content·jaccard + semantic·cosine + cooccurrence·confidence + lift·(1 - 1/lift) +
                 category_affinity·(1 - 1/category lift) + als·cos(item factors) + popularity·pop
    user score = als·clip(user·item factors) + interest·(category interest / user's best) +
                 cooccurrence·confidence(recent purchase -> item) + popularity·pop
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from crosssell_spark.config import CrossSellConfig, StrategyRules
from crosssell_spark.crosssell.ranker import Ranker
from crosssell_spark.schemas import (
    AFFINITY,
    ALS_NEIGHBOUR,
    ALS_SCORE,
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    ANCHOR_PRICE,
    ANCHOR_TITLE,
    BASKET,
    CATEGORY_AFFINITY_SCORE,
    CATEGORY_NAME,
    CATEGORY_SHARE,
    CATEGORY_USERS,
    CO_USERS,
    CONTENT_SCORE,
    COOCCURRENCE_SCORE,
    INTEREST,
    INTEREST_COMPONENT,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_NEW_CATEGORY,
    IS_OWNED,
    IS_SEMANTIC,
    ITEM_CATEGORY,
    ITEM_ID,
    ITEM_IN_STOCK,
    ITEM_PRICE,
    ITEM_TITLE,
    ITEM_USERS,
    LIFT_SCORE,
    NEIGHBOUR,
    POPULAR,
    POPULARITY_SCORE,
    RANK,
    REASON,
    REASON_CODES,
    SCORE,
    SEMANTIC_NEIGHBOUR,
    SEMANTIC_SCORE,
    SOURCE_NAME,
    SOURCE_PRIORITY,
    SUPPORT,
    USER_ID,
)

# Evidence tiers (the configured weights with `evidence_first`): pair evidence and the user's interest
# first, then ALS neighbours and category affinity, then items only related in meaning (semantic
# neighbours: no shopper backs them, so they come after every behavioural signal and before popularity).
PRIORITY = {NEIGHBOUR: 1, BASKET: 1, INTEREST: 1, ALS_NEIGHBOUR: 2, AFFINITY: 2, SEMANTIC_NEIGHBOUR: 3, POPULAR: 4}
# When several sources found an item with one score, its slot (and reason) goes to the most specific.
SPECIFICITY = {
    s: i for i, s in enumerate((NEIGHBOUR, BASKET, SEMANTIC_NEIGHBOUR, ALS_NEIGHBOUR, INTEREST, AFFINITY, POPULAR))
}
# The crowd behind each source's evidence (the minimum-crowd rule reads it; interest has none).
SUPPORT_OF = {NEIGHBOUR: CO_USERS, BASKET: CO_USERS, AFFINITY: CATEGORY_USERS, POPULAR: ITEM_USERS}

# Reason codes, each with its sentence ({anchor}: the anchor's title, "your <title>" for a user's purchase).
BOUGHT_TOGETHER = "BOUGHT_TOGETHER"
SIMILAR_CONTENT = "SIMILAR_CONTENT"
CATEGORY_AFFINITY = "CATEGORY_AFFINITY"
USER_INTEREST = "USER_INTEREST"
NEW_CATEGORY = "NEW_CATEGORY"
POPULAR_IN_CATEGORY = "POPULAR_IN_CATEGORY"
SAME_SHOPPERS = "SAME_SHOPPERS"
RELATED_MEANING = "RELATED_MEANING"
BOUGHT_TOGETHER_TEXT = "bought together with {anchor} by {shoppers} shoppers"
SHARED_WORDS_TEXT = "matches '{words}' of {anchor}"
LOOKS_RELATED_TEXT = "looks related to {anchor}"
RELATED_MEANING_TEXT = "related to {anchor}"
CATEGORY_AFFINITY_TEXT = "{anchor_category} shoppers often buy {category}"
USER_INTEREST_TEXT = "you like {category}"
NEW_CATEGORY_TEXT = "a category new to you"
POPULAR_TEXT = "popular in {category}"
SAME_SHOPPERS_TEXT = "bought by shoppers whose tastes match those who buy {anchor}"
MAX_SHARED_WORDS = 3
WORD_SPLIT = re.compile(r"[^\w]+|_+")  # letters and digits stay, everything else splits

# What scores a list: the learnt ranker, the configured weights, or popularity alone (the ranker
# stage's guard picks one per list kind and run).
LEARNT, CONFIGURED, POPULARITY_ONLY = "learnt", "configured", "popularity"
SCORERS = (LEARNT, CONFIGURED, POPULARITY_ONLY)

WITHHELD = "withheld"  # candidates kept back by the minimum crowd (min_support), counted per run


@dataclass(frozen=True)
class ListSpec:
    """What shapes one kind of list: its key, length, rules, category balance and blend weights."""

    key: str  # ANCHOR_ITEM_ID (item lists) or USER_ID (user lists)
    k: int
    rules: StrategyRules
    balance: float
    weights: tuple[tuple[str, float], ...]  # (component column, weight), in the blend's order
    ranker: Ranker | None = None  # a learnt ranker scores instead of the weights (and ranks by score alone)

    @classmethod
    def items(cls, cs: CrossSellConfig) -> ListSpec:
        w = cs.item.weights
        weights = (
            (CONTENT_SCORE, w.content),
            (SEMANTIC_SCORE, w.semantic),
            (COOCCURRENCE_SCORE, w.cooccurrence),
            (LIFT_SCORE, w.lift),
            (CATEGORY_AFFINITY_SCORE, w.category_affinity),
            (ALS_SCORE, w.als),
            (POPULARITY_SCORE, w.popularity),
        )
        return cls(ANCHOR_ITEM_ID, cs.k, cs.rules, cs.balance_strength, weights)

    @classmethod
    def users(cls, cs: CrossSellConfig) -> ListSpec:
        w = cs.user.weights
        weights = (
            (ALS_SCORE, w.als),
            (INTEREST_COMPONENT, w.interest),
            (COOCCURRENCE_SCORE, w.cooccurrence),
            (POPULARITY_SCORE, w.popularity),
        )
        return cls(USER_ID, cs.k, cs.rules, cs.balance_strength, weights)

    def scored_by(self, scorer: str, ranker: Ranker | None = None) -> ListSpec:
        """This spec scored by `scorer`: LEARNT (`ranker`), CONFIGURED (the weights) or POPULARITY alone."""
        if scorer == LEARNT:
            if ranker is None:
                raise ValueError("a learnt scorer needs its ranker")
            return replace(self, ranker=ranker)
        if scorer == POPULARITY_ONLY:  # popularity alone, not tiered by evidence
            rules = self.rules.model_copy(update={"evidence_first": False})
            return replace(self, weights=((POPULARITY_SCORE, 1.0),), ranker=None, rules=rules)
        if scorer == CONFIGURED:
            return replace(self, ranker=None)
        raise ValueError(f"unknown scorer {scorer!r}; known: {SCORERS}")

    def rank(self, scored: pd.DataFrame) -> pd.DataFrame:
        """`rank_lists` of candidates with a `score` under this spec's rules; the evidence tiers order
        only the configured weights (a learnt score already weighs the evidence)."""
        r = self.rules
        tiers = r.evidence_first and self.ranker is None
        return rank_lists(scored, self.key, self.k, r.per_category_cap, r.min_distinct_categories, tiers)


# --- score and support ----------------------------------------------------------------------------


def blend(candidates: pd.DataFrame, weights: Sequence[tuple[str, float]]) -> pd.Series:
    """The weighted sum of the score components, summed in the configured order."""
    total = pd.Series(0.0, index=candidates.index)
    for n, (column, weight) in enumerate(weights):
        term = weight * candidates[column].astype(np.float64)
        total = term if n == 0 else total + term
    return total


def support(candidates: pd.DataFrame) -> pd.Series:
    """Distinct shoppers behind each row's evidence (`SUPPORT_OF`); missing for interest picks."""
    out = pd.Series(np.nan, index=candidates.index)
    for source, column in SUPPORT_OF.items():
        if column in candidates:
            hit = (candidates[SOURCE_NAME] == source).to_numpy()
            out[hit] = candidates.loc[hit, column].astype(np.float64)
    return out


# --- strategy rules -------------------------------------------------------------------------------


def pair_matches(anchor: pd.Series, item: pd.Series, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Rows whose (anchor category, item category) matches a pair; '*' matches any, and a missing
    anchor category (user lists) matches only '*'."""
    hit = np.zeros(len(anchor), dtype=bool)
    for a, b in pairs:
        anchor_ok = np.full(len(anchor), a == "*") | (anchor.notna() & (anchor == a)).to_numpy()
        item_ok = np.full(len(item), b == "*") | (item.notna() & (item == b)).to_numpy()
        hit |= anchor_ok & item_ok
    return hit


def _flag(values: pd.Series) -> np.ndarray:
    """A nullable boolean column as a mask, missing = False."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)


def apply_rules(
    df: pd.DataFrame, rules: StrategyRules, balance: float, shares: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Every strategy rule in a fixed order; also how many candidates the minimum crowd withheld."""
    if IS_OWNED in df:
        df = df[~_flag(df[IS_OWNED])]
    anchor, item = df[ANCHOR_CATEGORY], df[ITEM_CATEGORY]
    df = df[(anchor.isna() | (item.notna() & (item != anchor))).to_numpy()]  # other categories only
    if rules.allow_pairs:
        df = df[pair_matches(df[ANCHOR_CATEGORY], df[ITEM_CATEGORY], rules.allow_pairs)]
    if rules.deny_pairs:
        df = df[~pair_matches(df[ANCHOR_CATEGORY], df[ITEM_CATEGORY], rules.deny_pairs)]
    if rules.max_price_ratio is not None:
        price, anchor_price = df[ITEM_PRICE], df[ANCHOR_PRICE]
        df = df[(price.isna() | anchor_price.isna() | (price <= anchor_price * rules.max_price_ratio)).to_numpy()]
    if rules.in_stock_only:
        df = df[_flag(df[ITEM_IN_STOCK])]
    crowd = df[SUPPORT]
    below_crowd = (crowd.notna() & (crowd < rules.min_support)).to_numpy()
    df = df[(df[SCORE] >= rules.min_score).to_numpy() & ~below_crowd]
    if balance > 0:
        share = df[[ITEM_CATEGORY]].merge(shares, on=ITEM_CATEGORY, how="left")[CATEGORY_SHARE].fillna(1.0)
        df = df.assign(**{SCORE: df[SCORE].to_numpy() / np.power(share.to_numpy(), balance)})
    return df, int(below_crowd.sum())


def rank_lists(
    df: pd.DataFrame, key: str, k: int, per_category_cap: int | None, min_distinct_categories: int, evidence_first: bool
) -> pd.DataFrame:
    """Ranks 1..K per key: with `evidence_first`, better evidence (lower `source_priority`) first,
    else the score alone; within one evidence tier, the leading items of its
    `min_distinct_categories` best categories open the list, then the rest by score; at most
    `per_category_cap` items of one category (None: no cap). One row per item: its best evidence,
    then score; equal ones are settled by the most specific source (`SPECIFICITY`), then anchor, so
    reruns pick the same row."""
    anchor = [ANCHOR_ITEM_ID] if key != ANCHOR_ITEM_ID else []
    # the ranking sorts a narrow frame of the columns it reads; the chosen rows are taken from `df` once
    narrow = df[[key, ITEM_ID, ITEM_CATEGORY, *anchor]].assign(
        _tier=df[SOURCE_PRIORITY] if evidence_first else 0, _neg=-df[SCORE],
        _specific=df[SOURCE_NAME].map(SPECIFICITY), _row=np.arange(len(df)),
    ).reset_index(drop=True)  # fmt: skip
    by = [key, ITEM_ID, "_tier", "_neg", "_specific", *anchor]
    best = narrow.sort_values(by, na_position="last", kind="stable").drop_duplicates([key, ITEM_ID])
    ordered = best.sort_values([key, ITEM_CATEGORY, "_tier", "_neg", ITEM_ID], kind="stable")
    ordered["_category_rank"] = ordered.groupby([key, ITEM_CATEGORY]).cumcount() + 1
    cap = k if per_category_cap is None else per_category_cap
    capped = ordered[ordered["_category_rank"] <= cap].copy()
    capped["_leads"] = capped["_category_rank"] == 1
    by_score = capped.sort_values([key, "_tier", "_leads", "_neg", ITEM_ID], kind="stable")
    opener_rank = by_score.groupby([key, "_tier", "_leads"]).cumcount() + 1
    capped["_opens"] = capped["_leads"] & (opener_rank.reindex(capped.index) <= min_distinct_categories)
    final = capped.sort_values(
        [key, "_tier", "_opens", "_neg", ITEM_ID], ascending=[True, True, False, True, True], kind="stable"
    )
    rank = (final.groupby(key).cumcount() + 1).astype(np.int32)
    kept = (rank <= k).to_numpy()
    return df.iloc[final["_row"].to_numpy()[kept]].assign(**{RANK: rank.to_numpy()[kept]})


# --- reasons --------------------------------------------------------------------------------------


def _words(title: str) -> list[str]:
    return [w for w in WORD_SPLIT.split(title.lower()) if len(w) >= 2]


def shared_title_words(left: object, right: object) -> str | None:
    """Up to three words (2+ characters) both titles contain, lower-cased, in the left title's order,
    joined by spaces; None when either title is missing."""
    if not isinstance(left, str) or not isinstance(right, str):
        return None
    right_words = set(_words(right))
    shared = list(dict.fromkeys(w for w in _words(left) if w in right_words))
    return " ".join(shared[:MAX_SHARED_WORDS])


def _is_true(value: object) -> bool:
    """A flag read from a row: missing (None, NaN, NA) is false."""
    return isinstance(value, bool | np.bool_) and bool(value)


def _sentences(row: dict[str, object], category_name: dict[object, str]) -> tuple[list[str], str]:
    """(reason codes, reason sentence) of one list row."""
    source = row[SOURCE_NAME]
    has_anchor = source in (NEIGHBOUR, BASKET, SEMANTIC_NEIGHBOUR)
    together = has_anchor and _is_true(row[IS_BEHAVIOURAL])
    alike = has_anchor and _is_true(row[IS_CONTENT])
    related = has_anchor and not alike and _is_true(row.get(IS_SEMANTIC))
    new_category = _is_true(row.get(IS_NEW_CATEGORY))
    title = row[ANCHOR_TITLE] if isinstance(row[ANCHOR_TITLE], str) else None
    anchor = f"your {title}" if source == BASKET and title is not None else title
    category = category_name.get(row[ITEM_CATEGORY], str(row[ITEM_CATEGORY]))
    said: list[tuple[str, str | None]] = []
    if together:
        shoppers = int(cast(float, row[CO_USERS]))
        said.append((BOUGHT_TOGETHER, BOUGHT_TOGETHER_TEXT.format(anchor=anchor, shoppers=shoppers)))
    if alike:
        words = shared_title_words(title, row[ITEM_TITLE])
        if words:
            text: str | None = SHARED_WORDS_TEXT.format(words=words, anchor=anchor)
        elif words == "":
            text = LOOKS_RELATED_TEXT.format(anchor=anchor)
        else:
            text = None  # a title is missing: the code stays, without a sentence
        said.append((SIMILAR_CONTENT, text))
    if related:
        said.append((RELATED_MEANING, RELATED_MEANING_TEXT.format(anchor=anchor or "this item")))
    if source == AFFINITY:
        anchor_category = category_name.get(row[ANCHOR_CATEGORY], str(row[ANCHOR_CATEGORY]))
        said.append(
            (CATEGORY_AFFINITY, CATEGORY_AFFINITY_TEXT.format(anchor_category=anchor_category, category=category))
        )
    if source == ALS_NEIGHBOUR:
        said.append((SAME_SHOPPERS, SAME_SHOPPERS_TEXT.format(anchor=title or "this item")))
    if source == INTEREST:
        said.append((USER_INTEREST, USER_INTEREST_TEXT.format(category=category)))
    if new_category:
        said.append((NEW_CATEGORY, NEW_CATEGORY_TEXT))
    if source == POPULAR:
        said.append((POPULAR_IN_CATEGORY, POPULAR_TEXT.format(category=category)))
    return [code for code, _ in said], "; ".join(text for _, text in said if text is not None)


def explain(ranked: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """Add `reason_codes` and the `reason` sentence from the evidence each row carries.

    Args:
        names: item_category, category_name (a category without a name is shown by its id).
    """
    category_name = dict(zip(names[ITEM_CATEGORY], names[CATEGORY_NAME], strict=True))
    columns = [c for c in (SOURCE_NAME, IS_BEHAVIOURAL, IS_CONTENT, IS_SEMANTIC, IS_NEW_CATEGORY, ANCHOR_TITLE,
                           ITEM_TITLE, CO_USERS, ITEM_CATEGORY, ANCHOR_CATEGORY) if c in ranked]  # fmt: skip
    rows = ranked[columns].to_dict("records")
    explained = [_sentences(row, category_name) for row in rows]
    return ranked.assign(**{REASON_CODES: [codes for codes, _ in explained], REASON: [text for _, text in explained]})


# --- the tail -------------------------------------------------------------------------------------


def finish(
    candidates: pd.DataFrame, spec: ListSpec, shares: pd.DataFrame, names: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Candidate frame -> (ranked, explained list rows, candidates withheld by the minimum crowd)."""
    score = spec.ranker.score(candidates, spec.key) if spec.ranker is not None else blend(candidates, spec.weights)
    scored = candidates.assign(**{SCORE: score, SUPPORT: support(candidates)})
    kept, withheld = apply_rules(scored, spec.rules, spec.balance, shares)
    explained = explain(spec.rank(kept).reset_index(drop=True), names)
    if IS_NEW_CATEGORY in explained:
        explained[IS_NEW_CATEGORY] = _flag(explained[IS_NEW_CATEGORY])
    return explained, withheld


def to_rows(lists: pd.DataFrame, schema: StructType) -> pd.DataFrame:
    """The schema's columns of `lists`, with nullable longs as Python ints or None (for Arrow)."""
    out = lists[[f.name for f in schema.fields]].copy()
    for field in schema.fields:
        if isinstance(field.dataType, LongType):
            out[field.name] = [None if pd.isna(v) else int(v) for v in out[field.name]]
    return out


# Candidate rows (whole keys only) handed to one `finish` call by `finish_in_spark`: what bounds a
# Python worker's memory. One call per hash bucket of keys held a shuffle partition's share of every
# candidate: on the 10M-event world two Python workers held 6.2 GB each and the kernel killed the
# JVM for memory (docs/benchmarks.md).
ROWS_PER_CALL = 200_000


def finish_in_spark(
    candidates: DataFrame,
    spec: ListSpec,
    shares: pd.DataFrame,
    names: pd.DataFrame,
    schema: StructType,
    partitions: int,
) -> DataFrame:
    """`finish` over a Spark candidate frame: its rows are hashed by key into `partitions` and sorted
    by key, and each partition is finished a chunk of about `ROWS_PER_CALL` rows at a time, always
    whole keys. The list rows come in `schema`'s columns plus a `withheld` column, which only one
    extra row per chunk (its key null) carries."""
    out_schema = StructType(
        [StructField(f.name, f.dataType, True) for f in schema.fields] + [StructField(WITHHELD, LongType(), True)]
    )

    def finished(chunk: pd.DataFrame) -> pd.DataFrame:
        lists, withheld = finish(chunk.reset_index(drop=True), spec, shares, names)
        rows = to_rows(lists, schema).astype(object).assign(**{WITHHELD: None})
        count = pd.DataFrame([{**{f.name: None for f in schema.fields}, WITHHELD: withheld}], dtype=object)
        return pd.concat([rows, count], ignore_index=True)

    limit = ROWS_PER_CALL  # read when the plan is built, so a test can lower it

    def run(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        held: list[pd.DataFrame] = []
        size = 0
        for batch in batches:
            held.append(batch)
            size += len(batch)
            if size < limit:
                continue
            rows = pd.concat(held, ignore_index=True)
            keys = rows[spec.key].to_numpy(dtype=object)
            complete = keys != keys[-1]  # sorted by key: only the last key may go on in the next batch
            if complete.any():
                yield finished(rows[complete])
            held, size = [rows[~complete]], int((~complete).sum())
        if size:
            yield finished(pd.concat(held, ignore_index=True))

    by_key = candidates.repartition(partitions, F.col(spec.key)).sortWithinPartitions(spec.key)
    return by_key.mapInPandas(run, out_schema)
