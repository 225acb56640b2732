# Databricks notebook source
# MAGIC %md
# MAGIC # Offline evaluation: does the pipeline beat the baselines?
# MAGIC Reads the `evaluation` table written by `crosssell evaluate` (one row per run, task, method,
# MAGIC metric and, for per-category rows, category). Shows the latest run's figures, the headline
# MAGIC metrics per method, how unevenly categories are served, and how the pipeline moved across runs.
# MAGIC Set `lakehouse_root` to your lakehouse; `run_id` empty means the latest run.

# COMMAND ----------

dbutils.widgets.text("lakehouse_root", "./lakehouse", "Lakehouse root")
dbutils.widgets.text("run_id", "", "Evaluation run (empty: latest)")
dbutils.widgets.text("plot_dir", "./lakehouse/_notebooks", "Where plots are saved")

# COMMAND ----------

from pathlib import Path

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from crosssell_spark.config import LakehouseConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.tables import EVALUATION

lake = Lakehouse(spark, LakehouseConfig(root=dbutils.widgets.get("lakehouse_root")))
plot_dir = Path(dbutils.widgets.get("plot_dir"))
plot_dir.mkdir(parents=True, exist_ok=True)
evaluation = lake.read(EVALUATION.name)
run_id = dbutils.widgets.get("run_id") or evaluation.orderBy(F.col("evaluated_at").desc()).first()["run_id"]
latest = evaluation.where(F.col("run_id") == run_id)
print(f"run {run_id}: {latest.count()} rows")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every method on every task (whole-task rows)

# COMMAND ----------

overall = (
    latest.where(F.col("category").isNull())
    .groupBy("dataset", "task", "method")
    .pivot("metric")
    .agg(F.first("value"))
    .orderBy("task", "method")
)
display(overall)
figures = overall.toPandas().set_index(["task", "method"])
assert "pipeline" in figures.index.get_level_values("method"), "the pipeline was not scored in this run"

# COMMAND ----------

# MAGIC %md
# MAGIC ## Headline metrics: HitRate@k and NDCG@k per method

# COMMAND ----------

tasks = [t for t in ("anchor", "user") if t in figures.index.get_level_values("task")]
fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
for ax, task in zip(axes[0], tasks):
    figures.loc[task][["hit_rate", "ndcg"]].plot.bar(ax=ax, rot=20)
    ax.set_title(f"{task} task")
fig.tight_layout()
fig.savefig(plot_dir / "evaluation_headline.png", dpi=100)
display(fig)
plt.close(fig)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Uneven categories: spread of per-category hit rates
# MAGIC Each dot is one target category; a method that only serves the big categories has a wide spread.

# COMMAND ----------

per_category = latest.where(F.col("category").isNotNull() & F.col("task").isin(*tasks)).toPandas()
fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
for ax, task in zip(axes[0], tasks):
    rows = per_category[per_category["task"] == task]
    methods = sorted(rows["method"].unique())
    ax.boxplot([rows.loc[rows["method"] == m, "value"] for m in methods], tick_labels=methods)
    ax.set_title(f"{task}: per-category hit rate")
    ax.tick_params(axis="x", rotation=20)
fig.tight_layout()
fig.savefig(plot_dir / "evaluation_categories.png", dpi=100)
display(fig)
plt.close(fig)
display(
    latest.where(F.col("category").isNotNull() & (F.col("method") == "pipeline"))
    .orderBy(F.col("queries").desc())
    .select("task", "category", "value", "queries")
    .limit(20)
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The pipeline across runs (one point per evaluation run and config hash)

# COMMAND ----------

history = (
    evaluation.where((F.col("method") == "pipeline") & F.col("category").isNull() & (F.col("metric") == "hit_rate"))
    .select("evaluated_at", "config_hash", "task", "value")
    .orderBy("evaluated_at")
    .toPandas()
)
fig, ax = plt.subplots(figsize=(7, 3.5))
for task, rows in history.groupby("task"):
    ax.plot(rows["evaluated_at"], rows["value"], marker="o", label=task)
ax.set_ylabel("pipeline hit rate at k")
ax.legend()
fig.autofmt_xdate()
fig.tight_layout()
fig.savefig(plot_dir / "evaluation_history.png", dpi=100)
display(fig)
plt.close(fig)
display(history)
