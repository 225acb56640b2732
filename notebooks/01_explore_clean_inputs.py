# Databricks notebook source
# MAGIC %md
# MAGIC # Explore the cleaned inputs
# MAGIC What the cleaning stage published: how much of each input survived and why the rest was
# MAGIC quarantined, what the catalogue's category tree looks like, and how events spread over time.
# MAGIC Set `lakehouse_root` to your lakehouse (a path, or the `root` of your cluster config).

# COMMAND ----------

dbutils.widgets.text("lakehouse_root", "./lakehouse", "Lakehouse root")
dbutils.widgets.text("plot_dir", "./lakehouse/_notebooks", "Where plots are saved")

# COMMAND ----------

from pathlib import Path

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from crosssell_spark.config import LakehouseConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.tables import (
    CATEGORIES,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
    RECONCILIATION,
)

lake = Lakehouse(spark, LakehouseConfig(root=dbutils.widgets.get("lakehouse_root")))
plot_dir = Path(dbutils.widgets.get("plot_dir"))
plot_dir.mkdir(parents=True, exist_ok=True)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Nothing lost: read = clean + quarantined + duplicates, per input and run

# COMMAND ----------

reconciliation = lake.read(RECONCILIATION.name).orderBy(F.col("recorded_at").desc())
display(reconciliation)
assert reconciliation.filter(~F.col("balanced")).count() == 0, "an unbalanced run was recorded"

# COMMAND ----------

# MAGIC %md
# MAGIC ## Why rows were quarantined

# COMMAND ----------

quarantine_reasons = (
    lake.read(EVENTS_QUARANTINE.name).groupBy("reason").count()
    .unionByName(lake.read(ITEMS_QUARANTINE.name).groupBy("reason").count().withColumn("reason", F.concat(F.lit("item:"), "reason")))
    .orderBy(F.col("count").desc())
)
display(quarantine_reasons)
display(lake.read(EVENTS_QUARANTINE.name).select("reason", "detail", "user_id", "item_id", "event_ts").limit(10))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Events per day and type

# COMMAND ----------

daily = lake.read(EVENTS_CLEAN.name).groupBy("event_date", "event_type").count().orderBy("event_date").toPandas()
pivot = daily.pivot(index="event_date", columns="event_type", values="count").fillna(0)
axes = pivot.plot(figsize=(10, 4), title="Clean events per day")
axes.set_ylabel("events")
events_plot = plot_dir / "events_per_day.png"
axes.figure.savefig(events_plot, bbox_inches="tight")
display(axes.figure)
plt.close(axes.figure)
print(f"saved {events_plot}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The category tree: items per top-level category

# COMMAND ----------

categories = lake.read(CATEGORIES.name)
display(categories.groupBy("level").agg(F.count("*").alias("categories"), F.sum(F.col("is_leaf").cast("int")).alias("leaves")))
items_per_department = (
    lake.read(ITEMS_CLEAN.name).groupBy(F.element_at("category_names", 1).alias("department")).count().orderBy(F.col("count").desc())
)
display(items_per_department)
frame = items_per_department.toPandas()
axes = frame.plot.barh(x="department", y="count", legend=False, figsize=(8, 4), title="Items per department")
departments_plot = plot_dir / "items_per_department.png"
axes.figure.savefig(departments_plot, bbox_inches="tight")
display(axes.figure)
plt.close(axes.figure)
print(f"saved {departments_plot}")
