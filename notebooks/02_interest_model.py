# Databricks notebook source
# MAGIC %md
# MAGIC # Inspect the interest model
# MAGIC How the ALS model published by `crosssell train-interest` sees users and items: the length of
# MAGIC their latent vectors (factor norms) against how much history they have, where cold items'
# MAGIC factors came from, and a heat map of chosen users' interest in each category.
# MAGIC Set `lakehouse_root` to your lakehouse; list users in `users` (comma-separated) or leave it
# MAGIC empty for the `top_users` most active ones.

# COMMAND ----------

dbutils.widgets.text("lakehouse_root", "./lakehouse", "Lakehouse root")
dbutils.widgets.text("plot_dir", "./lakehouse/_notebooks", "Where plots are saved")
dbutils.widgets.text("users", "", "Users (comma-separated, empty: most active)")
dbutils.widgets.dropdown("top_users", "12", ["6", "12", "24"], "How many most active users")

# COMMAND ----------

from pathlib import Path

import matplotlib.pyplot as plt

from crosssell_spark import insights
from crosssell_spark.config import LakehouseConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.tables import CATEGORIES, INTEREST_MODEL_RUNS, ITEM_FACTORS, USER_CATEGORY_INTEREST, USER_FACTORS

lake = Lakehouse(spark, LakehouseConfig(root=dbutils.widgets.get("lakehouse_root")))
plot_dir = Path(dbutils.widgets.get("plot_dir"))
plot_dir.mkdir(parents=True, exist_ok=True)
user_factors, item_factors = lake.read(USER_FACTORS.name), lake.read(ITEM_FACTORS.name)
interest, categories = lake.read(USER_CATEGORY_INTEREST.name), lake.read(CATEGORIES.name)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The training runs

# COMMAND ----------

display(lake.read(INTEREST_MODEL_RUNS.name).select("run_id", "mode", "rank_factors", "reg_param", "alpha", "n_users", "n_items", "density", "training_seconds"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Factor norms
# MAGIC A longer vector means a stronger, more consistent signal. Items filled from a category centroid
# MAGIC (no history) should sit apart from trained ones; norms should grow with history.

# COMMAND ----------

user_norms = insights.factor_norms(user_factors)
item_norms = insights.factor_norms(item_factors)
item_norm_summary = insights.norm_summary(item_norms, "factor_source")
display(item_norm_summary)
user_norm_by_history = insights.norm_by_history(user_norms, "history_items").toPandas()
item_norm_by_history = insights.norm_by_history(item_norms.where("factor_source = 'als'"), "history_users").toPandas()
display(user_norm_by_history)

# COMMAND ----------

figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
left.hist(user_norms.select("norm").toPandas()["norm"], bins=40, alpha=0.6, label="users")
left.hist(item_norms.where("factor_source = 'als'").select("norm").toPandas()["norm"], bins=40, alpha=0.6, label="items (ALS)")
left.set_title("Factor norms")
left.set_xlabel("L2 norm")
left.legend()
middle.plot(user_norm_by_history["history_bucket"], user_norm_by_history["mean_norm"], marker="o", label="users")
middle.plot(item_norm_by_history["history_bucket"], item_norm_by_history["mean_norm"], marker="o", label="items")
middle.set_xscale("log", base=2)
middle.set_title("Mean norm by history size")
middle.set_xlabel("history (distinct items / users, power-of-two buckets)")
middle.legend()
by_source = item_norm_summary.toPandas()
right.bar(by_source["factor_source"], by_source["median_norm"])
right.set_title("Median item norm by factor source")
factor_norms_plot = plot_dir / "factor_norms.png"
figure.savefig(factor_norms_plot, bbox_inches="tight")
display(figure)
plt.close(figure)
print(f"saved {factor_norms_plot}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Category interest
# MAGIC Every category's mean interest over all users, then the chosen users' interest per category
# MAGIC (darker: more interested; a dot marks a category the user never touched, i.e. a cross-sell opening).

# COMMAND ----------

profile = insights.category_interest_profile(interest, categories)
display(profile)
users = insights.parse_keys(dbutils.widgets.get("users")) or insights.most_active_users(
    user_factors, int(dbutils.widgets.get("top_users"))
)
grid = insights.interest_grid(interest, categories, users).toPandas()
display(grid.head(20))

# COMMAND ----------

scores = grid.pivot_table(index="user_id", columns="category_name", values="interest_score").fillna(0.0)
unseen = grid.pivot_table(index="user_id", columns="category_name", values="is_new_category", aggfunc="max")
unseen = unseen.reindex(index=scores.index, columns=scores.columns).fillna(False).astype(bool)
figure, axes = plt.subplots(figsize=(max(8, 0.45 * len(scores.columns)), max(4, 0.4 * len(scores.index))))
image = axes.imshow(scores.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
axes.set_xticks(range(len(scores.columns)), scores.columns, rotation=75, ha="right", fontsize=8)
axes.set_yticks(range(len(scores.index)), scores.index, fontsize=8)
rows, columns = unseen.to_numpy().nonzero()
axes.scatter(columns, rows, marker=".", color="white", s=12)
axes.set_title("Interest score per user and category (dot: category new to the user)")
figure.colorbar(image, ax=axes, label="interest score")
heatmap_plot = plot_dir / "category_interest_heatmap.png"
figure.savefig(heatmap_plot, bbox_inches="tight")
display(figure)
plt.close(figure)
print(f"saved {heatmap_plot}")
