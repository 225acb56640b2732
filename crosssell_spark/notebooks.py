"""Run Databricks source-format notebooks outside Databricks (local Spark, a `dbutils` stand-in).

A Databricks source notebook is a Python file whose cells are separated by
`# COMMAND ----------` and whose Markdown cells are `# MAGIC` comments, so it runs as Python once
`spark`, `dbutils` and `display` exist. Notebooks hold no business logic: they import the package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
CELL_SEPARATOR = "# COMMAND ----------"
HEADER = "# Databricks notebook source"


class LocalWidgets:
    """The subset of `dbutils.widgets` the notebooks use, fed from a dict of parameters."""

    def __init__(self, params: dict[str, str]) -> None:
        self._params: dict[str, str] = dict(params)
        self._defaults: dict[str, str] = {}

    def text(self, name: str, default_value: str, label: str | None = None) -> None:
        self._defaults[name] = default_value

    def dropdown(self, name: str, default_value: str, choices: list[str], label: str | None = None) -> None:
        self._defaults[name] = default_value

    def get(self, name: str) -> str:
        if name in self._params:
            return self._params[name]
        if name in self._defaults:
            return self._defaults[name]
        raise ValueError(f"widget {name!r} was never defined and no value was passed")


class LocalDbutils:
    """A stand-in for Databricks' `dbutils` with widgets only."""

    def __init__(self, params: dict[str, str] | None = None) -> None:
        self.widgets = LocalWidgets(params or {})


class LocalDisplay:
    """Databricks' `display`: shows a DataFrame's first rows, names a matplotlib figure (Databricks
    draws it inline; here it is only recorded, the notebook saves it as a file too), prints anything
    else. `shown` keeps every object passed, in order."""

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self.shown: list[Any] = []

    def __call__(self, obj: Any) -> None:
        self.shown.append(obj)
        if isinstance(obj, DataFrame):
            obj.show(self.limit, truncate=False)
        elif isinstance(obj, Figure):
            titles = [axes.get_title() for axes in obj.get_axes() if axes.get_title()]
            print(f"[figure: {'; '.join(titles) or 'untitled'}]")
        else:
            print(obj)


def cells(path: Path) -> list[str]:
    """The code of each cell of a Databricks source notebook."""
    text = path.read_text()
    if not text.startswith(HEADER):
        raise ValueError(f"{path} is not a Databricks source notebook (first line must be {HEADER!r})")
    return [cell.strip() for cell in text.removeprefix(HEADER).split(CELL_SEPARATOR) if cell.strip()]


def run_notebook(path: Path, spark: SparkSession, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Execute every cell in order with `spark`, `dbutils` and `display`; return the namespace.
    Plots render off screen (matplotlib's Agg backend), as a cluster without a screen would."""
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {
        "spark": spark,
        "dbutils": LocalDbutils(params),
        "display": LocalDisplay(),
        "__name__": "__notebook__",
    }
    for number, code in enumerate(cells(path), start=1):
        log.info("%s: cell %d", path.name, number)
        exec(compile(code, f"{path}#cell{number}", "exec"), namespace)  # our own notebook, run as Databricks would
    return namespace
