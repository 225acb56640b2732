"""Fold-in: a user's implicit-ALS factor solved in closed form against fixed item factors.

Hu, Koren & Volinsky's user equation, with Spark MLlib's confidence and regularisation:

    x_u = (Y^T Y + Y_u^T (C_u - I) Y_u + reg * n_u * I)^-1  Y_u^T C_u p_u

c = 1 + alpha * r for each of the user's n_u interactions r > 0 (p = 1 there), Y^T Y over every
item ALS trained. MLlib's last half-step computes exactly this for every user from the final item
factors, so folding in a user with unchanged interactions reproduces their trained factor (see
tests/unit/streaming/test_foldin.py).

Why numpy on the driver and not a pandas UDF: a micro-batch touches a bounded number of users
(`streaming.max_files_per_trigger` files), each solve is one rank x rank Cholesky (~20 µs at rank
32), and Y^T Y is computed once per item-factor version. A pandas UDF would ship Y to every task
and start Python workers each batch for milliseconds of work. Only the touched users'
interactions (a few rows each) and the item factors (items x rank floats) reach the driver.
"""

from __future__ import annotations

import numpy as np


def gram(trained_item_factors: np.ndarray) -> np.ndarray:
    """Y^T Y in float64 over the items ALS trained."""
    y = trained_item_factors.astype(np.float64)
    return y.T @ y


def fold_in(
    item_factors: np.ndarray, yty: np.ndarray, items: np.ndarray, weights: np.ndarray, alpha: float, reg: float
) -> np.ndarray:
    """One user's factor from their interactions.

    Args:
        item_factors: (n_items, rank) factors Y.
        yty: `gram` of the trained rows of Y.
        items: row positions in `item_factors` of the user's items.
        weights: the interaction weights r of those items (same order).
    """
    rank = item_factors.shape[1]
    if len(items) == 0:
        return np.zeros(rank, dtype=np.float32)
    y_u = item_factors[items].astype(np.float64)
    r = np.asarray(weights, dtype=np.float64)
    c1 = alpha * np.abs(r)
    positive = r > 0
    a = yty + (y_u.T * c1) @ y_u + reg * int(positive.sum()) * np.eye(rank)
    b = y_u[positive].T @ (1.0 + c1[positive])
    try:
        factor = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:  # only with reg = 0 and a degenerate Y: least squares instead
        factor = np.linalg.lstsq(a, b, rcond=None)[0]
    return factor.astype(np.float32)


def fold_in_many(
    item_factors: np.ndarray,
    yty: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    alpha: float,
    reg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Factors of every user in `users` (one row per interaction, any order).

    Returns:
        (distinct users in sorted order, (n_users, rank) float32 factors)
    """
    order = np.argsort(users, kind="stable")
    users, items, weights = users[order], items[order], weights[order]
    distinct, starts = np.unique(users, return_index=True)
    ends = np.append(starts[1:], len(users))
    factors = np.empty((len(distinct), item_factors.shape[1]), dtype=np.float32)
    for n, (start, end) in enumerate(zip(starts, ends, strict=True)):
        factors[n] = fold_in(item_factors, yty, items[start:end], weights[start:end], alpha, reg)
    return distinct, factors
