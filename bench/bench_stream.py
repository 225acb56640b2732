"""Streaming refresh: event-to-recommendation latency, throughput, and fold-in vs full-retrain quality.

1. A sample world (BENCH_STREAM_EVENTS raw events, default 60k) runs through the batch pipeline on
   local[2]; that lakehouse is what the stream refreshes.
2. For each rate in BENCH_STREAM_RATES (files per second, default 1,10), a producer lands files of
   1,000 events (existing and new users, items drawn by popularity, views/carts/purchases) for
   BENCH_STREAM_SECONDS while `crosssell stream` runs with a processingTime trigger, after
   BENCH_STREAM_WARMUP_SECONDS (default 120) of 1 file/s that are not measured. Latency of a
   file = the commit of its users' user_cross_sell rows by the micro-batch that read it (the
   batch's end if it refreshed nobody) minus the moment the file was renamed into the landing
   folder; p50/p95 over files. Throughput =
   events / (last batch end - first file landed).
3. Fold-in quality: users with >= 6 distinct items each hold out their latest item; some of their
   other items are "streamed" (split `recent`: those of the last BENCH_STREAM_RECENT_DAYS days, for
   users active then; split `half`: the later half of every such user's items). A full retrain
   fits ALS on every non-held-out interaction; the stale model fits ALS without the streamed
   ones, then the users are folded in from all their non-held-out interactions against the
   stale item factors. HitRate@10 of the held-out item among unseen items, same users, both ways.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORLD_EVENTS = int(os.environ.get("BENCH_STREAM_EVENTS", "60000"))
RATES = [float(r) for r in os.environ.get("BENCH_STREAM_RATES", "1,5,10").split(",")]
SECONDS = float(os.environ.get("BENCH_STREAM_SECONDS", "60"))
# A rate listed here lands files for this long instead: is the stream keeping up over five minutes
# (backlog slope), not just over one.
SUSTAINED_SECONDS = {5.0: float(os.environ.get("BENCH_STREAM_SUSTAINED_SECONDS", "300"))}
# Not measured: 1 file/s for this long first, until the JVM has compiled the micro-batch's hot code
# (batch time falls for ~10 batches after a start); what a long-running stream sees is what is measured.
WARMUP_SECONDS = float(os.environ.get("BENCH_STREAM_WARMUP_SECONDS", "120"))
PREBUILT = os.environ.get("BENCH_STREAM_LAKEHOUSE")  # reuse a batch-built lakehouse instead of running run-all
PARTS = os.environ.get("BENCH_STREAM_PARTS", "latency,quality").split(",")
EVENTS_PER_FILE = 1000
NEW_USER_SHARE = 0.05
MAX_FILES_PER_TRIGGER = 100  # at 10 files/s a batch must absorb the files that landed while the last one ran
HOLDOUT_MIN_ITEMS = 6
RECENT_DAYS = int(os.environ.get("BENCH_STREAM_RECENT_DAYS", "3"))  # "recent" split: days since the last batch run
SPLITS = os.environ.get("BENCH_STREAM_SPLITS", "recent,half").split(",")
K = 10
SEED = 20261129


def _config(scratch: Path, *overrides: str) -> Any:
    from crosssell_spark.config import load_config

    return load_config(
        base=PROJECT_ROOT / "conf" / "base.yaml",
        overrides=[
            "spark.master=local[2]",
            "spark.shuffle_partitions=4",
            "spark.log_level=ERROR",
            f"lakehouse.root={scratch / 'lakehouse'}",
            f"sample.path={scratch / 'world'}",
            f"sample.events={WORLD_EVENTS}",
            *overrides,
        ],
    )


class Producer(threading.Thread):
    """Lands `rate` files per second of EVENTS_PER_FILE JSON-line events; records when each landed."""

    def __init__(self, landing: Path, rate: float, seconds: float, users: np.ndarray, items: np.ndarray,
                 weights: np.ndarray, start_ts: Any, seed: int, prefix: str = "") -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.landing, self.rate, self.seconds, self.prefix = landing, rate, seconds, prefix
        self.users, self.items, self.weights, self.start_ts = users, items, weights, start_ts
        self.rng = np.random.default_rng(seed)
        self.landed: dict[str, float] = {}

    def _lines(self, n: int) -> str:
        rng, size = self.rng, EVENTS_PER_FILE
        new = rng.random(size) < NEW_USER_SHARE
        users = np.where(new, [f"bench-new-{n}-{i % 50}" for i in range(size)], rng.choice(self.users, size))
        items = rng.choice(self.items, size, p=self.weights)
        kinds = rng.choice(["view", "cart", "purchase"], size, p=[0.7, 0.2, 0.1])
        ts = self.start_ts + timedelta(seconds=n)
        stamp = ts.strftime("%Y-%m-%d %H:%M:%S")
        return "".join(
            json.dumps({"user_id": str(u), "item_id": str(i), "event_type": str(k), "event_ts": stamp,
                        "session_id": f"bench-{u}-{n}", "quantity": "1"}) + "\n"
            for u, i, k in zip(users, items, kinds, strict=True)
        )  # fmt: skip

    def run(self) -> None:
        began, n = time.time(), 0
        while n < self.seconds * self.rate:
            due = began + n / self.rate
            time.sleep(max(0.0, due - time.time()))
            name = f"{self.prefix}{n:06d}.json"
            tmp = self.landing.parent / f".{name}"
            tmp.write_text(self._lines(n))
            os.replace(tmp, self.landing / name)
            self.landed[name] = time.time()
            n += 1


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def backlog(landed: list[float], processed: list[tuple[float, int]], until: float) -> dict[str, Any]:
    """Files landed but not yet processed, at each batch end while files were landing: the median, the
    last, the least-squares slope in files per minute (about 0 when the stream keeps up), and the
    means over the first and the last minute (a stream that keeps up holds about one batch's files).

    Args:
        landed: when each file landed. processed: (batch end, files it took) per batch.
        until: when the last file landed.
    """
    landed_sorted = np.sort(np.asarray(landed))
    done, points = 0, []
    for end, files in sorted(processed):
        done += files
        if end <= until:
            points.append((end, int(np.searchsorted(landed_sorted, end, side="right")) - done))
    if len(points) < 2:
        names = ("files_p50", "files_last", "slope_files_per_min", "files_first_minute_mean", "files_last_minute_mean")
        return {f"backlog_{name}": None for name in names}
    t, waiting = np.asarray(points, dtype=float).T
    return {
        "backlog_files_p50": _percentile(list(waiting), 50),
        "backlog_files_last": int(waiting[-1]),
        "backlog_slope_files_per_min": round(float(np.polyfit(t - t[0], waiting, 1)[0]) * 60, 2),
        "backlog_files_first_minute_mean": round(float(waiting[t <= t[0] + 60].mean()), 1),
        "backlog_files_last_minute_mean": round(float(waiting[t >= t[-1] - 60].mean()), 1),
    }


def measure_rate(spark: Any, base: Any, scratch: Path, rate: float, universe: dict[str, Any]) -> dict[str, Any]:
    from crosssell_spark.streaming.stage import start_stream

    tag = f"rate{rate:g}"
    config = base.model_copy(
        update={
            "streaming": base.streaming.model_copy(
                update={
                    "landing_dir": str(scratch / tag / "landing"),
                    "checkpoint_dir": str(scratch / tag / "checkpoint"),
                    "trigger": "processingTime",
                    "processing_time": "0 seconds",
                    "max_files_per_trigger": MAX_FILES_PER_TRIGGER,
                    "query_name": f"bench_{tag.replace('.', '_')}",
                }
            )
        }
    )
    landing = scratch / tag / "landing"
    landing.mkdir(parents=True)
    query, writer = start_stream(spark, config)
    # Warm-up (not measured): the first batch loads the refresh context (item factors, similarity,
    # popularity), the next ones give the JIT time to compile what every micro-batch runs.
    warm_up = Producer(landing, 1.0, WARMUP_SECONDS, **universe, seed=SEED - 1, prefix="warm-")
    warm_up.start()
    warm_up.join()
    while not set(warm_up.landed) <= {Path(f).name for r in writer.reports for f in r.files}:
        assert query.isActive, f"the stream stopped during the warm-up: {query.exception()}"
        time.sleep(0.2)
    seconds = SUSTAINED_SECONDS.get(rate, SECONDS)
    producer = Producer(landing, rate, seconds, **universe, seed=SEED + int(rate * 10))
    producer.start()
    producer.join()
    expected = set(producer.landed)
    deadline = time.time() + max(300.0, seconds)
    while time.time() < deadline:
        done = {Path(f).name for r in writer.reports for f in r.files}
        if expected <= done:
            break
        time.sleep(0.5)
    query.stop()
    writer.close()
    # a file's users see fresh recommendations when the batch commits their user_cross_sell rows
    finished = {Path(f).name: r.lists_written or r.finished for r in writer.reports for f in r.files}
    latencies = [finished[name] - landed for name, landed in producer.landed.items() if name in finished]
    timed = [r for r in writer.reports if any(Path(f).name in expected for f in r.files)]
    events = sum(r.reconciliation.rows_read for r in timed)
    span = max(r.finished for r in timed) - min(producer.landed.values()) if timed else float("nan")
    processed = [(r.finished, sum(Path(f).name in expected for f in r.files)) for r in timed]
    return {
        "rate_files_per_s": rate,
        "seconds": seconds,
        "files": len(producer.landed),
        "files_processed": len(latencies),
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p95_s": _percentile(latencies, 95),
        "latency_max_s": _percentile(latencies, 100),
        "throughput_events_per_s": round(events / span, 1) if timed else None,
        "batches": len(timed),
        "batch_seconds_p50": _percentile([r.finished - r.started for r in timed], 50),
        "files_per_batch_p50": _percentile([float(len(r.files)) for r in timed], 50),
        "users_refreshed_per_batch_p50": _percentile([float(r.refreshed_users) for r in timed], 50),
        "unbalanced_batches": sum(not r.reconciliation.balanced for r in timed),
        **backlog(list(producer.landed.values()), processed, max(producer.landed.values())),
        "phase_seconds_p50": {
            phase: _percentile([r.phases[phase] for r in timed if phase in r.phases], 50)
            for phase in dict.fromkeys(p for r in timed for p in r.phases)
        },
    }


def hit_rate(factors: dict[str, np.ndarray], items: list[str], y: np.ndarray, seen: dict[str, set[str]],
             held: dict[str, str]) -> float:  # fmt: skip
    """Share of users whose held-out item is in their top K among items they had not seen."""
    position = {item: n for n, item in enumerate(items)}
    hits = 0
    for user, x in factors.items():
        scores = y @ x
        scores[[position[i] for i in seen[user] if i in position]] = -np.inf
        top = np.argpartition(-scores, K)[:K]
        hits += held[user] in {items[t] for t in top}
    return hits / len(factors)


def foldin_quality(spark: Any, config: Any, split: str) -> dict[str, Any]:
    """HitRate@10: full retrain vs stale item factors + fold-in, same users, same held-out items.

    Args:
        split: what the stale model has not seen. "half": the later half of every eligible user's
            items (a hard case: a large share of all interactions is missing from the stale item
            factors); "recent": the items of eligible users active in the last RECENT_DAYS days,
            from those days on (what a stream adds between two nightly batch runs).
    """
    from pyspark.sql import functions as F

    from crosssell_spark.interest.als import ALS_FEATURES, ALS_ID, build_als
    from crosssell_spark.interest.interactions import LAST_EVENT_TS, build_interactions
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.streaming.foldin import fold_in_many, gram
    from crosssell_spark.tables import EVENTS_CLEAN

    cfg = config.interest
    lake = Lakehouse(spark, config.lakehouse)
    events = lake.read(EVENTS_CLEAN.name)
    newest = events.agg(F.max("event_ts")).first()[0]
    inter = events.transform(build_interactions(cfg, newest)).toPandas()
    inter = inter.sort_values(["user_id", LAST_EVENT_TS, "item_id"])
    counts = inter.groupby("user_id")["item_id"].transform("size")
    order = inter.groupby("user_id").cumcount()
    eligible = counts >= HOLDOUT_MIN_ITEMS
    if split == "recent":
        cut = newest - timedelta(days=RECENT_DAYS)
        recent = inter[LAST_EVENT_TS] >= cut
        active = inter["user_id"].isin(inter.loc[recent & (order < counts - 1), "user_id"])
        eligible = eligible & active
    held_rows = eligible & (order == counts - 1)
    if split == "recent":
        streamed_rows = eligible & ~held_rows & recent
    else:
        streamed_rows = eligible & ~held_rows & (order >= counts // 2)
    users = sorted(inter.loc[held_rows, "user_id"].unique())
    held = dict(zip(inter.loc[held_rows, "user_id"], inter.loc[held_rows, "item_id"], strict=True))
    train_all = inter[~held_rows]
    train_stale = inter[~held_rows & ~streamed_rows]
    user_idx = {u: n for n, u in enumerate(sorted(inter["user_id"].unique()), start=1)}
    item_list = sorted(inter["item_id"].unique())
    item_idx = {i: n for n, i in enumerate(item_list, start=1)}

    def fit(rows: pd.DataFrame) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], float]:
        ratings = spark.createDataFrame(
            pd.DataFrame({"user_idx": rows["user_id"].map(user_idx).astype("int32"),
                          "item_idx": rows["item_id"].map(item_idx).astype("int32"),
                          "interaction_weight": rows["interaction_weight"].astype("float32")})
        )  # fmt: skip
        started = time.perf_counter()
        model = build_als(cfg.als).fit(ratings)
        u = {int(r[ALS_ID]): np.asarray(r[ALS_FEATURES], np.float32) for r in model.userFactors.collect()}
        i = {int(r[ALS_ID]): np.asarray(r[ALS_FEATURES], np.float32) for r in model.itemFactors.collect()}
        return u, i, time.perf_counter() - started

    full_users, full_items, full_seconds = fit(train_all)
    _, stale_items, _ = fit(train_stale)
    y_full = np.stack([full_items.get(item_idx[i], np.zeros(cfg.als.rank, np.float32)) for i in item_list])
    y_stale = np.stack([stale_items.get(item_idx[i], np.zeros(cfg.als.rank, np.float32)) for i in item_list])
    trained = np.array([item_idx[i] in stale_items for i in item_list])
    position = {i: n for n, i in enumerate(item_list)}
    yty_stale = gram(y_stale[trained])

    def fold(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        ids, factors = fold_in_many(
            y_stale, yty_stale, rows["user_id"].to_numpy(object), rows["item_id"].map(position).to_numpy(),
            rows["interaction_weight"].to_numpy(np.float64), cfg.als.alpha, cfg.als.reg_param,
        )  # fmt: skip
        return dict(zip(ids, factors, strict=True))

    mine = train_all[train_all["user_id"].isin(users)]
    started = time.perf_counter()
    folded = fold(mine)
    fold_seconds = time.perf_counter() - started
    seen = {u: set(g) for u, g in mine.groupby("user_id")["item_id"]}
    retrain = hit_rate({u: full_users[user_idx[u]] for u in users}, item_list, y_full, seen, held)
    foldin = hit_rate(folded, item_list, y_stale, seen, held)
    # the stale model's users as they were before the streamed halves: what the stream improves on
    stale_only = hit_rate(fold(train_stale[train_stale["user_id"].isin(users)]), item_list, y_stale, seen, held)
    return {
        "split": split,
        "streamed_share_of_interactions": round(float(streamed_rows.sum()) / len(inter), 4),
        "users": len(users),
        "hit_rate_at_10_full_retrain": round(retrain, 4),
        "hit_rate_at_10_fold_in": round(foldin, 4),
        "hit_rate_at_10_stale_no_stream": round(stale_only, 4),
        "difference_points": round(100 * (foldin - retrain), 2),
        "full_retrain_seconds": round(full_seconds, 1),
        "fold_in_seconds": round(fold_seconds, 3),
    }


def run(scratch: Path) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.pipeline import run_all
    from crosssell_spark.run import Run
    from crosssell_spark.session import get_spark
    from crosssell_spark.tables import EVENTS_CLEAN, USER_ID_MAP

    config = _config(scratch)
    spark = get_spark(config, {"spark.driver.memory": "6g", "spark.ui.enabled": "false"})
    started = time.perf_counter()
    lake_root = scratch / "lakehouse"
    if PREBUILT:  # a lakehouse a batch run already wrote (same sample world settings), copied
        skip = shutil.ignore_patterns("_staging", "_checkpoints")
        shutil.copytree(PREBUILT, lake_root, ignore=skip, dirs_exist_ok=True)
    else:
        run_all(spark, config, Run.start())
    batch_seconds = time.perf_counter() - started
    lake = Lakehouse(spark, config.lakehouse)
    snapshot = scratch / "lakehouse-batch"
    shutil.copytree(lake.root, snapshot)
    popularity = lake.read(EVENTS_CLEAN.name).groupBy("item_id").count().toPandas()
    universe = {
        "users": np.asarray([r[0] for r in lake.read(USER_ID_MAP.name).select("user_id").collect()], dtype=object),
        "items": popularity["item_id"].to_numpy(object),
        "weights": (popularity["count"] / popularity["count"].sum()).to_numpy(),
        "start_ts": lake.read(EVENTS_CLEAN.name).agg(F.max("event_ts")).first()[0] + timedelta(hours=1),
    }
    rates = []
    for rate in RATES if "latency" in PARTS else []:
        # each rate starts from the batch run's tables, in a folder of its own: a table replaced
        # under the same path would meet the session's cached Delta snapshots of the last rate
        rate_root = scratch / f"lakehouse-rate{rate:g}"
        shutil.copytree(snapshot, rate_root)
        rate_config = config.model_copy(
            update={"lakehouse": config.lakehouse.model_copy(update={"root": str(rate_root)})}
        )
        rates.append(measure_rate(spark, rate_config, scratch, rate, universe))
        print(rates[-1], flush=True)
    qualities = [foldin_quality(spark, config, split) for split in SPLITS] if "quality" in PARTS else []
    print(qualities, flush=True)
    source = f"copied from {PREBUILT}" if PREBUILT else f"{batch_seconds:.0f} s"
    sustained = ", ".join(f"{r:g} files/s for {s:.0f} s" for r, s in SUSTAINED_SECONDS.items() if r in RATES)
    markdown = [
        f"Batch pipeline on {WORLD_EVENTS:,} sample events first ({source}); files of "
        f"{EVENTS_PER_FILE:,} events for {SECONDS:.0f} s per rate ({sustained}) "
        f"after {WARMUP_SECONDS:.0f} s of 1 file/s not "
        "measured (JIT warm-up), processingTime trigger 0 s, "
        f"maxFilesPerTrigger {MAX_FILES_PER_TRIGGER}, local[2], load average {os.getloadavg()[0]:.1f} at the end. "
        "Latency: file renamed into the landing folder -> its users' user_cross_sell rows committed.",
        "",
        "| files/s | files | latency p50 s | p95 s | max s | events/s | batches | batch s p50 | files/batch p50 | "
        "users refreshed/batch p50 | backlog files p50 | last | slope files/min | first minute mean | "
        "last minute mean |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {r['rate_files_per_s']:g} | {r['files_processed']}/{r['files']} | {r['latency_p50_s']} | "
            f"{r['latency_p95_s']} | {r['latency_max_s']} | {r['throughput_events_per_s']} | {r['batches']} | "
            f"{r['batch_seconds_p50']} | {r['files_per_batch_p50']} | {r['users_refreshed_per_batch_p50']:g} | "
            f"{r['backlog_files_p50']} | {r['backlog_files_last']} | {r['backlog_slope_files_per_min']} | "
            f"{r['backlog_files_first_minute_mean']} | {r['backlog_files_last_minute_mean']} |"
            for r in rates
        ],
        "",
        "Median seconds per step of a micro-batch:",
        "",
        *[f"- {r['rate_files_per_s']:g} files/s: {r['phase_seconds_p50']}" for r in rates],
    ]
    for quality in qualities:
        markdown += [
            "",
            f"Fold-in quality, split `{quality['split']}` ({quality['users']} users, latest item held out, "
            f"{quality['streamed_share_of_interactions']:.1%} of interactions unseen by the stale model): "
            f"HitRate@10 full retrain {quality['hit_rate_at_10_full_retrain']}, stale item factors + fold-in "
            f"{quality['hit_rate_at_10_fold_in']} ({quality['difference_points']:+} points), stale model without "
            f"the streamed events {quality['hit_rate_at_10_stale_no_stream']}. Retrain "
            f"{quality['full_retrain_seconds']} s vs fold-in {quality['fold_in_seconds']} s.",
        ]
    return {
        "world_events": WORLD_EVENTS,
        "batch_pipeline_seconds": round(batch_seconds, 1),
        "rates": rates,
        "fold_in": qualities,
        "load_average": os.getloadavg(),
        "markdown": markdown,
    }
