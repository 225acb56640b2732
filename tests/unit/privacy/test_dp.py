"""Differential privacy: per-user caps hold, noise has the configured scale, statistics stay consistent.

Scale checks use N seeded draws. For Laplace(b) the sample variance has relative standard error
sqrt((kurtosis - 1) / N) = sqrt(5 / N) (Laplace kurtosis 6), for a Gaussian sqrt(2 / N); the
tolerances below are 5 of those standard errors (a correct sampler fails with probability < 1e-6),
and a Kolmogorov-Smirnov test checks the shape. The unseeded OpenDP path is checked the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from scipy import stats

from crosssell_spark.config import DifferentialPrivacyConfig
from crosssell_spark.privacy.dp import CO_WEIGHT, RELEASED_VECTORS, PairPrivacy, pair_privacy, zcdp_rho
from crosssell_spark.schemas import CO_BASKETS, CO_USERS, USER_ID
from crosssell_spark.similarity.cooccurrence import (
    BASKET,
    BASKET_SIZE,
    KEY,
    KEY_A,
    KEY_B,
    RANK_IN_BASKET,
    WEIGHT,
    pair_statistics,
)
from tests.conftest import make_test_config

N = 10_000
MEMBERS_SCHEMA = f"{BASKET} string, {USER_ID} string, {KEY} string, category_id string, {WEIGHT} double, " \
    f"{BASKET_SIZE} int, {RANK_IN_BASKET} int"  # fmt: skip


def dp_config(tmp_path: Path, *overrides: str) -> DifferentialPrivacyConfig:
    config = make_test_config(tmp_path / "lh", "privacy.dp.enabled=true", *[f"privacy.dp.{o}" for o in overrides])
    return config.privacy.dp


def members(spark: SparkSession) -> DataFrame:
    """u1: 10 baskets of 8 items (a heavy shopper); u2, u3: 2 baskets of 3 items; one category per item."""
    rows = []
    for user, baskets, size in (("u1", 10, 8), ("u2", 2, 3), ("u3", 2, 3)):
        for b in range(baskets):
            for i in range(size):
                rows.append((f"{user}|s{b}", user, f"i{(b + i) % 9}", f"c{(b + i) % 9}", 1.0 - i / 20, size, i + 1))
    return spark.createDataFrame(rows, MEMBERS_SCHEMA)


def test_off_means_no_hook(tmp_path: Path) -> None:
    assert pair_privacy(make_test_config(tmp_path / "lh").privacy.dp, 3) is None


def test_per_user_caps_hold(spark: SparkSession, tmp_path: Path) -> None:
    cfg = dp_config(tmp_path, "max_baskets_per_user=4", "max_items_per_basket=5", "seed=7")
    kept = PairPrivacy(cfg, 3).bound(members(spark)).collect()
    baskets: dict[str, set[str]] = defaultdict(set)
    ranks: dict[str, list[int]] = defaultdict(list)
    for r in kept:
        baskets[r[USER_ID]].add(r[BASKET])
        ranks[r[BASKET]].append(r[RANK_IN_BASKET])
    assert {u: len(b) for u, b in baskets.items()} == {"u1": 4, "u2": 2, "u3": 2}  # only the heavy shopper is cut
    assert all(sorted(r) == list(range(1, min(5, len(r)) + 1)) for r in ranks.values())  # strongest items kept
    pairs = {u: sum(math.comb(len(ranks[b]), 2) for b in bs) for u, bs in baskets.items()}
    assert pairs["u1"] == cfg.max_pairs_per_user == 40  # 4 baskets x C(5, 2): the cap, reached
    again = PairPrivacy(cfg, 3).bound(members(spark)).select(BASKET).distinct().collect()
    assert sorted(r[0] for r in again) == sorted(ranks)  # the seeded pick is reproducible


def test_noise_scales_follow_sensitivity_and_budget(tmp_path: Path) -> None:
    laplace = PairPrivacy(dp_config(tmp_path, "epsilon=2", "max_baskets_per_user=4", "max_items_per_basket=5"), 3)
    assert laplace.scale(CO_USERS) == pytest.approx(40 / (2 / RELEASED_VECTORS))
    assert laplace.scale("total") == pytest.approx(4 / (2 / RELEASED_VECTORS))
    gaussian = PairPrivacy(dp_config(tmp_path, "mechanism=gaussian", "epsilon=2", "delta=1e-6"), 3)
    rho = zcdp_rho(2, 1e-6)
    assert rho + 2 * math.sqrt(rho * math.log(1e6)) == pytest.approx(2)  # converts back to the epsilon asked for
    assert gaussian.scale(CO_USERS) == pytest.approx(math.sqrt(40) / math.sqrt(2 * rho / RELEASED_VECTORS))
    assert 0 < gaussian.total_delta() <= 1
    assert laplace.selection_threshold() == 3  # no selection_delta: the minimum crowd alone
    strict = PairPrivacy(dp_config(tmp_path, "epsilon=8", "selection_delta=1e-6"), 3)
    b = strict.scale(CO_USERS)  # 40 / (8 / 6) = 30
    assert strict.selection_threshold() == math.ceil(b * math.log(40 / (2 * 1e-6)) + 1.5) == 506
    assert strict.selection_delta() <= 1e-6


def zeros(spark: SparkSession) -> DataFrame:
    return spark.range(N).select(
        F.col("id").cast("string").alias(KEY_A),
        F.lit("x").alias(KEY_B),
        F.lit(0.0).alias(CO_WEIGHT),
        F.lit(0).cast("long").alias(CO_USERS),
    )


def draws(privacy: PairPrivacy, df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    out = privacy.noisy(df, [KEY_A, KEY_B], {CO_WEIGHT: CO_USERS, CO_USERS: CO_USERS}).toPandas()
    return out[CO_WEIGHT].to_numpy(), out[CO_USERS].to_numpy()


def test_seeded_laplace_has_the_configured_scale(spark: SparkSession, tmp_path: Path) -> None:
    privacy = PairPrivacy(dp_config(tmp_path, "epsilon=8", "seed=11"), 3)
    b = privacy.scale(CO_USERS)
    continuous, whole = draws(privacy, zeros(spark))
    tolerance = 5 * math.sqrt(5 / N)
    assert abs(continuous.var() / (2 * b * b) - 1) < tolerance
    assert stats.kstest(continuous, stats.laplace(scale=b).cdf).pvalue > 1e-3
    assert np.all(whole == np.round(whole))  # counts stay whole numbers
    assert abs(whole.var() / (2 * b * b + 1 / 12) - 1) < tolerance
    repeat, _ = draws(privacy, zeros(spark).repartition(5))  # same seed, other partitioning: same noise
    assert np.array_equal(np.sort(repeat), np.sort(continuous))


def test_seeded_gaussian_has_the_configured_scale(spark: SparkSession, tmp_path: Path) -> None:
    privacy = PairPrivacy(dp_config(tmp_path, "mechanism=gaussian", "epsilon=1", "delta=1e-6", "seed=5"), 3)
    sigma = privacy.scale(CO_USERS)
    continuous, _ = draws(privacy, zeros(spark))
    assert abs(continuous.var() / sigma**2 - 1) < 5 * math.sqrt(2 / N)
    assert stats.kstest(continuous, stats.norm(scale=sigma).cdf).pvalue > 1e-3


def test_secure_opendp_noise_has_the_configured_scale(spark: SparkSession, tmp_path: Path) -> None:
    privacy = PairPrivacy(dp_config(tmp_path, "epsilon=8"), 3)  # no seed: OpenDP samplers
    b = privacy.scale(CO_USERS)
    continuous, whole = draws(privacy, zeros(spark))
    tolerance = 5 * math.sqrt(5 / N)
    assert abs(continuous.var() / (2 * b * b) - 1) < tolerance
    q = math.exp(-1 / b)
    assert abs(whole.var() / (2 * q / (1 - q) ** 2) - 1) < tolerance  # discrete Laplace variance
    assert np.all(whole == np.round(whole))


def test_noisy_statistics_stay_consistent(spark: SparkSession, tmp_path: Path) -> None:
    privacy = PairPrivacy(dp_config(tmp_path, "epsilon=0.5", "seed=3"), 3)
    rows = pair_statistics(members(spark), privacy).collect()
    assert rows
    for r in rows:
        assert 0 <= r[CO_USERS] <= r[CO_BASKETS] <= min(r["baskets_a"], r["baskets_b"])
        assert 0 < r["confidence"] <= 1 and 0 < r["confidence_ba"] <= 1 and r["lift"] > 0
    assert max(abs(r[CO_WEIGHT]) for r in rows) > 14  # beyond any exact value (<= 14 baskets): noise was added
    ledger = privacy.ledger_rows(spark, "r1", datetime(2026, 11, 1), ["item_similarity"])
    (row,) = ledger.collect()
    assert (row["mechanism"], row["epsilon"]) == ("laplace", 0.5)
    assert row["parameters"]["max_pairs_per_user"] == 40 and row["parameters"]["seeded"] == 1.0
