"""Reading the category hierarchy of published items at a configured level."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from crosssell_spark.schemas import CATEGORY_IDS


def category_at_level(level: int, category_ids: Column | str = CATEGORY_IDS) -> Column:
    """An item's category id at hierarchy `level` (its leaf when the path is shallower)."""
    ids = F.col(category_ids) if isinstance(category_ids, str) else category_ids
    return F.element_at(ids, F.least(F.lit(level), F.size(ids)))
