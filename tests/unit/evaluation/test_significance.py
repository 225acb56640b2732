"""The paired bootstrap of the pipeline's lead over a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosssell_spark.significance import paired_bootstrap


def per_query(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=[f"q{n}" for n in range(len(values))])


def test_a_clear_lead_has_an_interval_above_zero_and_its_relative_size():
    rng = np.random.default_rng(0)
    theirs = (rng.random(2000) < 0.30).astype(float)
    ours = np.maximum(theirs, (rng.random(2000) < 0.10).astype(float))  # every hit of theirs, and more
    lead = paired_bootstrap(per_query(ours), per_query(theirs), seed=1)
    assert lead.significant and lead.low <= lead.difference <= lead.high
    assert lead.difference == ours.mean() - theirs.mean()
    assert lead.relative is not None and abs(lead.relative - lead.difference / theirs.mean()) < 1e-12


def test_the_same_hits_shuffled_between_queries_are_noise():
    rng = np.random.default_rng(2)
    theirs = (rng.random(500) < 0.4).astype(float)
    ours = rng.permutation(theirs)
    lead = paired_bootstrap(per_query(ours), per_query(theirs), seed=3)
    assert lead.difference == 0 and lead.low < 0 < lead.high and not lead.significant
    assert paired_bootstrap(per_query(ours), per_query(theirs), seed=3) == lead  # seeded


def test_a_query_missing_on_one_side_scores_zero_there():
    ours = pd.Series([1.0, 1.0], index=["q1", "q2"])
    theirs = pd.Series([1.0], index=["q1"])
    lead = paired_bootstrap(ours, theirs, seed=0)
    assert lead.difference == 0.5 and lead.relative == 1.0
