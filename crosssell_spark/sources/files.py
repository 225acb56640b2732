"""Your own files (CSV, Parquet, JSON or Delta) mapped onto the input contract by config."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import InputConfig, TableInputConfig
from crosssell_spark.schemas import CATEGORY_PATH, CATEGORY_SEPARATOR
from crosssell_spark.sources import DAY_PARTITION, RFC4180_CSV, day_partition
from crosssell_spark.sources.contract import InputError, RawInputs, to_contract


def read_table(spark: SparkSession, table: TableInputConfig, run_date: date | None = None) -> DataFrame:
    """Read one configured input; CSV columns stay strings (no schema inference) and are parsed the
    RFC 4180 way unless the table's options say otherwise (`RFC4180_CSV`).

    With `run_date`, only that day: the `event_date=D` folder of files, or that partition of a Delta table.
    """
    assert table.path, "validated by InputConfig"
    options = {**RFC4180_CSV, **table.options} if table.format == "csv" else table.options
    reader = spark.read.format(table.format).options(**options)
    if run_date is None:
        return reader.load(table.path)
    if table.format == "delta":
        return reader.load(table.path).where(F.col(DAY_PARTITION) == F.lit(run_date)).drop(DAY_PARTITION)
    return reader.load(day_partition(table.path, run_date))


def rename_to_contract(columns: dict[str, str]) -> Callable[[DataFrame], DataFrame]:
    """Rename source columns to contract names (`columns` maps contract -> source)."""

    def transform(df: DataFrame) -> DataFrame:
        absent = sorted(source for source in columns.values() if source not in df.columns)
        if absent:
            raise InputError(f"configured source columns {absent} not found; the input has {df.columns}")
        renamed = {source: contract for contract, source in columns.items()}
        return df.select([F.col(c).alias(renamed.get(c, c)) for c in df.columns])

    return transform


def category_path_from(table: TableInputConfig) -> Callable[[DataFrame], DataFrame]:
    """Build `category_path` from level columns, or re-join a path written with another separator."""

    def transform(df: DataFrame) -> DataFrame:
        if table.category_columns:
            levels = [F.nullif(F.trim(F.col(c).cast("string")), F.lit("")) for c in table.category_columns]
            return df.withColumn(CATEGORY_PATH, F.concat_ws(CATEGORY_SEPARATOR, *levels))
        if table.category_separator and CATEGORY_PATH in df.columns:
            parts = F.split(F.col(CATEGORY_PATH).cast("string"), _regex_literal(table.category_separator), -1)
            return df.withColumn(
                CATEGORY_PATH,
                F.when(F.col(CATEGORY_PATH).isNull(), None).otherwise(
                    F.array_join(F.transform(parts, F.trim), CATEGORY_SEPARATOR)
                ),
            )
        return df

    return transform


def _regex_literal(text: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() and not ch.isspace() else ch for ch in text)


def read_raw(spark: SparkSession, config: InputConfig, run_date: date | None = None) -> RawInputs:
    """Events (only `run_date`'s when given) and catalogue from configured files, shaped into the contract."""
    events = read_table(spark, config.events, run_date).transform(rename_to_contract(config.events.columns))
    items = (
        read_table(spark, config.catalogue)
        .transform(rename_to_contract(config.catalogue.columns))
        .transform(category_path_from(config.catalogue))
    )
    return RawInputs(events=to_contract(events, "events"), items=to_contract(items, "items"))
