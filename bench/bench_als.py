"""ALS seconds per iteration: Spark MLlib vs the `implicit` library on one ~1M-interaction matrix.

The matrix comes from a sample world (BENCH_ALS_EVENTS raw events, default 2.2M, about 1M user-item
pairs), weighted as the interest stage weighs them (interest.event_weights and max_weight; no decay),
built straight from the raw parquet. Per-iteration time is the difference of two fits,
(t(hi) - t(lo)) / (hi - lo), so the fixed cost of a fit (Spark: partitioning the ratings into
in/out blocks; implicit: building the CSR transposes) is reported apart. Each fit runs REPEATS
times and the fastest counts, which discards the JVM's JIT warm-up and most interference from
other processes on a shared machine (the load average is recorded with the figures).

Spark variants, each in its own JVM because the BLAS backend is chosen once per JVM:
  mllib_defaults  ALS's own defaults: 10 x 10 blocks, MEMORY_AND_DISK, pure-Java BLAS/LAPACK
                  (+ one rank-32 ablation with 4 x 4 blocks)
  tuned           conf/base.yaml interest.als (4 x 4 blocks on 2 cores) and native BLAS/LAPACK
                  (OpenBLAS, one thread per task) when a native library is found
implicit runs on the CPU with its default conjugate-gradient solver and with the exact Cholesky
solver Spark uses, with every core.

Native libraries: `apt-get install libopenblas0-pthread` provides libblas.so.3 / liblapack.so.3
system-wide; or set BENCH_ALS_NATIVE_LIB_DIR to folders (':'-separated) holding them.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVENTS = int(os.environ.get("BENCH_ALS_EVENTS", "2200000"))
SEED = 20240601
RANKS = (32, 64)
LO, HI = 1, 4  # iterations of the two timed fits
REPEATS = 2  # each fit is timed this often and the fastest kept: drops JIT warm-up and noisy neighbours
DEFAULT_BLOCKS = 10  # MLlib's numUserBlocks / numItemBlocks default
WORKER_MEMORY = "6g"


def _config() -> Any:
    from crosssell_spark.config import load_config

    return load_config(base=PROJECT_ROOT / "conf" / "base.yaml")


def native_lib_dirs() -> str | None:
    """Folders holding libblas.so.3 and liblapack.so.3 for the JVM, or None for pure-Java BLAS."""
    if os.environ.get("BENCH_ALS_NATIVE_LIB_DIR"):
        return os.environ["BENCH_ALS_NATIVE_LIB_DIR"]
    if ctypes.util.find_library("blas") and ctypes.util.find_library("lapack"):
        return ""  # on the default search path already
    return None


# --- workers (each in its own Python + JVM) ---------------------------------------------------------


def _worker_session(checkpoints: Path, conf: dict[str, str]) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[*]").appName("bench-als")
    for key, value in {
        "spark.driver.memory": WORKER_MEMORY,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **conf,
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(checkpoints))
    return spark


def build_ratings(world: Path, out: Path) -> dict[str, Any]:
    """(user_idx, item_idx, interaction_weight) parquet from the raw events, as the interest stage weighs them."""
    from pyspark.sql import functions as F

    from crosssell_spark.interest.id_maps import attach_ids, empty_map, extend_id_map
    from crosssell_spark.interest.interactions import build_interactions
    from crosssell_spark.schemas import (
        EVENT_TS,
        EVENT_TYPE,
        INTERACTION_WEIGHT,
        ITEM_ID,
        ITEM_ID_MAP_SCHEMA,
        ITEM_IDX,
        USER_ID,
        USER_ID_MAP_SCHEMA,
        USER_IDX,
    )

    config = _config()
    spark = _worker_session(out.parent / "checkpoints", {"spark.sql.shuffle.partitions": "8"})
    canonical = F.lit(None).cast("string")
    for name, spellings in config.cleaning.event_type_aliases.items():
        canonical = F.when(F.lower(F.trim(EVENT_TYPE)).isin(*spellings), F.lit(name)).otherwise(canonical)
    events = (
        spark.read.parquet(str(world / "events"))
        .select(
            F.trim(USER_ID).alias(USER_ID),
            F.trim(ITEM_ID).alias(ITEM_ID),
            canonical.alias(EVENT_TYPE),
            F.lit(None).cast("timestamp").alias(EVENT_TS),
        )
        .where((F.col(USER_ID) != "") & (F.col(ITEM_ID) != "") & F.col(EVENT_TYPE).isNotNull())
    )
    cfg = config.interest.model_copy(update={"half_life_days": None})
    interactions = events.transform(build_interactions(cfg, datetime(2026, 11, 1))).cache()
    users = interactions.transform(extend_id_map(empty_map(spark, USER_ID_MAP_SCHEMA), USER_ID, USER_IDX, "bench"))
    items = interactions.transform(extend_id_map(empty_map(spark, ITEM_ID_MAP_SCHEMA), ITEM_ID, ITEM_IDX, "bench"))
    ratings = (
        interactions.transform(attach_ids(users, USER_ID, USER_IDX))
        .transform(attach_ids(items, ITEM_ID, ITEM_IDX))
        .select(USER_IDX, ITEM_IDX, F.col(INTERACTION_WEIGHT).cast("float").alias(INTERACTION_WEIGHT))
    )
    ratings.repartition(4).write.mode("overwrite").parquet(str(out))
    written = spark.read.parquet(str(out))
    row = written.agg(F.count("*"), F.countDistinct(USER_IDX), F.countDistinct(ITEM_IDX)).first()
    assert row is not None
    return {"interactions": int(row[0]), "users": int(row[1]), "items": int(row[2])}


def time_spark(ratings_dir: Path, variant: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then time fits of LO and HI iterations per rank (and any ablations) in this JVM."""
    from crosssell_spark.interest.als import build_als

    als_base = _config().interest.als
    spark = _worker_session(ratings_dir.parent / "checkpoints", variant["spark_conf"])
    ratings = spark.read.parquet(str(ratings_dir)).cache()
    ratings.count()
    jvm = spark.sparkContext._jvm
    backends = {
        "blas": jvm.dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getSimpleName(),
        "lapack": jvm.dev.ludovic.netlib.lapack.LAPACK.getInstance().getClass().getSimpleName(),
    }

    def fit_seconds(rank: int, iterations: int, als: dict[str, Any]) -> float:
        cfg = als_base.model_copy(update={**als, "rank": rank, "max_iter": iterations})
        started = time.perf_counter()
        model = build_als(cfg).fit(ratings)
        model.userFactors.count()
        model.itemFactors.count()
        seconds = time.perf_counter() - started
        print(
            f"  spark {variant['name']} rank {rank} {als} {iterations} it: {seconds:.1f} s", file=sys.stderr, flush=True
        )
        return seconds

    runs = [(rank, variant["als"], f"rank_{rank}") for rank in RANKS]
    runs += [
        (rank, {**variant["als"], **als}, f"rank_{rank}_{label}") for rank, als, label in variant.get("ablations", [])
    ]
    figures: dict[str, Any] = {"backends": backends, "als": variant["als"], "spark_conf": variant["spark_conf"]}
    for rank, als, label in runs:
        lo = min(fit_seconds(rank, LO, als) for _ in range(REPEATS))
        hi = min(fit_seconds(rank, HI, als) for _ in range(REPEATS))
        per = (hi - lo) / (HI - LO)
        figures[label] = {"seconds_per_iteration": round(per, 3), "fixed_seconds": round(max(lo - LO * per, 0.0), 2)}
    return figures


def time_implicit(ratings_dir: Path) -> dict[str, Any]:
    """implicit's CPU ALS on the same matrix: CG (its default) and exact Cholesky, every core."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    als = _config().interest.als
    df = pd.read_parquet(ratings_dir)
    matrix = sp.csr_matrix((df["interaction_weight"].to_numpy(np.float32), (df["user_idx"] - 1, df["item_idx"] - 1)))
    figures: dict[str, Any] = {"version": __import__("implicit").__version__}
    with threadpool_limits(1, "blas"):  # implicit parallelises over users itself
        for rank in RANKS:
            for solver, use_cg in (("cg", True), ("cholesky", False)):

                def fit_seconds(iterations: int, rank: int = rank, use_cg: bool = use_cg) -> float:
                    model = AlternatingLeastSquares(
                        factors=rank,
                        regularization=als.reg_param,
                        alpha=als.alpha,
                        iterations=iterations,
                        use_cg=use_cg,
                        random_state=SEED,
                    )
                    started = time.perf_counter()
                    model.fit(matrix, show_progress=False)
                    return time.perf_counter() - started

                lo = min(fit_seconds(LO) for _ in range(REPEATS))
                hi = min(fit_seconds(HI) for _ in range(REPEATS))
                per = (hi - lo) / (HI - LO)
                figures[f"rank_{rank}_{solver}"] = {
                    "seconds_per_iteration": round(per, 3),
                    "fixed_seconds": round(max(lo - LO * per, 0.0), 2),
                }
                print(f"  implicit rank {rank} {solver}: {per:.3f} s/iteration", file=sys.stderr, flush=True)
    return figures


# --- orchestration ----------------------------------------------------------------------------------


def _in_subprocess(args: list[str], env: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Run a worker command in a fresh interpreter (and JVM); env values of None are removed."""
    environment = {**os.environ, **{k: v for k, v in (env or {}).items() if v is not None}}
    for key in [k for k, v in (env or {}).items() if v is None]:
        environment.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_als", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def variants() -> list[tuple[dict[str, Any], dict[str, str | None]]]:
    """(variant, extra environment) pairs: MLlib defaults with Java BLAS, then the tuned settings."""
    als = _config().interest.als
    defaults = {
        "name": "mllib_defaults",
        "als": {
            "num_user_blocks": DEFAULT_BLOCKS,
            "num_item_blocks": DEFAULT_BLOCKS,
            "intermediate_storage_level": "MEMORY_AND_DISK",
            "final_storage_level": "MEMORY_AND_DISK",
        },
        "spark_conf": {},
        "ablations": [
            (
                RANKS[0],
                {"num_user_blocks": als.num_user_blocks, "num_item_blocks": als.num_item_blocks},
                f"blocks_{als.num_user_blocks}",
            )
        ],
    }
    tuned = {
        "name": "tuned",
        "als": {
            "num_user_blocks": als.num_user_blocks,
            "num_item_blocks": als.num_item_blocks,
            "intermediate_storage_level": als.intermediate_storage_level,
            "final_storage_level": als.final_storage_level,
        },
        "spark_conf": {"spark.executorEnv.OPENBLAS_NUM_THREADS": "1"},
    }
    java_only: dict[str, str | None] = {"LD_LIBRARY_PATH": None}  # pure Java unless the system has BLAS
    native = native_lib_dirs()
    tuned_env: dict[str, str | None] = {"OPENBLAS_NUM_THREADS": "1"}
    if native:
        tuned_env["LD_LIBRARY_PATH"] = ":".join(filter(None, [native, os.environ.get("LD_LIBRARY_PATH", "")]))
    return [(defaults, java_only), (tuned, tuned_env)]


def run(scratch: Path) -> dict[str, Any]:
    from crosssell_spark.sources.sample_world import SampleWorldSpec, generate

    world, ratings_dir = scratch / "world", scratch / "ratings"
    generate(world, SampleWorldSpec(events=EVENTS, seed=SEED))
    matrix = _in_subprocess(["ratings", str(world), str(ratings_dir)])
    print(f"  matrix: {matrix}", file=sys.stderr, flush=True)
    spark = {
        variant["name"]: _in_subprocess(["spark", str(ratings_dir), json.dumps(variant)], env)
        for variant, env in variants()
    }
    reference = time_implicit(ratings_dir)
    return summarise(matrix, spark, reference, native_lib_dirs() is not None)


def summarise(matrix: dict[str, Any], spark: dict[str, Any], reference: dict[str, Any], native: bool) -> dict[str, Any]:
    rows, ratios = [], {}
    for rank in RANKS:
        cg = reference[f"rank_{rank}_cg"]["seconds_per_iteration"]
        exact = reference[f"rank_{rank}_cholesky"]["seconds_per_iteration"]
        for name, figures in spark.items():
            per = figures[f"rank_{rank}"]["seconds_per_iteration"]
            ratios[f"{name}_rank_{rank}_vs_implicit_cg"] = round(per / cg, 2)
            ratios[f"{name}_rank_{rank}_vs_implicit_cholesky"] = round(per / exact, 2)
            rows.append(
                f"| {rank} | Spark {name} ({figures['backends']['lapack']}) | {per:.2f} | "
                f"{figures[f'rank_{rank}']['fixed_seconds']:.1f} | {per / cg:.1f}x | {per / exact:.1f}x |"
            )
        for solver in ("cg", "cholesky"):
            f = reference[f"rank_{rank}_{solver}"]
            rows.append(
                f"| {rank} | implicit {solver} | {f['seconds_per_iteration']:.2f} | {f['fixed_seconds']:.1f} | | |"
            )
    markdown = [
        f"Matrix: {matrix['users']:,} users x {matrix['items']:,} items, {matrix['interactions']:,} interactions; "
        f"native BLAS/LAPACK for the tuned run: {'yes' if native else 'no (pure Java)'}",
        "",
        "| rank | engine | s / iteration | fixed s per fit | vs implicit CG | vs implicit Cholesky |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    return {
        "matrix": matrix,
        "spark": spark,
        "implicit": reference,
        "ratios": ratios,
        "load_average": os.getloadavg(),
        "markdown": markdown,
    }


def _main(argv: list[str]) -> None:
    command = argv[0]
    if command == "ratings":
        result = build_ratings(Path(argv[1]), Path(argv[2]))
    elif command == "spark":
        result = time_spark(Path(argv[1]), json.loads(argv[2]))
    else:
        raise SystemExit(f"unknown worker command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
