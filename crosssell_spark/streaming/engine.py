"""The seam between a streaming refresh and its engine (`streaming.refresh_engine`): what an engine
is given after fold-in, and what it must do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame


@dataclass(frozen=True)
class FoldedUsers:
    """The touched users after fold-in: what an engine builds their interest and lists from."""

    events: pd.DataFrame  # every events_clean row of the users
    interactions: pd.DataFrame  # user_id, item_id, interaction_weight
    folded: pd.DataFrame  # user_id, features, history_items, user_idx (users with factors)
    als_scores: np.ndarray  # (users, categories) ALS affinity, rows in `folded` order
    als_categories: list[str]  # the categories of `als_scores`' columns
    centroid_categories: frozenset[str]  # categories scored by their items' centroid
    user_factors: DataFrame  # user_factors rows of `folded`
    run_id: str


class RefreshEngine(Protocol):
    """How a refresh computes the touched users' interactions, category interest and lists."""

    def interactions(self, events: pd.DataFrame, reference: datetime) -> pd.DataFrame:
        """(user_id, item_id, interaction_weight) of the users' events."""
        ...

    def rows(self, users: FoldedUsers) -> tuple[DataFrame, DataFrame]:
        """(user_category_interest, user_cross_sell) rows, without the run and refresh columns."""
        ...

    def close(self) -> None:
        """Free what the engine cached for this refresh."""
        ...
