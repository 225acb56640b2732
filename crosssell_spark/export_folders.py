"""Serving exports: the published lists as JSON lines, one folder per run, for a job without Spark.

    <root>/_exports/runs/<run_id>/<table>/part-*.json   one object per list key
    <root>/_exports/runs/<run_id>/manifest.json         what the folder holds (below)
    <root>/_exports/LATEST                              the run id of the newest complete folder

A folder is written in full, manifest last, before `LATEST` names it, and `LATEST` is replaced by a
rename: a reader that follows it gets one whole run, never half of one or a mix of two. Older
folders stay until `crosssell maintain` keeps the newest `maintenance.keep_exports`; `forget` scrubs
its users from every folder it keeps. Files go through Hadoop's FileSystem, so any root works.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession

EXPORTS, RUNS, LATEST, MANIFEST = "_exports", "runs", "LATEST", "manifest.json"


@dataclass(frozen=True)
class ExportSet:
    """One run's export folder: its run id, folder and per-table folders."""

    run_id: str
    folder: str
    tables: dict[str, str]


class Exports:
    """The export folders under one lakehouse root."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark, self.root = spark, f"{root.rstrip('/')}/{EXPORTS}"
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._jvm, self._conf = jvm, spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = jvm.org.apache.hadoop.fs.Path(self.root).getFileSystem(self._conf)

    def folder(self, run_id: str) -> str:
        return f"{self.root}/{RUNS}/{run_id}"

    def write(self, run_id: str, frames: Mapping[str, DataFrame], manifest: Mapping[str, Any]) -> ExportSet:
        """Write each frame as `<run folder>/<name>/` JSON lines, then the manifest (with each table's
        key count), then point LATEST at the folder. Rewriting a run id replaces its folder."""
        folder = self.folder(run_id)
        self._delete(folder)
        tables = {}
        for name, df in frames.items():
            tables[name] = f"{folder}/{name}"
            df.write.json(tables[name])
        counts = {name: self.spark.read.text(path).count() for name, path in tables.items()}  # a line per key
        body = {"run_id": run_id, **manifest, "tables": {n: {"path": p, "keys": counts[n]} for n, p in tables.items()}}
        self._write_text(f"{folder}/{MANIFEST}", json.dumps(body, indent=2, sort_keys=True, default=str))
        self._replace(f"{self.root}/{LATEST}", run_id)
        return ExportSet(run_id, folder, tables)

    def latest(self) -> str | None:
        """The run id LATEST names (None before the first export)."""
        path = f"{self.root}/{LATEST}"
        return self._read_text(path).strip() if self._exists(path) else None

    def manifest(self, run_id: str) -> dict[str, Any]:
        return dict(json.loads(self._read_text(f"{self.folder(run_id)}/{MANIFEST}")))

    def runs(self) -> list[str]:
        """Run ids with a complete folder (a manifest), oldest first (run ids start with their time)."""
        runs = self._jvm.org.apache.hadoop.fs.Path(f"{self.root}/{RUNS}")
        if not self._fs.exists(runs):
            return []
        names = [s.getPath().getName() for s in self._fs.listStatus(runs) if s.isDirectory()]
        return sorted(n for n in names if self._exists(f"{self.folder(n)}/{MANIFEST}"))

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest `keep` folders (never the one LATEST names); the run ids removed."""
        runs, latest = self.runs(), self.latest()
        doomed = [r for r in runs[: max(len(runs) - keep, 0)] if r != latest]
        for run_id in doomed:
            self._delete(self.folder(run_id))
        return doomed

    def scrub(self, table: str, drop: Column) -> dict[str, int]:
        """Rewrite `table` in every kept folder without the rows matching `drop`; run id -> rows removed.
        Each table is rewritten beside itself and then swapped in."""
        removed = {}
        for run_id in self.runs():
            path = f"{self.folder(run_id)}/{table}"
            if not self._exists(path):
                continue
            rows = self.spark.read.json(path)
            hits = rows.where(drop).count() if rows.columns else 0  # an empty export has no columns
            if hits:
                rows.where(~drop).write.json(f"{path}.scrubbed")
                self._delete(path)
                self._rename(f"{path}.scrubbed", path)
            removed[run_id] = hits
        return removed

    # --- Hadoop FileSystem ----------------------------------------------------------------------

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def _exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def _delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def _rename(self, source: str, target: str) -> None:
        if not self._fs.rename(self._path(source), self._path(target)):
            raise OSError(f"could not rename {source} to {target}")

    def _write_text(self, path: str, text: str) -> None:
        out = self._fs.create(self._path(path), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def _read_text(self, path: str) -> str:
        stream = self._fs.open(self._path(path))
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            while (line := reader.readLine()) is not None:
                lines.append(line)
            return "\n".join(lines)
        finally:
            stream.close()

    def _replace(self, path: str, text: str) -> None:
        """Write `text` to a temporary file beside `path`, then rename it over `path` in one step
        (Hadoop's FileContext rename with OVERWRITE; an object store's single-object write is atomic)."""
        temporary = f"{path}.{text}.tmp"
        self._write_text(temporary, text)
        context = self._jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._path(path).toUri(), self._conf)
        rename = getattr(self._jvm.org.apache.hadoop.fs, "Options$Rename")
        gateway = self.spark.sparkContext._gateway
        assert gateway is not None
        options = gateway.new_array(rename, 1)
        options[0] = rename.OVERWRITE
        context.rename(self._path(temporary), self._path(path), options)
