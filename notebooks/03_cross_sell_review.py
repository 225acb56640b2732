# Databricks notebook source
# MAGIC %md
# MAGIC # Review cross-sell lists
# MAGIC The lists `crosssell candidates` published, with the reason behind every slot: pick anchor
# MAGIC items and users with the widgets (comma-separated ids; empty picks the strongest anchors and
# MAGIC the most active users), read what each was recommended and why, and see what the user did
# MAGIC before. Set `lakehouse_root` to your lakehouse.

# COMMAND ----------

dbutils.widgets.text("lakehouse_root", "./lakehouse", "Lakehouse root")
dbutils.widgets.text("plot_dir", "./lakehouse/_notebooks", "Where plots are saved")
dbutils.widgets.text("anchors", "", "Anchor items (comma-separated, empty: strongest)")
dbutils.widgets.text("users", "", "Users (comma-separated, empty: most active)")
dbutils.widgets.dropdown("picks", "3", ["1", "3", "5", "10"], "How many to pick when empty")
dbutils.widgets.dropdown("cross_level", "2", ["1", "2", "3"], "Category level of the user history")

# COMMAND ----------

from pathlib import Path

import matplotlib.pyplot as plt

from crosssell_spark import insights
from crosssell_spark.config import LakehouseConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.tables import CATEGORIES, EVENTS_CLEAN, ITEM_CROSS_SELL, ITEMS_CLEAN, USER_CROSS_SELL, USER_FACTORS

lake = Lakehouse(spark, LakehouseConfig(root=dbutils.widgets.get("lakehouse_root")))
plot_dir = Path(dbutils.widgets.get("plot_dir"))
plot_dir.mkdir(parents=True, exist_ok=True)
picks = int(dbutils.widgets.get("picks"))
item_lists, user_lists = lake.read(ITEM_CROSS_SELL.name), lake.read(USER_CROSS_SELL.name)
items, categories = lake.read(ITEMS_CLEAN.name), lake.read(CATEGORIES.name)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Lists for chosen anchor items

# COMMAND ----------

anchors = insights.parse_keys(dbutils.widgets.get("anchors")) or insights.strongest_anchors(item_lists, picks)
anchor_review = insights.item_list_review(item_lists, items, categories, anchors)
display(anchor_review.select("anchor_title", "rank", "item_title", "item_category_name", "score", "source", "reason"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Lists for chosen users, beside what they did

# COMMAND ----------

users = insights.parse_keys(dbutils.widgets.get("users")) or insights.most_active_users(lake.read(USER_FACTORS.name), picks)
history = insights.user_history(lake.read(EVENTS_CLEAN.name), items, categories, users, int(dbutils.widgets.get("cross_level")))
display(history)
user_review = insights.user_list_review(user_lists, items, categories, users)
display(user_review.select("user_id", "rank", "item_title", "item_category_name", "score", "source", "is_new_category", "reason"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Why items are recommended: reason codes over all lists, and the chosen lists' scores

# COMMAND ----------

reasons = insights.reason_code_counts(item_lists, user_lists).toPandas()
display(reasons)
figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4))
pivot = reasons.pivot_table(index="reason_code", columns="list_type", values="count", fill_value=0)
pivot.plot.barh(ax=left, title="Recommendations per reason code")
left.set_xlabel("recommendations")
for key, frame in anchor_review.toPandas().groupby("anchor_item_id"):
    right.plot(frame["rank"], frame["score"], marker="o", label=f"item {key}")
for key, frame in user_review.toPandas().groupby("user_id"):
    right.plot(frame["rank"], frame["score"], marker="x", linestyle="--", label=f"user {key}")
right.set_title("Score by rank of the chosen lists")
right.set_xlabel("rank")
right.set_ylabel("score")
right.legend(fontsize=7)
review_plot = plot_dir / "cross_sell_review.png"
figure.savefig(review_plot, bbox_inches="tight")
display(figure)
plt.close(figure)
print(f"saved {review_plot}")
