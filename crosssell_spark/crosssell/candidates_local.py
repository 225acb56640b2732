"""User-list candidates and score components on the driver, in pandas: the sibling of `candidates.py`.

The streaming refresh lists a bounded set of touched users per micro-batch; their candidates are
built here from driver copies of the signal tables in a few vectorised steps instead of ~60 small
Spark jobs. Each function matches its Spark sibling (named in its docstring) row for row: the same
joins, ordering keys and null handling. `tests/unit/crosssell/test_engine_parity.py` runs one test
body against both engines.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from crosssell_spark.config import UserListConfig
from crosssell_spark.crosssell.candidates import CANDIDATE_COLUMNS, EVIDENCE, POPULARITY_COLUMNS
from crosssell_spark.crosssell.lists import PRIORITY
from crosssell_spark.crosssell.signals import sequential_dot
from crosssell_spark.schemas import (
    ALS_SCORE,
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    ANCHOR_PRICE,
    ANCHOR_TITLE,
    BASKET,
    BASKET_SHARE,
    BASKETS_PER_BUYER,
    CATEGORY_A,
    CATEGORY_ID,
    CONFIDENCE,
    COOCCURRENCE_SCORE,
    EVENT_TS,
    INTEREST,
    INTEREST_COMPONENT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_NEW_CATEGORY,
    IS_OWNED,
    IS_SEMANTIC,
    ITEM_A,
    ITEM_B,
    ITEM_CATEGORY,
    ITEM_ID,
    ITEM_PRICE,
    ITEM_TITLE,
    ITEM_USERS,
    OBSERVED_SHARE,
    POPULAR,
    POPULARITY,
    POPULARITY_RANK,
    POPULARITY_SCORE,
    SEMANTIC,
    SEMANTIC_SCORE,
    SOURCE_NAME,
    SOURCE_PRIORITY,
    USER_ID,
)

FLAGS = (IS_CONTENT, IS_BEHAVIOURAL, IS_SEMANTIC)
NO_EVIDENCE = {name: (False if name in FLAGS else np.nan) for name in EVIDENCE}


def allowed_user_categories_local(interest: pd.DataFrame, cfg: UserListConfig) -> pd.DataFrame:
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


def _with_source(df: pd.DataFrame, name: str, evidence: bool) -> pd.DataFrame:
    df = df.assign(**{SOURCE_NAME: name, SOURCE_PRIORITY: PRIORITY[name]})
    return df if evidence else df.assign(**NO_EVIDENCE)


def eligible_popular_local(allowed: pd.DataFrame, popularity: pd.DataFrame, per_category: int, n: int) -> pd.DataFrame:
    """`candidates.eligible_popular`."""
    in_category = popularity.loc[popularity[POPULARITY_RANK] <= per_category, [ITEM_ID, ITEM_CATEGORY, ITEM_USERS]]
    pooled = allowed[[USER_ID, ITEM_CATEGORY]].merge(in_category, on=ITEM_CATEGORY)
    pooled = pooled.sort_values([USER_ID, ITEM_USERS, ITEM_ID], ascending=[True, False, True], kind="stable")
    return pooled.groupby(USER_ID).head(n)[[USER_ID, ITEM_ID]].reset_index(drop=True)


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
    basket[IS_SEMANTIC] = basket[IS_SEMANTIC].astype("boolean").fillna(False).to_numpy(dtype=bool)
    by_basket = _with_source(basket, BASKET, True)
    popular = eligible_popular_local(allowed, popularity, cfg.items_per_category, popular_fallback_items)
    popular = _with_source(popular.assign(**{ANCHOR_ITEM_ID: None, ANCHOR_CATEGORY: None}), POPULAR, False)
    if len(by_basket):  # the other sources' all-missing evidence in the evidence's dtypes (pandas will stop
        # ignoring all-missing columns when it picks a concatenation's dtypes): co_users stays Int64
        evidence = {c: by_basket[c].dtype for c in NO_EVIDENCE}
        by_interest, popular = by_interest.astype(evidence), popular.astype(evidence)
    return _stack([by_interest, by_basket, popular], [ANCHOR_ITEM_ID, ANCHOR_CATEGORY])


def _stack(parts: list[pd.DataFrame], objects: list[str]) -> pd.DataFrame:
    """`pd.concat(parts, ignore_index=True)`, with the `objects` columns (all None in some parts)
    joined as object arrays: pandas would test every value of an all-None part (0.5 s a batch of
    2,400 users' candidates)."""
    columns = list(dict.fromkeys(c for part in parts for c in part.columns))
    stacked = pd.concat([part.drop(columns=objects) for part in parts], ignore_index=True)
    for column in objects:
        stacked[column] = np.concatenate([part[column].to_numpy(dtype=object) for part in parts])
    return stacked[columns]


def purchases_within_local(purchases: pd.DataFrame, days: int | None) -> pd.DataFrame:
    """`signals.purchases_within`: (user_id, item_id) bought within `days` of the newest purchase."""
    if days is not None and not purchases.empty:
        newest = purchases[EVENT_TS].max()
        purchases = purchases[purchases[EVENT_TS] >= newest - timedelta(days=days)]
    return purchases[[USER_ID, ITEM_ID]].drop_duplicates()


def user_candidate_features_local(
    candidates: pd.DataFrame,
    allowed: pd.DataFrame,
    attributes: pd.DataFrame,
    popularity: pd.DataFrame,
    user_factors: dict[str, np.ndarray],
    item_position: dict[str, int],
    item_factors: np.ndarray,
    owned: pd.DataFrame,
) -> pd.DataFrame:
    """`candidates.user_candidate_features`: allowed categories only, attributes, components, owned flag."""
    anchor_attributes = attributes.rename(
        columns={ITEM_ID: ANCHOR_ITEM_ID, ITEM_PRICE: ANCHOR_PRICE, ITEM_TITLE: ANCHOR_TITLE}
    )[[ANCHOR_ITEM_ID, ANCHOR_PRICE, ANCHOR_TITLE]]
    enriched = (
        candidates.merge(attributes, on=ITEM_ID)
        .merge(allowed, on=[USER_ID, ITEM_CATEGORY])
        .merge(anchor_attributes, on=ANCHOR_ITEM_ID, how="left")
        .merge(popularity[[ITEM_ID, *POPULARITY_COLUMNS]], on=ITEM_ID, how="left")
        .merge(owned[[USER_ID, ITEM_ID]].assign(**{IS_OWNED: True}), on=[USER_ID, ITEM_ID], how="left")
    )
    # dot(user, item), bit for bit as `signals.dot` computes it in Spark; 0 without factors
    rank = item_factors.shape[1]
    user_codes, user_names = pd.factorize(enriched[USER_ID])  # one lookup per user, not per row
    folded = np.asarray([u in user_factors for u in user_names], dtype=bool)
    user_matrix = np.zeros((len(user_names), rank), dtype=np.float32)
    if folded.any():
        user_matrix[folded] = np.stack([user_factors[u] for u in user_names[folded]]).astype(np.float32)
    factor_rows = pd.Series(item_position, dtype=np.int64)
    positions = factor_rows.index.get_indexer(enriched[ITEM_ID])  # -1: no factors
    both = (user_codes >= 0) & folded[np.maximum(user_codes, 0)] & (positions >= 0)
    preference = np.zeros(len(enriched))
    if both.any():
        u = user_matrix[user_codes[both]]
        v = item_factors[factor_rows.to_numpy()[positions[both]]].astype(np.float32)
        preference[both] = sequential_dot(u, v)
    enriched[IS_OWNED] = enriched[IS_OWNED].astype("boolean").fillna(False).to_numpy(dtype=bool)
    enriched[ALS_SCORE] = np.clip(preference, 0.0, 1.0)
    enriched[SEMANTIC_SCORE] = enriched[SEMANTIC].astype(np.float64).fillna(0.0)
    enriched[COOCCURRENCE_SCORE] = enriched[CONFIDENCE].astype(np.float64).fillna(0.0)
    enriched[POPULARITY_SCORE] = enriched[POPULARITY].astype(np.float64).fillna(0.0)
    columns = [USER_ID, *CANDIDATE_COLUMNS, INTEREST_SCORE, IS_NEW_CATEGORY, INTEREST_RANK, BASKET_SHARE,
               BASKETS_PER_BUYER, IS_OWNED, ALS_SCORE,
               INTEREST_COMPONENT, SEMANTIC_SCORE, COOCCURRENCE_SCORE, POPULARITY_SCORE]  # fmt: skip
    return enriched[columns]
