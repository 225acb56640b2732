"""crosssell-spark: cross-category cross-selling recommendations on Apache Spark and Delta Lake."""

__version__ = "0.1.0"
