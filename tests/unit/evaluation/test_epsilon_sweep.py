"""The epsilon sweep: configs per epsilon and the report (table and plot) from its figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crosssell_spark.evaluation.epsilon_sweep import EPSILONS, config_at, write_sweep_report
from tests.conftest import make_test_config


def test_each_epsilon_switches_dp_and_nothing_else(tmp_path: Path) -> None:
    config = make_test_config(tmp_path / "lh")
    at_two, off = config_at(config, 2.0), config_at(config, None)
    assert (at_two.privacy.dp.enabled, at_two.privacy.dp.epsilon) == (True, 2.0)
    assert not off.privacy.dp.enabled
    assert at_two.similarity == config.similarity and at_two.privacy.pseudonymise == config.privacy.pseudonymise


def test_report_has_a_row_per_epsilon_and_a_plot(tmp_path: Path) -> None:
    rows = [
        (eps, task, metric, value, "r")
        for eps, value in zip(EPSILONS, (0.01, 0.02, 0.05, 0.09, 0.12), strict=True)
        for task in ("anchor", "user")
        for metric in ("hit_rate", "ndcg")
    ]
    report = write_sweep_report(
        pd.DataFrame(rows, columns=["epsilon", "task", "metric", "value", "run_id"]), tmp_path, "laplace"
    )
    text = report.read_text()
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in lines[1:]] == ["| 0.5", "| 1", "| 2", "| 8", "| off"]
    assert "| off | 0.1200 | 0.1200 | 0.1200 | 0.1200 |" in text
    assert (tmp_path / "epsilon_sweep.png").stat().st_size > 10_000
