"""Fold-in against fixed item factors: MLlib's own user factors are reproduced, tastes are followed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from crosssell_spark.interest.als import ALS_FEATURES, ALS_ID, build_als
from crosssell_spark.schemas import INTERACTION_WEIGHT, ITEM_IDX, USER_IDX
from crosssell_spark.streaming.foldin import fold_in, fold_in_many, gram
from tests.conftest import make_test_config


def test_fold_in_reproduces_the_user_factors_spark_als_trained(spark: SparkSession, tmp_path):
    """MLlib's last half-step solves every user against the final item factors: the same equation."""
    rng = np.random.default_rng(11)
    rows = [
        (u, int(i), float(rng.choice([1.0, 3.0, 5.0, 12.5])))
        for u in range(1, 31)
        for i in rng.choice(np.arange(1, 41), size=int(rng.integers(2, 9)), replace=False)
    ]
    ratings = spark.createDataFrame(rows, f"{USER_IDX} int, {ITEM_IDX} int, {INTERACTION_WEIGHT} float")
    als_cfg = make_test_config(tmp_path).interest.als.model_copy(
        update={"rank": 4, "max_iter": 2, "reg_param": 0.05, "alpha": 2.0, "num_user_blocks": 1, "num_item_blocks": 1}
    )
    model = build_als(als_cfg).fit(ratings)
    items = model.itemFactors.toPandas().sort_values(ALS_ID)
    trained_users = model.userFactors.toPandas().set_index(ALS_ID)[ALS_FEATURES]
    y = np.stack(items[ALS_FEATURES].to_numpy()).astype(np.float32)
    position = {int(i): n for n, i in enumerate(items[ALS_ID])}
    local = pd.DataFrame(rows, columns=["u", "i", "r"])

    users, folded = fold_in_many(
        y,
        gram(y),
        local["u"].to_numpy(),
        local["i"].map(position).to_numpy(),
        local["r"].to_numpy(),
        als_cfg.alpha,
        als_cfg.reg_param,
    )

    expected = np.stack([np.asarray(trained_users.loc[int(u)], dtype=np.float32) for u in users])
    np.testing.assert_allclose(folded, expected, rtol=1e-3, atol=1e-4)


def test_a_folded_user_prefers_the_items_like_those_they_used():
    """Two item clusters; a user who used three items of cluster A scores A's other items above B's."""
    rng = np.random.default_rng(3)
    a = rng.normal([1.0, 0.0, 0.2], 0.05, size=(10, 3))
    b = rng.normal([0.0, 1.0, 0.2], 0.05, size=(10, 3))
    y = np.vstack([a, b]).astype(np.float32)
    x = fold_in(y, gram(y), np.array([0, 1, 2]), np.array([5.0, 3.0, 1.0]), alpha=1.0, reg=0.1)
    scores = y @ x
    assert scores[3:10].min() > scores[10:].max()


def test_a_user_without_interactions_folds_to_zero():
    y = np.eye(3, dtype=np.float32)
    assert not fold_in(y, gram(y), np.array([], dtype=np.int64), np.array([]), alpha=1.0, reg=0.1).any()
