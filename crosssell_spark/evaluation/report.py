"""The evaluation report: a Markdown page with metric tables and PNG plots, from collected figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
from matplotlib.figure import Figure

from crosssell_spark.evaluation.metrics import (
    ACCURACY_METRICS,
    HIT_RATE,
    LIST_METRICS,
    NDCG,
)
from crosssell_spark.significance import Lead

REPORT_FOLDER, REPORT_FILE = "evaluation", "report.md"  # <root>/_reports/evaluation/<run_id>/report.md
METRIC_BARS, CATEGORY_HITS, SCORE_DISTRIBUTIONS = "metric_bars.png", "category_hit_rates.png", "score_distributions.png"
HEADLINE_METRICS = (HIT_RATE, NDCG)
CATEGORIES_SHOWN = 15
PIPELINE = "pipeline"
TASK_TEXT = {
    "anchor": "Anchor task: each item of a held-out multi-category basket is an anchor; its `item_cross_sell` "
    "list is judged against the basket's items of other categories.",
    "user": "User task: each user's `user_cross_sell` list is judged against their held-out purchases in "
    "categories they never touched in training.",
}


@dataclass(frozen=True)
class ReportInputs:
    run_id: str
    dataset: str
    config_hash: str
    cut: datetime
    k: int
    training: dict[str, Any]
    task_sizes: dict[str, dict[str, int]]
    figures: pd.DataFrame  # rows of the evaluation table
    scores: dict[tuple[str, str], pd.DataFrame]  # (task, method) -> sample of (score, is_hit)
    category_names: dict[str, str]
    leads: dict[str, dict[str, dict[str, Lead]]]  # task -> baseline -> metric -> pipeline's lead
    targets: tuple[str, ...]  # the baselines the pipeline must beat (they obey the minimum crowd)
    ranker: list[dict[str, Any]]  # the training run's ranker_runs rows (list_type, scorer, reason, ...)


def overall(figures: pd.DataFrame) -> pd.DataFrame:
    """task x method x metric values without the per-category rows."""
    rows = figures[figures["category"].isna()]
    return rows.pivot_table(index=["task", "method"], columns="metric", values="value", aggfunc="first")


def pipeline_verdict(leads: dict[str, dict[str, Lead]], targets: tuple[str, ...]) -> str:
    """One sentence: does the pipeline beat every target baseline of a task on the headline metrics,
    each lead's 95 % paired-bootstrap interval above zero?"""
    scored = [b for b in targets if b in leads]
    if not scored:
        return "The pipeline was not scored against the target baselines on this task."
    parts = []
    for metric in HEADLINE_METRICS:
        losses = [b for b in scored if not leads[b][metric].significant]
        if losses:
            parts.append(f"{metric}@k does NOT beat {', '.join(losses)} beyond noise")
        else:
            weakest = min(scored, key=lambda b: leads[b][metric].difference)
            parts.append(f"{metric}@k beats every target beyond noise (smallest lead: {weakest} "
                         f"{leads[weakest][metric].text()})")  # fmt: skip
    return "Pipeline: " + "; ".join(parts) + "."


def _lead_table(leads: dict[str, dict[str, Lead]], targets: tuple[str, ...]) -> str:
    """Pipeline minus each baseline: difference [95 % interval] (relative lead), per headline metric."""
    header = ["baseline", *[f"{m}@k lead" for m in HEADLINE_METRICS]]
    rows = [
        [f"{b}{'' if b in targets else ' (reference)'}", *[leads[b][m].text() for m in HEADLINE_METRICS]] for b in leads
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join([*lines, *["| " + " | ".join(r) + " |" for r in rows]])


def _ablation_lines(full: dict[str, float], dropped: dict[str, dict[str, float]]) -> list[str]:
    """The learnt lists' validation figures with one feature group or candidate source dropped."""

    def cell(q: dict[str, float], metric: str) -> str:
        return f"{q[metric]:.4f} ({q[metric] - full[metric]:+.4f})"

    header = (
        f"  - ablation (cross-fitted, every key; with everything: HitRate {full['hit_rate']:.4f}, "
        f"NDCG {full['ndcg']:.4f}):"
    )
    rows = [f"    | {name} | {cell(q, 'hit_rate')} | {cell(q, 'ndcg')} |" for name, q in dropped.items()]
    return [header, "", "    | dropped | HitRate@k | NDCG@k |", "    |---|---|---|", *rows, ""]


def _ranker_section(rows: list[dict[str, Any]]) -> list[str]:
    """What the training run's train-ranker decided per list kind, with its validation figures."""
    if not rows:
        return []
    lines = ["## Learnt ranker (training run)", ""]
    for row in rows:
        quality = json.loads(row["quality_json"] or "{}")
        importances = json.loads(row["importances_json"] or "{}")
        figures = "; ".join(f"{s}: HitRate {q['hit_rate']:.4f}, NDCG {q['ndcg']:.4f}" for s, q in quality.items())
        top = ", ".join(f"{f} {v:.2f}" for f, v in sorted(importances.items(), key=lambda kv: -kv[1])[:6])
        lines += [
            f"- **{row['list_type']} lists: scored by {row['scorer']}** ({row['scorer_reason']}). "
            f"{row['train_rows']:,} training rows, {row['train_positives']:,} positives, "
            f"{row['validation_keys']:,} keys judged out of fold.",
            f"  - validation (cross-fitted): {figures or 'none'}",
            *([f"  - top features (share of split gain): {top}"] if top else []),
        ]
        dropped = json.loads(row.get("ablation_json") or "{}")
        if dropped and "learnt" in quality:
            lines += _ablation_lines(quality["learnt"], dropped)
    return [*lines, ""]


def _markdown_table(frame: pd.DataFrame, index_name: str = "method", best_per_row: bool = False) -> str:
    """A Markdown table with the best value of each column (or row) in bold."""
    columns = [str(c) for c in frame.columns]
    lines = [f"| {index_name} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    column_best = frame.max()
    for label, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            text = "" if pd.isna(value) else f"{value:.4f}"
            best = row.max() if best_per_row else column_best[column]
            if not pd.isna(value) and value == best:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(rows: int, columns: int, size: tuple[float, float]) -> tuple[Figure, Any]:
    """A figure and its (rows, columns) axes, made without pyplot: no backend is chosen or changed for
    the process (a notebook keeps its inline plots), and nothing holds the figure once it is saved."""
    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, columns, squeeze=False)


def save_figure(fig: Figure, path: Path | BinaryIO) -> None:
    """Lay out and write as PNG (to a file or a buffer)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _metric_bars(table: pd.DataFrame, tasks: list[str], path: Path) -> None:
    fig, axes = figure(1, len(tasks), (6 * len(tasks), 4))
    for ax, task in zip(axes[0], tasks, strict=True):
        table.loc[task][list(ACCURACY_METRICS)].T.plot.bar(ax=ax, rot=0)
        ax.set_title(f"{task} task")
        ax.set_ylabel("value at k")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _category_rows(figures: pd.DataFrame, task: str, names: dict[str, str]) -> pd.DataFrame:
    rows = figures[(figures["task"] == task) & figures["category"].notna() & (figures["metric"] == HIT_RATE)]
    if rows.empty:
        return pd.DataFrame()
    sizes = rows[rows["method"] == PIPELINE].set_index("category")["queries"]
    top = sizes.sort_values(ascending=False).head(CATEGORIES_SHOWN).index
    wide = rows[rows["category"].isin(top)].pivot_table(index="category", columns="method", values="value")
    wide = wide.loc[[c for c in top if c in wide.index]]
    wide.index = [f"{names.get(c, c)} ({int(sizes[c])})" for c in wide.index]
    return wide


def _category_plot(figures: pd.DataFrame, tasks: list[str], names: dict[str, str], path: Path) -> None:
    fig, axes = figure(1, len(tasks), (7 * len(tasks), 6))
    for ax, task in zip(axes[0], tasks, strict=True):
        wide = _category_rows(figures, task, names)
        if not wide.empty:
            wide.iloc[::-1].plot.barh(ax=ax)
        ax.set_title(f"{task}: hit rate by target category (queries)")
        ax.set_xlabel("hit rate at k")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _score_plot(scores: dict[tuple[str, str], pd.DataFrame], tasks: list[str], path: Path) -> None:
    methods = sorted({m for _, m in scores}, key=lambda m: (m != PIPELINE, m))
    fig, axes = figure(len(tasks), len(methods), (3.2 * len(methods), 2.8 * len(tasks)))
    for row, task in enumerate(tasks):
        for col, method in enumerate(methods):
            ax = axes[row][col]
            sample = scores.get((task, method), pd.DataFrame(columns=["score", "is_hit"]))
            for hit, label in ((0, "miss"), (1, "hit")):
                values = sample.loc[sample["is_hit"] == hit, "score"].dropna()
                if len(values):
                    ax.hist(values, bins=30, alpha=0.6, density=True, label=f"{label} ({len(values)})")
            ax.set_title(f"{task} / {method}", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.legend(fontsize=6)
    save_figure(fig, path)


def write_report(folder: Path, inputs: ReportInputs) -> Path:
    """Write report.md and its PNGs into `folder`; return the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    table = overall(inputs.figures)
    tasks = [t for t in ("anchor", "user") if t in table.index.get_level_values(0)]
    _metric_bars(table, tasks, folder / METRIC_BARS)
    _category_plot(inputs.figures, tasks, inputs.category_names, folder / CATEGORY_HITS)
    _score_plot(inputs.scores, tasks, folder / SCORE_DISTRIBUTIONS)

    seconds = ", ".join(f"{s} {t:.0f} s" for s, t in inputs.training.get("stage_seconds", {}).items())
    lines = [
        f"# Offline evaluation {inputs.run_id}",
        "",
        f"- dataset: {inputs.dataset}; config hash `{inputs.config_hash}`; k = {inputs.k}",
        f"- cut: {inputs.cut:%Y-%m-%d %H:%M} UTC; training: {inputs.training['events']:,} events of "
        f"{inputs.training['users']:,} users (retrained in {inputs.training['root']}: {seconds})",
        "- metrics are means over queries; a query without a list scores 0. HitRate: share of queries with a "
        "relevant item in the top k; NDCG and MAP reward early hits; coverage: share of the catalogue shown; "
        "diversity: share of list pairs from different categories; novelty: mean -log2 popularity of shown items.",
        "",
    ]
    for task in [*tasks, *sorted(t for t in table.index.get_level_values(0).unique() if t not in tasks)]:
        sizes = inputs.task_sizes.get(task, {})
        frame = table.loc[task][[c for c in (*ACCURACY_METRICS, *LIST_METRICS) if c in table.columns]]
        lines += [f"## {task} task", "", TASK_TEXT.get(task, "Planted complements of the sample world: recall is "
                  "the share of an anchor's planted complements in its top k (recovery)."), "",
                  f"{sizes.get('queries', 0):,} queries, {sizes.get('keys', 0):,} lists, "
                  f"{sizes.get('relevant', 0):,} relevant items.", "", _markdown_table(frame), ""]  # fmt: skip
        if task in tasks:
            leads = inputs.leads.get(task, {})
            lines += [pipeline_verdict(leads, inputs.targets), ""]
            if leads:
                lines += ["Pipeline minus each baseline, mean over queries with a 95 % paired-bootstrap interval:", "",
                          _lead_table(leads, inputs.targets), ""]  # fmt: skip
            wide = _category_rows(inputs.figures, task, inputs.category_names)
            if not wide.empty:
                table_md = _markdown_table(wide.round(4), index_name="category (queries)", best_per_row=True)
                lines += [f"Hit rate by target category (largest {CATEGORIES_SHOWN}, best per row in bold):", "",
                          table_md, ""]  # fmt: skip
    lines += _ranker_section(inputs.ranker)
    lines += [
        "## Plots",
        "",
        f"![metrics per method]({METRIC_BARS})",
        "",
        f"![hit rate per category]({CATEGORY_HITS})",
        "",
        f"![score distributions of hits and misses]({SCORE_DISTRIBUTIONS})",
        "",
    ]
    path = folder / REPORT_FILE
    path.write_text("\n".join(lines))
    return path
