"""Write a sample world: raw events and catalogue in the input contract, the truth, then the manifest."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crosssell_spark.schemas import (
    BRAND,
    CATEGORY_PATH,
    DESCRIPTION,
    EVENT_TS,
    EVENT_TYPE,
    IN_STOCK,
    IS_LEAF,
    ITEM_ID,
    LEVEL,
    PRICE,
    QUANTITY,
    RAW_EVENT_COLUMNS,
    RAW_ITEM_COLUMNS,
    SESSION_ID,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources.sample_world.apportion import apportion
from crosssell_spark.sources.sample_world.behaviour import (
    BOT_EVENTS_PER_SESSION,
    SECONDS_PER_DAY,
    WINDOW_END,
    WINDOW_START,
    Shop,
    SimulatedEvents,
    UserPlan,
    build_shop,
    plan_users,
    simulate_bot,
    simulate_users,
)
from crosssell_spark.sources.sample_world.catalogue import COMPLEMENT_KINDS, Catalogue, build_catalogue
from crosssell_spark.sources.sample_world.dirt import (
    ADDED_EVENT_DEFECT_RATES,
    BOT_USER,
    MUTATED_EVENT_DEFECT_RATES,
    event_defect_counts,
    plan_event_dirt,
    spoil_catalogue,
    spoil_events,
)
from crosssell_spark.sources.sample_world.formats import (
    BOT_SESSION_ID_FORMAT,
    BOT_USER_ID_FORMAT,
    EVENT_TYPE_SPELLINGS,
    QUANTITY_STRINGS,
    SESSION_ID_FORMAT,
    USER_ID_FORMAT,
    format_session_ids,
    format_timestamps,
    spell_event_types,
    strings_by_code,
)
from crosssell_spark.sources.sample_world.spec import SampleWorldSpec
from crosssell_spark.sources.sample_world.taxonomy import LEVEL2_PATHS, category_nodes

GENERATOR_VERSION = "1"
EVENTS_PER_PART = 500_000
EVENTS_DIR, CATALOGUE_DIR, TRUTH_DIR, MANIFEST = "events", "catalogue", "truth", "manifest.json"
PART_FORMAT = "part-{:05d}.parquet"
CATEGORY_TREE, USER_PREFERENCES, COMPLEMENTS, DIRT = (
    "category_tree.parquet",
    "user_preferences.parquet",
    "complements.parquet",
    "dirt.json",
)
ANCHOR_ITEM_ID, COMPLEMENT_ITEM_ID, KIND = "anchor_item_id", "complement_item_id", "kind"
ANCHOR_CATEGORY_PATH, COMPLEMENT_CATEGORY_PATH, WEIGHT = (
    "anchor_category_path",
    "complement_category_path",
    "weight",
)
# independent random streams: the catalogue does not change when, say, the number of users does
CATALOGUE_STREAM, USERS_STREAM, EVENTS_STREAM, BOT_STREAM, CATALOGUE_DIRT_STREAM = range(5)
TIME_FORMAT_NOTE = "yyyy-MM-dd HH:mm:ss UTC"

EVENTS_ARROW_SCHEMA = pa.schema([(name, pa.string()) for name in RAW_EVENT_COLUMNS])
ITEMS_ARROW_SCHEMA = pa.schema([(name, pa.string()) for name in RAW_ITEM_COLUMNS])


@dataclass(frozen=True)
class _Vocabulary:
    """String columns shared by every events part, looked up by item index."""

    item_ids: pa.Array
    prices: pa.Array


def _rng(spec: SampleWorldSpec, *stream: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, *stream])


def _event_columns(
    events: SimulatedEvents,
    rows: np.ndarray,
    delay: np.ndarray,
    vocabulary: _Vocabulary,
    rng: np.random.Generator,
    user_format: str = USER_ID_FORMAT,
    session_format: str = SESSION_ID_FORMAT,
) -> dict[str, pa.Array]:
    """The raw string columns of the given rows of simulated events (rows may repeat)."""
    users, user_code = np.unique(events.user[rows], return_inverse=True)
    sessions, session_code = np.unique(events.session[rows], return_inverse=True)
    item = events.item[rows]
    spelling = spell_event_types(events.event_type, rng)  # per event, so a copy keeps its source's spelling
    return {
        USER_ID: strings_by_code([user_format.format(u) for u in users.tolist()], user_code),
        ITEM_ID: strings_by_code(vocabulary.item_ids, item),
        EVENT_TYPE: strings_by_code(EVENT_TYPE_SPELLINGS, spelling[rows]),
        EVENT_TS: format_timestamps(events.ts[rows] + delay),
        SESSION_ID: strings_by_code(format_session_ids(sessions, session_format), session_code),
        QUANTITY: strings_by_code(QUANTITY_STRINGS, events.quantity[rows]),
        PRICE: strings_by_code(vocabulary.prices, item),
    }


def _write_events(
    root: Path,
    spec: SampleWorldSpec,
    plan: UserPlan,
    shop: Shop,
    vocabulary: _Vocabulary,
    defects: dict[str, int],
) -> dict[str, int]:
    """Simulate and write the events part by part; returns rows and sessions written."""
    chunks = plan.chunks(EVENTS_PER_PART)
    sizes = np.array([plan.events[first:end].sum() for first, end in chunks], dtype=np.float64)
    quotas = {
        name: apportion(defects[name], sizes) for name in (*ADDED_EVENT_DEFECT_RATES, *MUTATED_EVENT_DEFECT_RATES)
    }
    (root / EVENTS_DIR).mkdir(parents=True)
    rows = sessions = 0
    for index, (first, end) in enumerate(chunks):
        rng = _rng(spec, EVENTS_STREAM, index)
        events = simulate_users(first, end, plan, shop, rng)
        dirt = plan_event_dirt(events.size, {name: int(q[index]) for name, q in quotas.items()}, rng)
        columns = spoil_events(_event_columns(events, dirt.source_row, dirt.delay, vocabulary, rng), dirt, rng)
        tables = [pa.table(columns, schema=EVENTS_ARROW_SCHEMA)]
        happened = [events.ts[dirt.source_row] + dirt.delay]  # true time of each row, for day partitions
        sessions += int(np.count_nonzero(np.diff(events.session))) + 1
        if index == len(chunks) - 1:
            bot_rng = _rng(spec, BOT_STREAM)
            bot = simulate_bot(defects[BOT_USER], shop, bot_rng)
            no_delay = np.zeros(bot.size, np.int64)
            bot_columns = _event_columns(
                bot,
                np.arange(bot.size),
                no_delay,
                vocabulary,
                bot_rng,
                BOT_USER_ID_FORMAT,
                BOT_SESSION_ID_FORMAT,
            )
            tables.append(pa.table(bot_columns, schema=EVENTS_ARROW_SCHEMA))
            happened.append(bot.ts)
            sessions += -(-bot.size // BOT_EVENTS_PER_SESSION)
        table = pa.concat_tables(tables)
        if spec.by_day:
            _write_by_day(table, np.concatenate(happened), root / EVENTS_DIR, index)
        else:
            pq.write_table(table, root / EVENTS_DIR / PART_FORMAT.format(index))
        rows += table.num_rows
    return {"rows": rows, "sessions": sessions, "parts": len(chunks)}


def _write_by_day(table: pa.Table, true_ts: np.ndarray, events_dir: Path, index: int) -> None:
    """Split a part by the UTC day each event happened on (before any dirt): event_date=D/part-<index>."""
    day = true_ts // SECONDS_PER_DAY
    for value in np.unique(day).tolist():
        folder = events_dir / f"event_date={np.datetime64(value, 'D')}"
        folder.mkdir(exist_ok=True)
        pq.write_table(table.filter(pa.array(day == value)), folder / PART_FORMAT.format(index))


def _clean_catalogue_columns(catalogue: Catalogue) -> dict[str, list[str]]:
    return {
        ITEM_ID: catalogue.item_ids,
        TITLE: catalogue.titles,
        DESCRIPTION: catalogue.descriptions,
        BRAND: catalogue.brands,
        CATEGORY_PATH: catalogue.category_paths(),
        PRICE: catalogue.price_strings(),
        IN_STOCK: ["true" if flag else "false" for flag in catalogue.in_stock],
    }


def _write_truth(root: Path, catalogue: Catalogue, plan: UserPlan, dirt: dict[str, Any]) -> None:
    truth = root / TRUTH_DIR
    truth.mkdir(parents=True)
    paths, levels, leaves = zip(*category_nodes(), strict=True)
    pq.write_table(
        pa.table({CATEGORY_PATH: list(paths), LEVEL: pa.array(levels, pa.int32()), IS_LEAF: list(leaves)}),
        truth / CATEGORY_TREE,
    )
    user, slot = np.nonzero(plan.preferred >= 0)
    pq.write_table(
        pa.table(
            {
                USER_ID: [USER_ID_FORMAT.format(u + 1) for u in user.tolist()],
                CATEGORY_PATH: [LEVEL2_PATHS[c] for c in plan.preferred[user, slot].tolist()],
                WEIGHT: plan.weights[user, slot],
            }
        ),
        truth / USER_PREFERENCES,
    )
    pairs, item_paths = catalogue.complements, catalogue.category_paths()
    pq.write_table(
        pa.table(
            {
                ANCHOR_ITEM_ID: [catalogue.item_ids[i] for i in pairs.anchor.tolist()],
                COMPLEMENT_ITEM_ID: [catalogue.item_ids[i] for i in pairs.complement.tolist()],
                KIND: [COMPLEMENT_KINDS[k] for k in pairs.kind.tolist()],
                ANCHOR_CATEGORY_PATH: [item_paths[i] for i in pairs.anchor.tolist()],
                COMPLEMENT_CATEGORY_PATH: [item_paths[i] for i in pairs.complement.tolist()],
            }
        ),
        truth / COMPLEMENTS,
    )
    (truth / DIRT).write_text(json.dumps(dirt, indent=2, sort_keys=True))


def _remove_world(root: Path) -> None:
    """Delete a previous world; the manifest goes first so a half-deleted world never looks complete."""
    (root / MANIFEST).unlink(missing_ok=True)
    for name in (EVENTS_DIR, CATALOGUE_DIR, TRUTH_DIR):
        shutil.rmtree(root / name, ignore_errors=True)


def generate(path: str | Path, spec: SampleWorldSpec) -> dict[str, Any]:
    """Write the world described by `spec` under `path` (replacing any old one) and return its manifest."""
    root = Path(path)
    _remove_world(root)
    catalogue = build_catalogue(spec.resolved_items, _rng(spec, CATALOGUE_STREAM))
    shop = build_shop(catalogue)
    defects = event_defect_counts(spec.events)
    extra_rows = sum(defects[name] for name in (*ADDED_EVENT_DEFECT_RATES, BOT_USER))
    plan = plan_users(spec.resolved_users, spec.events - extra_rows, shop, _rng(spec, USERS_STREAM))
    vocabulary = _Vocabulary(pa.array(catalogue.item_ids), pa.array(catalogue.price_strings()))
    written = _write_events(root, spec, plan, shop, vocabulary, defects)
    if written["rows"] != spec.events:
        raise RuntimeError(f"wrote {written['rows']} event rows, expected exactly {spec.events}")

    items = spoil_catalogue(_clean_catalogue_columns(catalogue), _rng(spec, CATALOGUE_DIRT_STREAM))
    (root / CATALOGUE_DIR).mkdir(parents=True)
    pq.write_table(pa.table(items.columns, schema=ITEMS_ARROW_SCHEMA), root / CATALOGUE_DIR / PART_FORMAT.format(0))
    item_rows = len(items.columns[ITEM_ID])
    _write_truth(
        root,
        catalogue,
        plan,
        {
            "events": defects,
            "catalogue": items.counts,
            "bot_user_ids": [BOT_USER_ID_FORMAT.format(1)],
            "multi_category_true_paths": items.true_paths,
            "messy_text_item_ids": items.messy_item_ids,
            "event_rows_written": written["rows"],
            "item_rows_written": item_rows,
            "events_expected_clean": spec.events - sum(defects.values()),
            "items_expected_clean": catalogue.size,
        },
    )
    manifest = {
        "generator": __package__,
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "counts": {
            "events": written["rows"],
            "users": spec.resolved_users,
            "bot_users": 1,
            "items": catalogue.size,
            "item_rows": item_rows,
            "sessions": written["sessions"],
            "event_parts": written["parts"],
        },
        "window": {"start": _utc(WINDOW_START), "end": _utc(WINDOW_END), "format": TIME_FORMAT_NOTE},
    }
    temporary = root / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(temporary, root / MANIFEST)  # written last: its presence marks a complete world
    return manifest


def _utc(epoch_seconds: int) -> str:
    return str(format_timestamps(np.array([epoch_seconds]))[0])


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the world under `path`; FileNotFoundError when there is no complete world."""
    return dict(json.loads((Path(path) / MANIFEST).read_text()))


def ensure_generated(path: str | Path, spec: SampleWorldSpec) -> dict[str, Any]:
    """Reuse the world under `path` when its manifest matches `spec` and this generator, else regenerate."""
    try:
        manifest = read_manifest(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return generate(path, spec)
    if manifest.get("spec") == asdict(spec) and manifest.get("generator_version") == GENERATOR_VERSION:
        return manifest
    return generate(path, spec)
