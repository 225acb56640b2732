"""The accuracy cost of epsilon: the offline evaluation rerun with `privacy.dp` at each epsilon, and off.

The first point is a whole `run_evaluation` (retrain on the past, score both cross-category tasks
on the held-out future); the others rerun similarity and candidates at their epsilon on that
training split. The pipeline's HitRate and NDCG per task go into a Markdown table and a plot.

    python -m crosssell_spark.evaluation.epsilon_sweep --conf conf/local.yaml [--set privacy.dp.seed=1]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig, load_config, resolve_root
from crosssell_spark.evaluation.report import figure, save_figure
from crosssell_spark.run import Run

EPSILONS: tuple[float | None, ...] = (0.5, 1.0, 2.0, 8.0, None)  # None: differential privacy off
PIPELINE = "pipeline"
METRICS = ("hit_rate", "ndcg")
OFF = "off"


def config_at(config: AppConfig, epsilon: float | None) -> AppConfig:
    """The config with differential privacy at `epsilon` (None: off), everything else unchanged."""
    dp = config.privacy.dp.model_copy(
        update={"enabled": epsilon is not None, "epsilon": epsilon or config.privacy.dp.epsilon}
    )
    return config.model_copy(update={"privacy": config.privacy.model_copy(update={"dp": dp})})


def sweep(spark: SparkSession, config: AppConfig, epsilons: Sequence[float | None] = EPSILONS) -> pd.DataFrame:
    """One point per epsilon -> rows (epsilon, task, metric, value, run_id) of the pipeline's lists.

    The first point is a whole `run_evaluation` (split, retrain, every method scored). Noise only
    touches co-occurrence and category-affinity counts, so later points reuse its training
    lakehouse and interest model and rerun only similarity and candidates at their epsilon.
    """
    from crosssell_spark import pipeline
    from crosssell_spark.evaluation.stage import run_evaluation, score_all, training_config
    from crosssell_spark.lakehouse import Lakehouse

    first = run_evaluation(spark, config_at(config, epsilons[0]), Run.start())
    headline = first.metrics["headline"]
    rows = [
        (epsilons[0], key.split("/", 1)[0], m, values[m], first.metrics["run_id"])
        for key, values in headline.items()
        if key.split("/", 1)[1] == PIPELINE
        for m in METRICS
        if m in values
    ]
    lake = Lakehouse(spark, config.lakehouse)
    cut = datetime.fromisoformat(first.metrics["cut"])
    for epsilon in epsilons[1:]:
        at = config_at(config, epsilon)
        train_config = training_config(at, first.metrics["training_root"])
        run = Run.start()
        for stage in ("similarity", "candidates"):
            pipeline.run_stage(stage, spark, train_config, run)
        train_lake = Lakehouse(spark, train_config.lakehouse)
        figures, _ = score_all(spark, at, lake, train_lake, cut, run, methods={PIPELINE})
        for (task, _), fig in figures.items():
            rows += [(epsilon, task, m, v, run.run_id) for m, c, v, _ in fig.metrics if c is None and m in METRICS]
        lake.drop_staging(run.run_id)
        train_lake.drop_staging(run.run_id)
    return pd.DataFrame(rows, columns=["epsilon", "task", "metric", "value", "run_id"])


def write_sweep_report(frame: pd.DataFrame, folder: Path, mechanism: str) -> Path:
    """`epsilon_sweep.md` with the table and `epsilon_sweep.png` (one line per task and metric)."""
    folder.mkdir(parents=True, exist_ok=True)
    label = frame["epsilon"].map(lambda e: OFF if pd.isna(e) else f"{e:g}")
    table = frame.assign(epsilon=label).pivot_table(index="epsilon", columns=["task", "metric"], values="value")
    off_row = [OFF] if frame["epsilon"].isna().any() else []
    order = [f"{e:g}" for e in sorted(frame["epsilon"].dropna().unique())] + off_row
    table = table.reindex(order)

    plotted, axes = figure(1, len(METRICS), (5 * len(METRICS), 3.5))
    for axis, metric in zip(axes[0], METRICS, strict=True):
        for task in sorted(frame["task"].unique()):
            points = frame[(frame["task"] == task) & (frame["metric"] == metric)]
            noisy = points.dropna(subset=["epsilon"]).sort_values("epsilon")
            (line,) = axis.plot(noisy["epsilon"], noisy["value"], marker="o", label=f"{task} task")
            exact = points[points["epsilon"].isna()]["value"]
            if len(exact):
                axis.axhline(float(exact.iloc[0]), linestyle="--", color=line.get_color(), label=f"{task}, DP off")
        axis.set_xscale("log")
        axis.set_xlabel("epsilon per table and run")
        axis.set_title(f"{metric}@k of the pipeline's lists")
        axis.legend(fontsize=8)
    plot = folder / "epsilon_sweep.png"
    save_figure(plotted, plot)

    header = "| epsilon | " + " | ".join(f"{task} {metric}" for task, metric in table.columns) + " |"
    lines = [header, "|" + "---|" * (len(table.columns) + 1)]
    lines += [f"| {idx} | " + " | ".join(f"{v:.4f}" for v in row) + " |" for idx, row in table.iterrows()]
    report = folder / "epsilon_sweep.md"
    report.write_text(
        f"# Accuracy cost of epsilon ({mechanism} noise)\n\n"
        "Each row retrains the pipeline on the same past with `privacy.dp` at that epsilon (off: exact\n"
        "counts) and scores the pipeline's lists on the held-out future of both cross-category tasks.\n\n"
        + "\n".join(lines)
        + f"\n\n![accuracy against epsilon]({plot.name})\n"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    from crosssell_spark.session import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conf", action="append", default=[], metavar="FILE")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    args = parser.parse_args(argv)
    config = load_config(args.conf, args.overrides)
    frame = sweep(get_spark(config), config)
    root = config.evaluation.root or f"{resolve_root(config.lakehouse.root)}/_evaluation"
    folder = Path(root) / "epsilon_sweep" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print(write_sweep_report(frame, folder, config.privacy.dp.mechanism))
    return 0


if __name__ == "__main__":
    sys.exit(main())
