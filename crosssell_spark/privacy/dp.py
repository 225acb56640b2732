"""Differential privacy for co-occurrence counts: bound each user's contribution, then add noise.

Bounding: a user keeps at most B = `max_baskets_per_user` baskets (a seeded pseudo-random pick)
and a basket at most m = `max_items_per_basket` keys (strongest first), so one user adds at most
P = B * m(m-1)/2 pair occurrences. Every count released downstream is then noised once:

    vector                       L1 sensitivity    L2 sensitivity
    total baskets                B                 B
    per key: weight, baskets     B * m             B * sqrt(m)
    per pair: co_users           P                 sqrt(P)
    per pair: co_baskets, co_wt  P                 sqrt(B * P)

The budget is split evenly over these six vectors: Laplace noise of scale L1 / (epsilon / 6)
(pure epsilon-DP by basic composition), or Gaussian noise with rho = rho_total / 6 and sigma =
L2 / sqrt(2 rho), where rho_total is the zCDP budget that converts to the configured
(epsilon, delta). Confidence and lift are derived from noisy counts (post-processing, free), and
the minimum crowd is applied to the noisy co_users, so which pairs appear is decided by noisy
counts too. The chance that a pair only one person holds still crosses that threshold is the
`selection_delta` recorded in the privacy ledger.

Noise comes from OpenDP's samplers (discrete Laplace / Gaussian for counts, which resist the
floating-point attacks on naive samplers); with a configured seed it comes from NumPy instead,
reproducibly, for tests and evaluation only: whoever knows the seed can subtract the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType, IntegralType

from crosssell_spark.config import DifferentialPrivacyConfig
from crosssell_spark.schemas import CO_BASKETS, CO_USERS, CONFIDENCE, LIFT, USER_ID

# Column names of similarity/cooccurrence.py (not imported: that module imports this one's type).
BASKET, KEY, WEIGHT, CO_WEIGHT = "basket", "key", "weight", "co_weight"
BASKETS_A, BASKETS_B, CONFIDENCE_BA, KEY_A, KEY_B = "baskets_a", "baskets_b", "confidence_ba", "key_a", "key_b"

RELEASED_VECTORS = 6  # the budget is split evenly over the six noised vectors (see the module docstring)
SMALLEST = 1e-9  # noisy weights and ratios are clamped above zero so every derived statistic is defined


@dataclass(frozen=True)
class Sensitivity:
    l1: float
    l2: float


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The zCDP budget rho whose (epsilon, delta) conversion, rho + 2 sqrt(rho ln(1/delta)), equals epsilon."""
    log_term = math.log(1 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


def _row_seed(seed: int, salt: int, key_hash: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt, key_hash & 0xFFFFFFFFFFFFFFFF])


def _noise_udf(mechanism: str, scale: float, seed: int | None, salt: int, integer: bool) -> Callable[..., Column]:
    """pandas UDF (key hash, value) -> value + noise of `scale` (Laplace b or Gaussian sigma)."""

    @pandas_udf(DoubleType())  # type: ignore[call-overload]
    def noisy(key_hash: pd.Series, values: pd.Series) -> pd.Series:
        x = values.astype("float64").to_numpy()
        if seed is not None:  # reproducible: one generator per row, keyed by the row's identity
            draw = (lambda g: g.laplace(0.0, scale)) if mechanism == "laplace" else (lambda g: g.normal(0.0, scale))
            noise = np.array([draw(_row_seed(seed, salt, int(h))) for h in key_hash.tolist()], dtype="float64")
            out = x + noise
            return pd.Series(np.round(out) if integer else out)
        import opendp.prelude as dp  # secure samplers; imported on the executors

        dp.enable_features("contrib")
        atom = dp.atom_domain(T=int) if integer else dp.atom_domain(T=float, nan=False)
        if mechanism == "laplace":
            measure = dp.m.make_laplace(dp.vector_domain(atom), dp.l1_distance(T=int if integer else float), scale)
        else:
            measure = dp.m.make_gaussian(dp.vector_domain(atom), dp.l2_distance(T=int if integer else float), scale)
        data = [int(v) for v in np.rint(x)] if integer else [float(v) for v in x]
        return pd.Series(np.asarray(measure(data), dtype="float64"))

    return noisy


@dataclass(frozen=True)
class PairPrivacy:
    """The optional hook of `similarity.cooccurrence.pair_statistics`: bound, noise, keep consistent."""

    cfg: DifferentialPrivacyConfig
    min_users: int  # the minimum crowd applied after the noise (similarity.cooccurrence.min_users)

    # --- contribution bounding ------------------------------------------------------------------

    @property
    def bounding_seed(self) -> int:
        return self.cfg.seed if self.cfg.seed is not None else 0  # which baskets are kept needs no secrecy

    def bound(self, members: DataFrame) -> DataFrame:
        """Basket members (basket, user_id, key, weight, ...) -> at most B baskets per user, m keys per basket."""
        seed = F.lit(self.bounding_seed)
        baskets = members.select(USER_ID, BASKET).distinct()
        per_user = Window.partitionBy(USER_ID).orderBy(F.xxhash64(seed, F.col(BASKET)), F.col(BASKET))
        kept = baskets.withColumn("_b", F.row_number().over(per_user)).where(
            F.col("_b") <= self.cfg.max_baskets_per_user
        )
        per_basket = Window.partitionBy(BASKET).orderBy(F.col(WEIGHT).desc(), F.xxhash64(seed, F.col(KEY)), F.col(KEY))
        return (
            members.join(kept.select(BASKET), BASKET, "left_semi")
            .withColumn("_k", F.row_number().over(per_basket))
            .where(F.col("_k") <= self.cfg.max_items_per_basket)
            .drop("_k")
        )

    # --- sensitivities and noise scales ---------------------------------------------------------

    def sensitivities(self) -> dict[str, Sensitivity]:
        b, m, p = self.cfg.max_baskets_per_user, self.cfg.max_items_per_basket, self.cfg.max_pairs_per_user
        return {
            "total": Sensitivity(b, b),
            "key": Sensitivity(b * m, b * math.sqrt(m)),
            CO_USERS: Sensitivity(p, math.sqrt(p)),
            CO_BASKETS: Sensitivity(p, math.sqrt(b * p)),
            CO_WEIGHT: Sensitivity(p, math.sqrt(b * p)),
        }

    def scale(self, vector: str) -> float:
        """Laplace b or Gaussian sigma of the noise added to one released vector."""
        s = self.sensitivities()[vector]
        if self.cfg.mechanism == "laplace":
            return s.l1 / (self.cfg.epsilon / RELEASED_VECTORS)
        rho = zcdp_rho(self.cfg.epsilon, self.cfg.delta) / RELEASED_VECTORS
        return s.l2 / math.sqrt(2 * rho)

    def selection_threshold(self) -> int:
        """The noisy co_users a pair needs: min_users, raised with `selection_delta` until a pair only
        one person holds (noisy count 1 + X, rounded) passes with probability <= selection_delta / P."""
        if self.cfg.selection_delta is None:
            return self.min_users
        tail, scale = self.cfg.selection_delta / self.cfg.max_pairs_per_user, self.scale(CO_USERS)
        if self.cfg.mechanism == "laplace":
            margin = scale * math.log(1 / (2 * tail))  # P(X >= m) = exp(-m / b) / 2
        else:
            margin = scale * NormalDist().inv_cdf(1 - tail)
        return max(self.min_users, math.ceil(margin + 1.5))

    def selection_delta(self) -> float:
        """Upper bound of the chance that any of the <= P pairs only one user holds survives the
        noisy threshold (rounding: 1 + X >= threshold - 0.5)."""
        margin = self.selection_threshold() - 1.5
        scale = self.scale(CO_USERS)
        if margin <= 0:
            return 1.0
        if self.cfg.mechanism == "laplace":
            tail = 0.5 * math.exp(-margin / scale)
        else:
            tail = 0.5 * math.erfc(margin / (scale * math.sqrt(2)))
        return min(1.0, self.cfg.max_pairs_per_user * tail)

    def total_delta(self) -> float:
        noise_delta = self.cfg.delta if self.cfg.mechanism == "gaussian" else 0.0
        return min(1.0, noise_delta + self.selection_delta())

    def noisy(self, df: DataFrame, keys: list[str], columns: dict[str, str]) -> DataFrame:
        """Noise each column (-> its sensitivity vector) once per row; integer columns stay whole."""
        key_hash = F.xxhash64(*[F.col(k) for k in keys]) if keys else F.lit(0).cast("long")
        types = {f.name: f.dataType for f in df.schema.fields}
        noised = {}
        for column, vector in columns.items():
            integer = isinstance(types[column], IntegralType)
            salt = int.from_bytes(column.encode("utf-8")[:8].ljust(8, b"\0"), "big")
            udf = _noise_udf(self.cfg.mechanism, self.scale(vector), self.cfg.seed, salt, integer)
            value = udf(key_hash, F.col(column).cast("double"))
            noised[column] = value.cast("long") if integer else value
        return df.withColumns(noised)

    def noise_totals(self, totals: DataFrame) -> DataFrame:
        """The one-row frame of total baskets: noised, at least 1."""
        noisy = self.noisy(totals, [], {c: "total" for c in totals.columns})
        return noisy.select([F.greatest(F.col(c), F.lit(1)).alias(c) for c in totals.columns])

    def noise_keys(self, per_key: DataFrame) -> DataFrame:
        """Per-key weight and basket counts: noised, clamped above zero."""
        values = [c for c in per_key.columns if c != KEY]
        noisy = self.noisy(per_key, [KEY], {c: "key" for c in values})
        return noisy.withColumns({c: F.greatest(F.col(c), F.lit(1).cast(noisy.schema[c].dataType)) for c in values})

    def noise_pairs(self, pairs: DataFrame) -> DataFrame:
        """Pair counts: noised; co_users >= 0, co_baskets >= co_users, co_weight > 0."""
        noisy = self.noisy(pairs, [KEY_A, KEY_B], {CO_USERS: CO_USERS, CO_BASKETS: CO_BASKETS, CO_WEIGHT: CO_WEIGHT})
        users = F.greatest(F.col(CO_USERS), F.lit(0).cast("long"))
        return noisy.withColumns(
            {
                CO_USERS: users,
                CO_BASKETS: F.greatest(F.col(CO_BASKETS), users),
                CO_WEIGHT: F.greatest(F.col(CO_WEIGHT), F.lit(SMALLEST)),
            }
        )

    def consistent(self, stats: DataFrame) -> DataFrame:
        """Derived statistics of noisy counts kept in range (confidence in (0, 1], lift > 0, a key's
        baskets >= the pair's baskets); a noisy crowd under the selection threshold becomes 0."""
        ratio = lambda c: F.least(F.greatest(F.col(c), F.lit(SMALLEST)), F.lit(1.0))  # noqa: E731
        threshold = self.selection_threshold()  # below it a pair counts as no crowd, so the floor withholds it
        return stats.withColumns(
            {
                CO_USERS: F.when(F.col(CO_USERS) < threshold, F.lit(0).cast("long")).otherwise(F.col(CO_USERS)),
                CONFIDENCE: ratio(CONFIDENCE),
                CONFIDENCE_BA: ratio(CONFIDENCE_BA),
                LIFT: F.greatest(F.col(LIFT), F.lit(SMALLEST)),
                BASKETS_A: F.greatest(F.col(BASKETS_A), F.col(CO_BASKETS)),
                BASKETS_B: F.greatest(F.col(BASKETS_B), F.col(CO_BASKETS)),
            }
        )

    # --- the ledger -----------------------------------------------------------------------------

    def ledger_rows(self, spark: SparkSession, run_id: str, recorded_at: datetime, tables: list[str]) -> DataFrame:
        """One privacy_ledger row per table this run released under differential privacy."""
        from crosssell_spark.schemas import PRIVACY_LEDGER_SCHEMA

        parameters = {
            "max_baskets_per_user": float(self.cfg.max_baskets_per_user),
            "max_items_per_basket": float(self.cfg.max_items_per_basket),
            "max_pairs_per_user": float(self.cfg.max_pairs_per_user),
            "min_users": float(self.min_users),
            "noise_scale_co_users": self.scale(CO_USERS),
            "noise_scale_co_baskets": self.scale(CO_BASKETS),
            "noise_scale_key_counts": self.scale("key"),
            "selection_threshold": float(self.selection_threshold()),
            "selection_delta": self.selection_delta(),
            "seeded": 1.0 if self.cfg.seed is not None else 0.0,
        }
        rows = [
            (run_id, recorded_at, table, self.cfg.mechanism, self.cfg.epsilon, self.total_delta(), parameters)
            for table in tables
        ]
        return spark.createDataFrame(rows, PRIVACY_LEDGER_SCHEMA)


def pair_privacy(cfg: DifferentialPrivacyConfig, min_users: int) -> PairPrivacy | None:
    """The hook for `pair_statistics`, or None when differential privacy is off."""
    return PairPrivacy(cfg, min_users) if cfg.enabled else None
