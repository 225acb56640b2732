"""Paired bootstrap of one method's lead over another, per query: the evaluate report's leads and train-ranker's guard.

Every method is scored on the same queries, so the difference of two methods is resampled by
query: draw the queries with replacement, take the mean difference, repeat. The 2.5 % and 97.5 %
quantiles of those means bound the difference; a lead whose lower bound is above zero is not noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Lead:
    """The pipeline minus one baseline on one metric: mean difference, its interval, relative lead."""

    difference: float
    low: float
    high: float
    relative: float | None  # difference / the baseline's mean; None when the baseline scores 0

    @property
    def significant(self) -> bool:
        return self.low > 0

    def text(self) -> str:
        rel = f"{self.relative:+.1%}" if self.relative is not None else "n/a"
        return f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}] ({rel})"


def paired_bootstrap(ours: pd.Series, theirs: pd.Series, seed: int, resamples: int = RESAMPLES) -> Lead:
    """Lead of `ours` over `theirs`, two per-query metric series indexed by query (a query missing on
    one side scores 0 there)."""
    both = pd.concat({"ours": ours, "theirs": theirs}, axis=1).fillna(0.0)
    diff = (both["ours"] - both["theirs"]).to_numpy(np.float64)
    if diff.size == 0:
        return Lead(0.0, 0.0, 0.0, None)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for n in range(resamples):  # one resample at a time: memory stays at one draw of the queries
        means[n] = diff[rng.integers(0, diff.size, diff.size)].mean()
    low, high = np.quantile(means, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    base = float(both["theirs"].mean())
    return Lead(float(diff.mean()), float(low), float(high), float(diff.mean()) / base if base > 0 else None)
