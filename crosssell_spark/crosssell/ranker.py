"""The learnt ranker's scoring side, written once for batch and streaming: features of a candidate
frame and a LightGBM booster that turns them into a score in (0, 1).

`lists.finish` calls `Ranker.score` instead of the configured blend when a ranker is in play, so the
batch stage (through `mapInPandas`) and the streaming refresh (on the driver) score identically.
Training lives in `crosssell_spark.ranking`; this module only knows a candidate frame's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from crosssell_spark.schemas import (
    AFFINITY,
    ALS_NEIGHBOUR,
    ALS_SCORE,
    ANCHOR_PRICE,
    BASKET,
    BASKET_SHARE,
    BASKETS_PER_BUYER,
    CATEGORY_AFFINITY_SCORE,
    CATEGORY_CONFIDENCE,
    CATEGORY_USERS,
    CO_USERS,
    CONTENT_SCORE,
    COOCCURRENCE_SCORE,
    INTEREST,
    INTEREST_COMPONENT,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_SEMANTIC,
    ITEM_ID,
    ITEM_PRICE,
    ITEM_USERS,
    LIFT_SCORE,
    NEIGHBOUR,
    POPULAR,
    POPULARITY_SCORE,
    SEMANTIC_NEIGHBOUR,
    SEMANTIC_SCORE,
    SOURCE_NAME,
)

# Feature name -> how it is read off a candidate frame (a missing column gives NaN, which the trees
# route on their own). Counts enter as log1p; flags as 0/1; an item's basket share and baskets per buyer
# (how often shoppers come back for it) as they are. The source flags say which sources found
# the (list key, item), over all its rows, and `sources` how many: agreement between sources is evidence.
_PLAIN = (CONTENT_SCORE, SEMANTIC_SCORE, COOCCURRENCE_SCORE, LIFT_SCORE, CATEGORY_AFFINITY_SCORE, CATEGORY_CONFIDENCE,
          ALS_SCORE, POPULARITY_SCORE, INTEREST_COMPONENT, BASKET_SHARE, BASKETS_PER_BUYER)  # fmt: skip
_COUNTS = (ITEM_USERS, CO_USERS, CATEGORY_USERS)
_FLAGS = (IS_CONTENT, IS_BEHAVIOURAL, IS_SEMANTIC)
_SOURCES = (NEIGHBOUR, BASKET, SEMANTIC_NEIGHBOUR, ALS_NEIGHBOUR, AFFINITY, INTEREST, POPULAR)
PRICE_RATIO = "price_ratio"
SOURCES_FOUND = "sources"
FOUND_BY = tuple(f"found_by_{s}" for s in _SOURCES)
FEATURES: tuple[str, ...] = (
    *_PLAIN,
    *(f"log_{c}" for c in _COUNTS),
    *_FLAGS,
    *FOUND_BY,
    SOURCES_FOUND,
    PRICE_RATIO,
)

# Features by the signal they carry (the ablation of `ranking.training.ablation` drops one group at a time).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "content": (CONTENT_SCORE, IS_CONTENT),
    "semantic": (SEMANTIC_SCORE, IS_SEMANTIC),
    "co-purchase": (COOCCURRENCE_SCORE, LIFT_SCORE, f"log_{CO_USERS}", IS_BEHAVIOURAL),
    "category affinity": (CATEGORY_AFFINITY_SCORE, CATEGORY_CONFIDENCE, f"log_{CATEGORY_USERS}"),
    "als": (ALS_SCORE,),
    "popularity": (POPULARITY_SCORE, f"log_{ITEM_USERS}"),
    "baskets": (BASKET_SHARE, BASKETS_PER_BUYER),
    "interest": (INTEREST_COMPONENT,),
    "source": (*FOUND_BY, SOURCES_FOUND),
    "price": (PRICE_RATIO,),
}


def _column(candidates: pd.DataFrame, name: str) -> np.ndarray:
    if name not in candidates:
        return np.full(len(candidates), np.nan)
    return pd.to_numeric(candidates[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _found_by(candidates: pd.DataFrame, key: str) -> np.ndarray:
    """(rows, len(_SOURCES)) 0/1: which sources hold a row for the row's (key, item)."""
    if SOURCE_NAME not in candidates or candidates.empty:
        return np.zeros((len(candidates), len(_SOURCES)))
    source = candidates[SOURCE_NAME].to_numpy(dtype=object)
    onehot = pd.DataFrame({s: (source == s).astype(np.float64) for s in _SOURCES}, index=candidates.index)
    pair = [candidates[key].to_numpy(dtype=object), candidates[ITEM_ID].to_numpy(dtype=object)]
    return onehot.groupby(pair, dropna=False, sort=False).transform("max").to_numpy(np.float64)


def feature_matrix(candidates: pd.DataFrame, key: str, hidden: tuple[str, ...] = ()) -> np.ndarray:
    """(rows, len(FEATURES)) float64 matrix of a candidate frame whose lists are keyed by `key`, in
    `FEATURES` order; `hidden` features are all missing (an ablation)."""
    columns = [_column(candidates, c) for c in _PLAIN]
    columns += [np.log1p(np.nan_to_num(_column(candidates, c), nan=0.0)) for c in _COUNTS]
    columns += [
        candidates[c].astype("boolean").fillna(False).to_numpy(dtype=np.float64)
        if c in candidates
        else np.zeros(len(candidates))
        for c in _FLAGS
    ]
    found = _found_by(candidates, key)
    columns += [*found.T, found.sum(axis=1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _column(candidates, ITEM_PRICE) / _column(candidates, ANCHOR_PRICE)
    columns.append(np.where(np.isfinite(ratio), ratio, np.nan))
    matrix = np.column_stack(columns)
    matrix[:, [FEATURES.index(name) for name in hidden]] = np.nan
    return matrix


@dataclass(frozen=True)
class RankerParams:
    """LightGBM settings of a fit (config `crosssell.ranker.model`)."""

    num_trees: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 50
    seed: int = 0
    objective: str = "lambdarank"  # lambdarank: orders each list's candidates (NDCG); binary: P(taken) per row

    def lightgbm(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbosity": -1,
        }


@dataclass
class Ranker:
    """A fitted booster and the feature names it was fitted on (a text model, stored in ranker_runs)."""

    model_text: str
    features: tuple[str, ...] = FEATURES
    _booster: lgb.Booster | None = field(default=None, repr=False, compare=False)

    @property
    def booster(self) -> lgb.Booster:
        if self._booster is None:
            self._booster = lgb.Booster(model_str=self.model_text)
        return self._booster

    def __getstate__(self) -> dict[str, Any]:  # ship the text to Spark workers, not the C++ handle
        return {"model_text": self.model_text, "features": self.features, "_booster": None}

    @property
    def compatible(self) -> bool:
        """Whether this code computes the features the model was fitted on."""
        return self.features == FEATURES and self.booster.feature_name() == list(FEATURES)

    def score(self, candidates: pd.DataFrame, key: str, hidden: tuple[str, ...] = ()) -> np.ndarray:
        """Every row's score in (0, 1): the model's raw output through the logistic function (a
        probability for the binary objective, an order-preserving squash for lambdarank)."""
        if candidates.empty:
            return np.zeros(0)
        if not self.compatible:
            raise ValueError(f"ranker fitted on features {self.booster.feature_name()}, this code computes {FEATURES}")
        raw = self.booster.predict(feature_matrix(candidates, key, hidden), raw_score=True, num_threads=1)
        return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64))), dtype=np.float64)

    def importances(self) -> dict[str, float]:
        """Total gain of each feature's splits, as a share of all gain."""
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        return {name: round(float(g) / total, 6) for name, g in zip(self.features, gain, strict=True)}

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, keys: np.ndarray, params: RankerParams) -> Ranker:
        """Fit on candidate rows; `keys` (the list each row belongs to) groups them for lambdarank."""
        order = np.argsort(keys, kind="stable")
        _, groups = np.unique(keys[order], return_counts=True)
        data = lgb.Dataset(
            features[order], label=labels[order], group=groups if params.objective == "lambdarank" else None,
            feature_name=list(FEATURES), free_raw_data=True,
        )  # fmt: skip
        booster = lgb.train(params.lightgbm(), data, num_boost_round=params.num_trees)
        return cls(booster.model_to_string(), FEATURES, booster)
