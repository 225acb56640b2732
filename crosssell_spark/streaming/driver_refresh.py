"""The refresh of one micro-batch's touched users computed on the driver, in pandas and numpy.

Why: a micro-batch touches a bounded set of users (`streaming.max_files_per_trigger` files). The
batch stage's Spark builders (`build_interactions`, `score_interest`, `allowed_user_categories`,
`build_user_lists`) run about 60 small Spark jobs for them, 10-14 s on local[2] whatever the
batch size, which alone breaks the latency goal of the stream. Here the same rules run as a few
vectorised pandas steps over driver-side copies of the signal tables (`DriverTables`, collected
once per published item-factor version): 1-2 s for 1,500 users.

Each function mirrors one batch function, named in its docstring, step by step: the same joins,
the same ordering keys, the same null handling. `test_the_driver_engine_builds_the_rows_the_spark_
builders_build` (tests/integration/test_streaming.py) builds both for the same users under two
rule sets and asserts equal rows; tests/unit/streaming/test_driver_refresh.py checks the ranking
(ties included) and the title words against Spark. `streaming.refresh_engine: spark` keeps the
Spark builders for signal tables too large for the driver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from crosssell_spark.config import CrossSellConfig, InterestConfig, StrategyRules, UserListConfig
from crosssell_spark.crosssell import reasons
from crosssell_spark.crosssell.candidates import (
    AFFINITY,
    ANCHOR_TITLE,
    BASKET,
    EVIDENCE,
    INTEREST,
    NEIGHBOUR,
    POPULAR,
    PRIORITY,
)
from crosssell_spark.crosssell.rules import ANCHOR_PRICE, ITEM_CATEGORY, ITEM_IN_STOCK, ITEM_PRICE
from crosssell_spark.crosssell.rules import SOURCE_PRIORITY as PRIORITY_COL
from crosssell_spark.crosssell.signals import ITEM_TITLE, ITEM_USERS, POPULARITY, POPULARITY_RANK
from crosssell_spark.interest.interactions import SECONDS_PER_DAY
from crosssell_spark.schemas import (
    ALS_SCORE,
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    CATEGORY_A,
    CATEGORY_ID,
    CATEGORY_NAME,
    CO_USERS,
    CONFIDENCE,
    COOCCURRENCE_SCORE,
    EVENT_TS,
    EVENT_TYPE,
    HISTORY_ITEMS,
    INTERACTION_WEIGHT,
    INTEREST_COMPONENT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_NEW_CATEGORY,
    ITEM_A,
    ITEM_B,
    ITEM_ID,
    JACCARD,
    LIFT,
    OBSERVED_SHARE,
    POPULARITY_SCORE,
    RANK,
    REASON,
    REASON_CODES,
    SCORE,
    SCORE_ALS,
    SCORE_CENTROID,
    SCORE_POPULARITY,
    SCORE_SOURCE,
    SOURCE_NAME,
    SUPPORT,
    USER_ID,
)

WORD_SPLIT = re.compile(r"[^\w]+|_+")  # Spark's [^\p{L}\p{N}]+: letters and digits stay, the rest splits


def _local(df: DataFrame) -> pd.DataFrame:
    return cast(pd.DataFrame, df.toPandas())


@dataclass(frozen=True)
class DriverTables:
    """Driver-side copies of the signal tables a refresh reads (`RefreshContext`'s DataFrames)."""

    attributes: pd.DataFrame  # item_id, item_category, item_price, item_in_stock, item_title
    popularity: pd.DataFrame  # item_id, item_category, item_users, popularity, popularity_rank
    similarity: pd.DataFrame  # item_similarity rows
    shares: pd.DataFrame  # item_category, category_share
    names: pd.DataFrame  # item_category, category_name
    category_popularity: pd.DataFrame  # category_id, popularity (share of all interaction weight)
    item_category: pd.DataFrame  # item_id, category_id (at the cross level)

    @classmethod
    def collect(
        cls,
        attributes: DataFrame,
        popularity: DataFrame,
        similarity: DataFrame,
        shares: DataFrame,
        names: DataFrame,
        category_popularity: DataFrame,
        item_category: DataFrame,
    ) -> DriverTables:
        columns = [ITEM_A, ITEM_B, CATEGORY_A, *EVIDENCE]
        return cls(
            attributes=_local(attributes),
            popularity=_local(popularity),
            similarity=_local(similarity.select(*columns)),
            shares=_local(shares),
            names=_local(names),
            category_popularity=_local(category_popularity),
            item_category=_local(item_category),
        )


# --- interest -------------------------------------------------------------------------------------


def interactions_local(cfg: InterestConfig, reference_ts: object, events: pd.DataFrame) -> pd.DataFrame:
    """`interactions.build_interactions`: events (user_id, item_id, event_type, event_ts) ->
    (user_id, item_id, interaction_weight): type weight x recency decay, summed, capped."""
    weight = events[EVENT_TYPE].map({k: float(v) for k, v in cfg.event_weights.items()}).fillna(0.0)
    if cfg.half_life_days is not None:
        age_days = np.maximum((pd.Timestamp(reference_ts) - events[EVENT_TS]).dt.total_seconds() / SECONDS_PER_DAY, 0.0)
        weight = weight * np.power(0.5, age_days / float(cfg.half_life_days))
    weighted = events.assign(_w=weight)[weight > 0]
    summed = weighted.groupby([USER_ID, ITEM_ID], as_index=False)["_w"].sum()
    return summed.assign(**{INTERACTION_WEIGHT: np.minimum(summed["_w"], float(cfg.max_weight))})[
        [USER_ID, ITEM_ID, INTERACTION_WEIGHT]
    ]


def observed_shares(interactions: pd.DataFrame, item_category: pd.DataFrame) -> pd.DataFrame:
    """`category_interest.observed_weights`: (user_id, category_id, observed_share) where users interacted."""
    joined = interactions.merge(item_category, on=ITEM_ID)
    per_category = joined.groupby([USER_ID, CATEGORY_ID], as_index=False)[INTERACTION_WEIGHT].sum()
    total = per_category.groupby(USER_ID)[INTERACTION_WEIGHT].transform("sum")
    return per_category.assign(**{OBSERVED_SHARE: per_category[INTERACTION_WEIGHT] / total})[
        [USER_ID, CATEGORY_ID, OBSERVED_SHARE]
    ]


def score_interest_local(
    cfg: InterestConfig,
    category_popularity: pd.DataFrame,
    observed: pd.DataFrame,
    users: pd.DataFrame,
    als_scores: np.ndarray,
    als_categories: Sequence[str],
    centroid_categories: frozenset[str],
) -> pd.DataFrame:
    """`category_interest.score_interest`: users (user_id, history_items; row n has `als_scores[n]`)
    -> user_category_interest rows (without run columns)."""
    categories = category_popularity[CATEGORY_ID].to_numpy(object)
    n_users, n_categories = len(users), len(categories)
    column = {c: n for n, c in enumerate(als_categories)}
    als_column = np.asarray([column.get(c, -1) for c in categories])
    als = np.where(als_column >= 0, als_scores[:, np.maximum(als_column, 0)], np.nan)  # (users, categories)
    grid = pd.DataFrame(
        {
            USER_ID: np.repeat(users[USER_ID].to_numpy(object), n_categories),
            HISTORY_ITEMS: np.repeat(users[HISTORY_ITEMS].to_numpy(np.int64), n_categories),
            CATEGORY_ID: np.tile(categories, n_users),
            POPULARITY: np.tile(category_popularity[POPULARITY].to_numpy(np.float64), n_users),
            "_als": als.ravel(),
        }
    ).merge(observed, on=[USER_ID, CATEGORY_ID], how="left")
    share = grid[OBSERVED_SHARE].fillna(0.0).to_numpy(np.float64)
    n = grid[HISTORY_ITEMS].to_numpy(np.float64)
    cold = (grid[HISTORY_ITEMS].to_numpy() < cfg.min_user_items) | np.isnan(grid["_als"].to_numpy())
    prior = float(cfg.fallback_prior_items)
    fallback = (n * share + prior * grid[POPULARITY].to_numpy()) / (n + prior)
    raw = np.where(cold, fallback, grid["_als"].to_numpy())
    centroid = grid[CATEGORY_ID].isin(centroid_categories).to_numpy()
    scored = pd.DataFrame(
        {
            USER_ID: grid[USER_ID],
            CATEGORY_ID: grid[CATEGORY_ID],
            "_raw": raw,
            INTEREST_SCORE: np.clip(raw, 0.0, 1.0),
            OBSERVED_SHARE: share,
            IS_NEW_CATEGORY: share == 0,
            SCORE_SOURCE: np.where(cold, SCORE_POPULARITY, np.where(centroid, SCORE_CENTROID, SCORE_ALS)),
            POPULARITY: grid[POPULARITY],
        }
    )
    scored = scored.sort_values(
        [USER_ID, "_raw", POPULARITY, CATEGORY_ID], ascending=[True, False, False, True], kind="stable"
    )
    scored[INTEREST_RANK] = scored.groupby(USER_ID).cumcount().astype(np.int32) + 1
    if cfg.categories_per_user is not None:
        scored = scored[scored[INTEREST_RANK] <= cfg.categories_per_user]
    columns = [USER_ID, CATEGORY_ID, INTEREST_SCORE, OBSERVED_SHARE, IS_NEW_CATEGORY, INTEREST_RANK, SCORE_SOURCE]
    return scored[columns].reset_index(drop=True)


def allowed_categories_local(interest: pd.DataFrame, cfg: UserListConfig) -> pd.DataFrame:
    """`candidates.allowed_user_categories`."""
    ranked = interest.sort_values([USER_ID, OBSERVED_SHARE, CATEGORY_ID], ascending=[True, False, True], kind="stable")
    observed_rank = ranked.groupby(USER_ID).cumcount() + 1
    if cfg.category_rule == "new":
        ranked = ranked[ranked[IS_NEW_CATEGORY]]
    elif cfg.category_rule == "outside_top":
        ranked = ranked[ranked[IS_NEW_CATEGORY] | (observed_rank > cfg.outside_top_n)]
    best = ranked.groupby(USER_ID)[INTEREST_SCORE].transform("max")
    return pd.DataFrame(
        {
            USER_ID: ranked[USER_ID],
            ITEM_CATEGORY: ranked[CATEGORY_ID],
            INTEREST_SCORE: ranked[INTEREST_SCORE],
            INTEREST_COMPONENT: ranked[INTEREST_SCORE] / np.maximum(best, 1e-9),
            IS_NEW_CATEGORY: ranked[IS_NEW_CATEGORY],
            INTEREST_RANK: ranked[INTEREST_RANK],
        }
    ).reset_index(drop=True)


# --- user lists -----------------------------------------------------------------------------------


def _with_source(df: pd.DataFrame, name: str, evidence: bool) -> pd.DataFrame:
    df = df.assign(**{SOURCE_NAME: name, PRIORITY_COL: PRIORITY[name]})
    if not evidence:
        df = df.assign(**{JACCARD: np.nan, CONFIDENCE: np.nan, LIFT: np.nan, CO_USERS: np.nan,
                          IS_CONTENT: False, IS_BEHAVIOURAL: False})  # fmt: skip
    return df


def top_popular_local(popularity: pd.DataFrame, n: int) -> pd.DataFrame:
    """`candidates.top_popular`."""
    return popularity.sort_values([ITEM_USERS, ITEM_ID], ascending=[False, True], kind="stable").head(n)


def user_candidates_local(
    allowed: pd.DataFrame,
    purchases: pd.DataFrame,
    similarity: pd.DataFrame,
    popularity: pd.DataFrame,
    cfg: UserListConfig,
    popular_fallback_items: int,
) -> pd.DataFrame:
    """`candidates.user_candidates`: interest, basket-neighbour and popular candidates."""
    top_interest = (
        allowed.sort_values([USER_ID, INTEREST_RANK, ITEM_CATEGORY], kind="stable")
        .groupby(USER_ID)
        .head(cfg.interest_categories)
    )
    in_category = popularity.loc[popularity[POPULARITY_RANK] <= cfg.items_per_category, [ITEM_ID, ITEM_CATEGORY]]
    by_interest = top_interest[[USER_ID, ITEM_CATEGORY]].merge(in_category, on=ITEM_CATEGORY)[[USER_ID, ITEM_ID]]
    by_interest = _with_source(by_interest.assign(**{ANCHOR_ITEM_ID: None, ANCHOR_CATEGORY: None}), INTEREST, False)
    anchors = (
        purchases.sort_values([USER_ID, EVENT_TS, ITEM_ID], ascending=[True, False, True], kind="stable")
        .groupby(USER_ID)
        .head(cfg.recent_anchors)[[USER_ID, ITEM_ID]]
        .rename(columns={ITEM_ID: ITEM_A})
    )
    basket = anchors.merge(similarity, on=ITEM_A).rename(
        columns={ITEM_B: ITEM_ID, ITEM_A: ANCHOR_ITEM_ID, CATEGORY_A: ANCHOR_CATEGORY}
    )
    by_basket = _with_source(basket, BASKET, True)
    users = allowed[[USER_ID]].drop_duplicates()
    popular = users.merge(top_popular_local(popularity, popular_fallback_items)[[ITEM_ID]], how="cross")
    popular = _with_source(popular.assign(**{ANCHOR_ITEM_ID: None, ANCHOR_CATEGORY: None}), POPULAR, False)
    return pd.concat([by_interest, by_basket, popular], ignore_index=True)


def score_user_candidates_local(
    candidates: pd.DataFrame,
    allowed: pd.DataFrame,
    attributes: pd.DataFrame,
    popularity: pd.DataFrame,
    user_factors: dict[str, np.ndarray],
    item_position: dict[str, int],
    item_factors: np.ndarray,
    cfg: UserListConfig,
) -> pd.DataFrame:
    """`candidates.score_user_candidates`: allowed categories only, components, blend, support."""
    w = cfg.weights
    anchor_attributes = attributes.rename(
        columns={ITEM_ID: ANCHOR_ITEM_ID, ITEM_PRICE: ANCHOR_PRICE, ITEM_TITLE: ANCHOR_TITLE}
    )[[ANCHOR_ITEM_ID, ANCHOR_PRICE, ANCHOR_TITLE]]
    enriched = (
        candidates.merge(attributes, on=ITEM_ID)
        .merge(allowed, on=[USER_ID, ITEM_CATEGORY])
        .merge(anchor_attributes, on=ANCHOR_ITEM_ID, how="left")
        .merge(popularity[[ITEM_ID, POPULARITY, ITEM_USERS]], on=ITEM_ID, how="left")
    )
    # dot(user, item): float products summed in double, as `signals.dot` does; 0 without factors
    rank = item_factors.shape[1]
    users = enriched[USER_ID].map(lambda u: user_factors.get(u)).to_numpy(object)
    positions = enriched[ITEM_ID].map(item_position).to_numpy(np.float64)
    both = np.asarray([u is not None for u in users]) & ~np.isnan(positions)
    preference = np.zeros(len(enriched))
    if both.any():
        u = np.stack(users[both]).astype(np.float32).reshape(-1, rank)
        v = item_factors[positions[both].astype(np.int64)].astype(np.float32)
        preference[both] = (u * v).astype(np.float64).sum(axis=1)
    enriched[ALS_SCORE] = np.clip(preference, 0.0, 1.0)
    enriched[COOCCURRENCE_SCORE] = enriched[CONFIDENCE].astype(np.float64).fillna(0.0)
    enriched[POPULARITY_SCORE] = enriched[POPULARITY].astype(np.float64).fillna(0.0)
    enriched[SCORE] = (
        w.als * enriched[ALS_SCORE]
        + w.interest * enriched[INTEREST_COMPONENT]
        + w.cooccurrence * enriched[COOCCURRENCE_SCORE]
        + w.popularity * enriched[POPULARITY_SCORE]
    )
    source = enriched[SOURCE_NAME]
    enriched[SUPPORT] = (
        enriched[CO_USERS].where(source == BASKET, enriched[ITEM_USERS].where(source == POPULAR)).astype("Int64")
    )
    return enriched.drop(columns=[POPULARITY])


def purchases_within_local(purchases: pd.DataFrame, days: int | None) -> pd.DataFrame:
    """`signals.purchases_within`: (user_id, item_id) bought within `days` of the newest purchase."""
    if days is not None and not purchases.empty:
        newest = purchases[EVENT_TS].max()
        purchases = purchases[purchases[EVENT_TS] >= newest - timedelta(days=days)]
    return purchases[[USER_ID, ITEM_ID]].drop_duplicates()


def _pair_matches(anchor: pd.Series, item: pd.Series, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """`rules.category_pairs`' test, with SQL's null anchor (no anchor) matching only '*'."""
    hit = np.zeros(len(anchor), dtype=bool)
    for a, b in pairs:
        anchor_ok = np.full(len(anchor), a == "*") | (anchor.notna() & (anchor == a)).to_numpy()
        item_ok = np.full(len(item), b == "*") | (item == b).to_numpy()
        hit |= anchor_ok & item_ok
    return hit


def apply_rules_local(key: str, strategy: StrategyRules, k: int, balance: float, shares: pd.DataFrame,
                      scored: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """`stage.apply_rules` without the withheld count: every strategy rule, then `rules.rank_lists`."""
    df = scored[scored[ANCHOR_CATEGORY].isna() | (scored[ITEM_CATEGORY] != scored[ANCHOR_CATEGORY])]
    if strategy.allow_pairs:
        df = df[_pair_matches(df[ANCHOR_CATEGORY], df[ITEM_CATEGORY], strategy.allow_pairs)]
    if strategy.deny_pairs:
        df = df[~_pair_matches(df[ANCHOR_CATEGORY], df[ITEM_CATEGORY], strategy.deny_pairs)]
    if strategy.max_price_ratio is not None:
        df = df[
            df[ITEM_PRICE].isna()
            | df[ANCHOR_PRICE].isna()
            | (df[ITEM_PRICE] <= df[ANCHOR_PRICE] * strategy.max_price_ratio)
        ]
    if strategy.in_stock_only:
        df = df[df[ITEM_IN_STOCK].fillna(False).astype(bool)]
    support = df[SUPPORT]
    df = df[(df[SCORE] >= strategy.min_score) & (support.isna() | (support >= strategy.min_support)).fillna(True)]
    if balance > 0:
        share = df[[ITEM_CATEGORY]].merge(shares, on=ITEM_CATEGORY, how="left")["category_share"].fillna(1.0)
        df = df.assign(**{SCORE: df[SCORE].to_numpy() / np.power(share.to_numpy(), balance)})
    return rank_lists_local(df, key, k, strategy.per_category_cap, strategy.min_distinct_categories,
                            strategy.evidence_first)  # fmt: skip


def rank_lists_local(df: pd.DataFrame, key: str, k: int, per_category_cap: int, min_distinct_categories: int,
                     evidence_first: bool) -> pd.DataFrame:  # fmt: skip
    """`rules.rank_lists`: best row per item, category cap, category openers, then ranks 1..K."""
    df = df.assign(_tier=df[PRIORITY_COL] if evidence_first else 0, _neg=-df[SCORE])
    best = df.sort_values([key, ITEM_ID, "_tier", "_neg", SOURCE_NAME, ANCHOR_ITEM_ID], na_position="last",
                          kind="stable").drop_duplicates([key, ITEM_ID])  # fmt: skip
    ordered = best.sort_values([key, ITEM_CATEGORY, "_tier", "_neg", ITEM_ID], kind="stable")
    ordered["_category_rank"] = ordered.groupby([key, ITEM_CATEGORY]).cumcount() + 1
    capped = ordered[ordered["_category_rank"] <= per_category_cap].copy()
    capped["_leads"] = capped["_category_rank"] == 1
    by_score = capped.sort_values([key, "_tier", "_leads", "_neg", ITEM_ID], kind="stable")
    opener_rank = by_score.groupby([key, "_tier", "_leads"]).cumcount() + 1
    capped["_opens"] = capped["_leads"] & (opener_rank.reindex(capped.index) <= min_distinct_categories)
    final = capped.sort_values([key, "_tier", "_opens", "_neg", ITEM_ID], ascending=[True, True, False, True, True],
                               kind="stable")  # fmt: skip
    final[RANK] = (final.groupby(key).cumcount() + 1).astype(np.int32)
    return final[final[RANK] <= k].drop(columns=["_tier", "_neg", "_category_rank", "_leads", "_opens"])


def _text(value: object) -> str:
    """Java's %s of a value: null prints as 'null'."""
    return "null" if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)


def _count(value: object) -> str:
    """Java's %d of a long: null prints as 'null'."""
    missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
    return "null" if missing else str(int(cast(int, value)))


def _words(title: object) -> list[str]:
    return [w for w in WORD_SPLIT.split(str(title).lower()) if len(w) >= 2]


def shared_title_words_local(left: object, right: object) -> str | None:
    """`reasons.shared_title_words` joined by spaces (None when either title is null)."""
    if not isinstance(left, str) or not isinstance(right, str):
        return None
    right_words = set(_words(right))
    shared = list(dict.fromkeys(w for w in _words(left) if w in right_words))
    return " ".join(shared[: reasons.MAX_SHARED_TOKENS])


def explain_local(ranked: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """`reasons.explain`: reason codes and the sentence, row by row (at most K rows per user)."""
    name = dict(zip(names[ITEM_CATEGORY], names[CATEGORY_NAME], strict=True))
    codes_column, sentences_column = [], []
    for row in ranked.itertuples(index=False):
        r = row._asdict()
        source = r[SOURCE_NAME]
        has_anchor = source in (NEIGHBOUR, BASKET)
        together, alike = has_anchor and bool(r[IS_BEHAVIOURAL]), has_anchor and bool(r[IS_CONTENT])
        new_category = bool(r.get(IS_NEW_CATEGORY)) if r.get(IS_NEW_CATEGORY) is not None else False
        anchor_title = r[ANCHOR_TITLE]
        anchor = anchor_title
        if source == BASKET:
            anchor = "your " + anchor_title if isinstance(anchor_title, str) else None
        shared = shared_title_words_local(anchor_title, r[ITEM_TITLE])
        item_name = name.get(r[ITEM_CATEGORY])
        sentences = [
            f"bought together with {_text(anchor)} by {_count(r[CO_USERS])} shoppers" if together else None,
            f"matches '{shared}' of {_text(anchor)}" if alike and shared else None,
            f"looks related to {_text(anchor)}" if alike and shared == "" else None,
            f"{_text(name.get(r[ANCHOR_CATEGORY]))} shoppers often buy {_text(item_name)}"
            if source == AFFINITY
            else None,
            f"you like {_text(item_name)}" if source == INTEREST else None,
            "a category new to you" if new_category else None,
            f"popular in {_text(item_name)}" if source == POPULAR else None,
        ]
        codes = [
            (together, reasons.BOUGHT_TOGETHER),
            (alike, reasons.SIMILAR_CONTENT),
            (source == AFFINITY, reasons.CATEGORY_AFFINITY),
            (source == INTEREST, reasons.USER_INTEREST),
            (new_category, reasons.NEW_CATEGORY),
            (source == POPULAR, reasons.POPULAR_IN_CATEGORY),
        ]
        codes_column.append([code for hit, code in codes if hit])
        sentences_column.append("; ".join(s for s in sentences if s is not None))
    return ranked.assign(**{REASON_CODES: codes_column, REASON: sentences_column})


def build_user_lists_local(
    cs: CrossSellConfig,
    allowed: pd.DataFrame,
    purchases: pd.DataFrame,
    tables: DriverTables,
    user_factors: dict[str, np.ndarray],
    item_position: dict[str, int],
    item_factors: np.ndarray,
) -> pd.DataFrame:
    """`stage.build_user_lists` for the users in `allowed`.

    Args:
        purchases: user_id, item_id, event_ts of the users' purchase events.
    """
    candidates = user_candidates_local(
        allowed, purchases, tables.similarity, tables.popularity, cs.user, cs.item.popular_fallback_items
    )
    scored = score_user_candidates_local(
        candidates, allowed, tables.attributes, tables.popularity, user_factors, item_position, item_factors, cs.user
    )
    owned = purchases_within_local(purchases, cs.rules.exclude_owned_days)
    kept = scored.merge(owned.assign(_owned=True), on=[USER_ID, ITEM_ID], how="left")
    kept = kept[kept["_owned"].isna()].drop(columns=["_owned"])
    ranked = apply_rules_local(USER_ID, cs.rules, cs.k, cs.balance_strength, tables.shares, kept)
    explained = explain_local(ranked.reset_index(drop=True), tables.names)
    explained[IS_NEW_CATEGORY] = explained[IS_NEW_CATEGORY].fillna(False).astype(bool)
    return explained
