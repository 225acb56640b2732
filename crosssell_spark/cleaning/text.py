"""Text normalisation shared by the cleaning rules: Unicode NFKC, whitespace, slugs."""

from __future__ import annotations

import unicodedata

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType


@pandas_udf(StringType())  # type: ignore[call-overload]
def _nfkc(values: pd.Series) -> pd.Series:
    return values.map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v)


def normalise_text(column: Column | str) -> Column:
    """NFKC (full-width letters, ligatures), collapse whitespace runs, trim; blank becomes null."""
    collapsed = F.trim(F.regexp_replace(_nfkc(F.col(column) if isinstance(column, str) else column), r"\s+", " "))
    return F.when(collapsed == "", None).otherwise(collapsed)


def blank_to_null(column: Column | str) -> Column:
    """Trimmed value, or null when empty — for ids and codes that need no Unicode folding."""
    trimmed = F.trim(F.col(column) if isinstance(column, str) else column)
    return F.when(trimmed == "", None).otherwise(trimmed)


def slug(column: Column) -> Column:
    """Lower-case, letters and digits of any script kept, every other run becomes '-'."""
    return F.regexp_replace(F.regexp_replace(F.lower(column), r"[^\p{L}\p{N}]+", "-"), r"^-+|-+$", "")
