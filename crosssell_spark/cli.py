"""The `crosssell` command: one entry for every stage, run-all and the sample-world generator."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import date
from typing import cast

from crosssell_spark.config import AppConfig, ConfigError, load_config
from crosssell_spark.run import StageFailedError

EXIT_STAGE_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_INPUT_ERROR = 3  # an input path or column, or what `show` names (a table, an anchor, a user), does not exist
EXIT_CRASH = 4  # anything else went wrong (a bug, Spark or the machine): the traceback is in the log
log = logging.getLogger("crosssell_spark")


def _parser() -> argparse.ArgumentParser:
    from crosssell_spark.pipeline import STAGES

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="FILE",
        help="config overlay on top of conf/base.yaml (repeatable, later wins)",
    )
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one dotted config key, e.g. --set sample.events=50000",
    )
    common.add_argument(
        "--run-date", type=date.fromisoformat, default=None, help="logical date of a scheduled run (YYYY-MM-DD)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(prog="crosssell", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in STAGES:
        commands.add_parser(name, parents=[common], help=f"run the {name} stage")
    commands.add_parser("run-all", parents=[common], help="run every stage in order and print a summary")
    commands.add_parser(
        "tune-interest", parents=[common], help="grid-search ALS on a time split, then train-interest with the best"
    )
    commands.add_parser(
        "evaluate", parents=[common], help="retrain on a time split, score lists and baselines, write a report"
    )
    commands.add_parser("show-config", parents=[common], help="print the merged, validated config")
    show = commands.add_parser(
        "show", parents=[common], help="print one anchor item's or user's cross-sell list with titles and reasons"
    )
    whose = show.add_mutually_exclusive_group(required=True)
    whose.add_argument("--anchor", metavar="ITEM_ID", help="an anchor item's list (item_cross_sell)")
    whose.add_argument(
        "--user", metavar="USER_ID", help="a user's list (user_cross_sell); the raw id, also with pseudonymisation on"
    )
    show.add_argument("--k", type=int, metavar="N", help="at most N items (default: all the list holds)")
    commands.add_parser(
        "report",
        parents=[common],
        help="write one self-contained HTML page: example lists, sources, short lists, stages, quality, evaluation",
    )
    stream = commands.add_parser(
        "stream", parents=[common], help="Structured Streaming: new clickstream -> events_clean, refreshed user lists"
    )
    stream.add_argument(
        "--available-now", action="store_true", help="process what has landed, then stop (streaming.trigger)"
    )
    commands.add_parser(
        "maintain", parents=[common], help="OPTIMIZE and VACUUM every published table (see maintenance: in config)"
    )
    forget = commands.add_parser(
        "forget", parents=[common], help="delete users' rows from every user-level table (logged by pseudonym)"
    )
    forget.add_argument("--user", action="append", default=[], metavar="ID", help="raw user id (repeatable)")
    forget.add_argument("--users-file", metavar="FILE", help="file of raw user ids, one per line")
    forget.add_argument("--vacuum", action="store_true", help="then purge and VACUUM old versions (maintenance.*)")
    rollback = commands.add_parser(
        "rollback", parents=[common], help="restore a published table to a version, or an incomplete set"
    )
    target = rollback.add_mutually_exclusive_group(required=True)
    target.add_argument("--table", help="table name, e.g. events_clean (with --version)")
    target.add_argument(
        "--incomplete", action="store_true", help="restore the tables of every unfinished publish (see history)"
    )
    rollback.add_argument("--version", type=int, help="Delta version to restore (see history --table)")
    history = commands.add_parser(
        "history", parents=[common], help="show the published sets (complete or not), or one table's Delta history"
    )
    history.add_argument("--table", help="a table's Delta history instead of the sets")
    generate = commands.add_parser("generate", parents=[common], help="write the sample world's raw files")
    generate.add_argument("--events", type=int, help="number of raw events (default: sample.events)")
    generate.add_argument("--items", type=int, help="catalogue size (default: derived from events)")
    generate.add_argument("--users", type=int, help="number of users (default: derived from events)")
    generate.add_argument("--seed", type=int, help="random seed (default: sample.seed)")
    generate.add_argument("--out", help="output folder (default: sample.path)")
    generate.add_argument(
        "--by-day", action="store_true", help="write events as day partitions event_date=YYYY-MM-DD/ (sample.by_day)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except Exception as err:  # not a refusal, a config or an input error: its own exit code, traceback in the log
        log.exception("crosssell %s crashed", args.command)
        print(f"crosssell: {args.command} crashed: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return EXIT_CRASH


def _dispatch(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.conf, args.overrides)
    except ConfigError as err:
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.command == "show-config":
        print(config.model_dump_json(indent=2))
        return 0
    if args.command == "generate":
        return _generate(args, config)
    from crosssell_spark.privacy.pseudonym import check_startup

    try:
        check_startup(config.privacy)  # pseudonymisation on without a key: refuse before any work
    except ConfigError as err:
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.command == "forget":
        return _forget(args, config)
    if args.command in ("rollback", "history"):
        return _time_travel(args, config)
    if args.command == "show":
        return _show(args, config)
    if args.command == "report":
        return _report(config)
    if args.command == "evaluate":
        return _guarded(_evaluate, config, args.run_date)
    if args.command == "stream":
        return _stream(config, args.available_now)
    if args.command == "maintain":
        return _maintain(config, args.run_date)
    if args.command == "tune-interest":  # train-interest with the grid switched on (interest.tune.enabled)
        tune = config.interest.tune.model_copy(update={"enabled": True})
        config = config.model_copy(update={"interest": config.interest.model_copy(update={"tune": tune})})
        args.command = "train-interest"
    from crosssell_spark.sources.contract import InputError

    try:
        return _run_stages(args.command, config, args.run_date)
    except InputError as err:
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except StageFailedError as err:
        log.error("%s", err)
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_STAGE_FAILED


def _run_stages(command: str, config: AppConfig, run_date: date | None) -> int:
    from crosssell_spark import pipeline
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.run import Run
    from crosssell_spark.session import get_spark

    spark = get_spark(config)
    run = Run.start(run_date)
    if command == "run-all":
        results = pipeline.run_all(spark, config, run)
    else:
        results = [pipeline.run_stage(command, spark, config, run)]
    lake = Lakehouse(spark, config.lakehouse)
    print(pipeline.format_summary(results, pipeline.summarise(lake, results), lake.root))
    from crosssell_spark.crosssell.stage import STAGE as CANDIDATES

    if any(r.stage == CANDIDATES for r in results):
        from crosssell_spark.insights import strongest_anchors
        from crosssell_spark.run_report import write_run_report
        from crosssell_spark.tables import ITEM_CROSS_SELL

        for anchor in strongest_anchors(lake.read(ITEM_CROSS_SELL.name), 1):
            print(f"  one list with titles:    crosssell show --anchor {anchor}  (with this run's --conf / --set)")
        print(f"  run report (HTML):       {write_run_report(spark, config).resolve().as_uri()}")
    return 0


def _report(config: AppConfig) -> int:
    from crosssell_spark.run_report import write_run_report
    from crosssell_spark.session import get_spark

    try:
        path = write_run_report(get_spark(config), config)
    except FileNotFoundError as err:  # no published lists yet
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(f"run report: {path.resolve().as_uri()}")
    return 0


def _stream(config: AppConfig, available_now: bool) -> int:
    from crosssell_spark.session import get_spark
    from crosssell_spark.streaming.stage import run_stream

    if available_now:
        streaming = config.streaming.model_copy(update={"trigger": "availableNow"})
        config = config.model_copy(update={"streaming": streaming})
    result = run_stream(get_spark(config), config)
    for key, value in result.metrics.items():
        print(f"stream.{key}: {value}")
    return EXIT_STAGE_FAILED if result.metrics["unbalanced_batches"] else 0


def _maintain(config: AppConfig, run_date: date | None) -> int:
    from crosssell_spark.ops.maintenance import format_report, run_maintenance
    from crosssell_spark.run import Run
    from crosssell_spark.session import get_spark

    try:
        result, outcomes = run_maintenance(get_spark(config), config, Run.start(run_date))
    except ValueError as err:  # unknown table in maintenance.tables
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(format_report(outcomes, config.maintenance.retention_hours))
    removed = result.metrics["export_folders_removed"]
    print(f"serving export folders removed: {len(removed)} (kept: the newest {config.maintenance.keep_exports})")
    return 0


def _guarded(command: Callable[[AppConfig, date | None], int], config: AppConfig, run_date: date | None) -> int:
    try:
        return command(config, run_date)
    except StageFailedError as err:
        log.error("%s", err)
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_STAGE_FAILED


def _evaluate(config: AppConfig, run_date: date | None) -> int:
    from crosssell_spark.evaluation.stage import run_evaluation
    from crosssell_spark.run import Run
    from crosssell_spark.session import get_spark

    result = run_evaluation(get_spark(config), config, Run.start(run_date))
    for name, figures in result.metrics["headline"].items():
        cells = (f"{metric}@{config.evaluation.k} {value:.4f}" for metric, value in figures.items())
        print(f"{name:<36}" + "  ".join(cells))
    print(f"evaluation table: version {result.published['evaluation']}")
    print(f"report: {result.metrics['report']}")
    return 0


def _forget(args: argparse.Namespace, config: AppConfig) -> int:
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.ops.forget import FORGET_NEEDS_KEY, forget_users, read_user_ids, vacuum_forgotten
    from crosssell_spark.privacy.pseudonym import require_key
    from crosssell_spark.run import Run
    from crosssell_spark.session import get_spark

    try:
        user_ids = read_user_ids(args.user, args.users_file)
        require_key(config.privacy, why=FORGET_NEEDS_KEY)
    except (OSError, ValueError) as err:  # ConfigError is a ValueError
        print(f"crosssell: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    spark = get_spark(config)
    report = forget_users(spark, config, Run.start(args.run_date), user_ids)
    if args.vacuum:
        vacuum_forgotten(Lakehouse(spark, config.lakehouse), config, report)
    print(report.describe())
    return 0


def _time_travel(args: argparse.Namespace, config: AppConfig) -> int:
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.session import get_spark

    lake = Lakehouse(get_spark(config), config.lakehouse)
    if args.table is None:
        from crosssell_spark.ops.published_sets import describe_sets, rollback_incomplete

        if args.command == "rollback":
            for done in rollback_incomplete(lake):
                moved = ", ".join(f"{t} {a} -> {b}" for t, (a, b) in done.restored.items()) or "nothing to restore"
                left = f"; left as is (new with that run): {', '.join(done.left)}" if done.left else ""
                print(f"{done.stage}: incomplete run {done.run_id} rolled back: {moved}{left}")
        print(describe_sets(lake))
        return 0
    if args.command == "rollback" and args.version is None:
        print("crosssell: rollback --table needs --version", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if not lake.exists(args.table):
        print(f"crosssell: no published table {args.table!r} under {lake.root}", file=sys.stderr)
        return EXIT_STAGE_FAILED
    if args.command == "history":
        lake.history(args.table).select("version", "timestamp", "operation", "operationMetrics").show(truncate=False)
        return 0
    current = lake.latest_version(args.table)
    if not 0 <= args.version <= (current or 0):
        print(f"crosssell: {args.table} has versions 0..{current}, not {args.version}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    new_version = lake.restore(args.table, args.version)
    print(f"{args.table}: restored version {args.version} as new version {new_version} (was {current})")
    return 0


def _show(args: argparse.Namespace, config: AppConfig) -> int:
    import pandas as pd
    from pyspark.sql import functions as F

    from crosssell_spark.insights import (
        ANCHOR_CATEGORY_NAME,
        ANCHOR_TITLE,
        format_list,
        item_list_review,
        user_list_review,
    )
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.privacy.pseudonym import pseudonym, require_key
    from crosssell_spark.schemas import ITEM_ID, RANK
    from crosssell_spark.session import get_spark
    from crosssell_spark.tables import CATEGORIES, ITEM_CROSS_SELL, ITEMS_CLEAN, USER_CROSS_SELL

    table = ITEM_CROSS_SELL if args.anchor is not None else USER_CROSS_SELL
    lake = Lakehouse(get_spark(config), config.lakehouse)
    missing = [t.name for t in (table, ITEMS_CLEAN, CATEGORIES) if not lake.exists(t.name)]
    if missing:
        print(
            f"crosssell: no published {', '.join(missing)} under {lake.root}: run the pipeline first", file=sys.stderr
        )
        return EXIT_INPUT_ERROR
    lists, items, categories = lake.read(table.name), lake.read(ITEMS_CLEAN.name), lake.read(CATEGORIES.name)
    if args.anchor is not None:
        review = cast(pd.DataFrame, item_list_review(lists, items, categories, [args.anchor]).toPandas())
        known = review.empty and items.where(F.col(ITEM_ID) == args.anchor).limit(1).count() > 0
        heading = f"{table.name} of anchor {args.anchor}" + (
            f" {review[ANCHOR_TITLE].iloc[0]!r} ({review[ANCHOR_CATEGORY_NAME].iloc[0]})" if not review.empty else ""
        )
        absent = f"item {args.anchor} has no list in {table.name}" + (
            " (it is in items_clean: no candidate passed the rules)" if known else " (and is not in items_clean)"
        )
    else:
        ids = [args.user] + ([pseudonym(require_key(config.privacy), args.user)] if config.privacy.pseudonymise else [])
        review = cast(pd.DataFrame, user_list_review(lists, items, categories, ids).toPandas())
        heading, absent = f"{table.name} of user {args.user}", f"user {args.user} has no list in {table.name}"
    if review.empty:
        print(f"crosssell: {absent}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    shown = review if args.k is None else review[review[RANK] <= args.k]
    print(format_list(f"{heading}, {len(shown)} of {len(review)} items:", shown))
    return 0


def _generate(args: argparse.Namespace, config: AppConfig) -> int:
    from crosssell_spark.sources.sample_world import SampleWorldSpec, generate

    spec = SampleWorldSpec(
        events=args.events or config.sample.events,
        seed=args.seed if args.seed is not None else config.sample.seed,
        users=args.users,
        items=args.items,
        by_day=args.by_day or config.sample.by_day,
    )
    out = args.out or config.sample.path
    manifest = generate(out, spec)
    print(f"sample world written to {out}: {manifest.get('counts', manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
