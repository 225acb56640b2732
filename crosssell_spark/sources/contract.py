"""The input contract every source adapter delivers: raw events and catalogue as strings."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.schemas import RAW_EVENTS_SCHEMA, RAW_ITEMS_SCHEMA


class InputError(ValueError):
    """The input cannot be read as configured: a path that does not exist, a mapped column the files
    lack. The CLI prints the message on one line and exits 3."""


@dataclass(frozen=True)
class RawInputs:
    """Raw events and catalogue in the contract's column order, every column a string."""

    events: DataFrame
    items: DataFrame


def to_contract(df: DataFrame, kind: str) -> DataFrame:
    """Select the contract columns (missing ones as null), every value a nullable string."""
    schema = RAW_EVENTS_SCHEMA if kind == "events" else RAW_ITEMS_SCHEMA
    no_value = F.lit(None).cast("string")
    return df.select(
        [
            # nullif(x, NULL) is x, but always nullable: constant columns keep the contract schema
            F.nullif((F.col(f.name) if f.name in df.columns else no_value).cast("string"), no_value).alias(f.name)
            for f in schema.fields
        ]
    )
