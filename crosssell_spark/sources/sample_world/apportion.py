"""Split an integer total into integer shares that follow given weights exactly."""

from __future__ import annotations

import numpy as np


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of `total` over `weights`; the shares always sum to `total`."""
    weights = np.asarray(weights, dtype=np.float64)
    if total < 0 or weights.size == 0 or weights.sum() <= 0:
        raise ValueError(f"cannot apportion {total} over weights {weights!r}")
    exact = total * weights / weights.sum()
    shares = np.floor(exact).astype(np.int64)
    remainder = total - int(shares.sum())
    if remainder:
        # stable order keeps the split deterministic when remainders tie
        shares[np.argsort(-(exact - shares), kind="stable")[:remainder]] += 1
    return shares
