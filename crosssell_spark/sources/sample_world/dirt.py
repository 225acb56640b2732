"""Planted defects at known rates: every dirty row carries exactly one defect, and every one is counted.

Events: `exact_duplicates` and `near_duplicates` are extra rows copied from clean events (cleaning drops
them); the other row-level defects turn a clean event into a quarantined one in place; `bot_user` counts
the rows of the one crawler. Catalogue: `missing_title`, `bad_item_price` and `null_item_id` rows are
quarantined, `duplicate_item_rows` are dropped, `multi_category_items` are resolved by rule (deepest path
wins) and `messy_text` items are valid rows that cleaning normalises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crosssell_spark.schemas import (
    BRAND,
    CATEGORY_PATH,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources.sample_world.catalogue import ITEM_ID_FORMAT
from crosssell_spark.sources.sample_world.formats import format_timestamps
from crosssell_spark.sources.sample_world.taxonomy import level2_path

# --- events: share of all event rows, at least one of each -----------------------------------------
EXACT_DUPLICATES, NEAR_DUPLICATES, BOT_USER = "exact_duplicates", "near_duplicates", "bot_user"
ADDED_EVENT_DEFECT_RATES = {EXACT_DUPLICATES: 0.004, NEAR_DUPLICATES: 0.003}
MUTATED_EVENT_DEFECT_RATES = {
    "null_user_id": 0.001,
    "null_item_id": 0.001,
    "bad_timestamp": 0.001,
    "out_of_range_timestamp": 0.001,
    "unknown_item": 0.002,
    "negative_price": 0.001,
    "absurd_price": 0.001,
    "bad_quantity": 0.001,
    "unknown_event_type": 0.001,
}
EVENT_DEFECTS = (*ADDED_EVENT_DEFECT_RATES, *MUTATED_EVENT_DEFECT_RATES, BOT_USER)
BOT_SHARE, BOT_MIN_EVENTS, BOT_MAX_EVENTS = 0.015, 2_100, 3_000  # always above the 2,000 a day bot limit
NEAR_DUPLICATE_DELAY_SECONDS = 1  # inside cleaning's 2 s window

BAD_TIMESTAMPS = ("not-a-date", "2026-13-45 99:99:99", "31/31/2026 25:61", "yesterday")


def _epoch(timestamp: str) -> int:
    return int(np.datetime64(timestamp, "s").astype(np.int64))


PAST_RANGE = (_epoch("1970-01-01T00:00:00"), _epoch("1999-12-31T23:59:59"))  # before cleaning's 2000-01-01
FUTURE_RANGE = (_epoch("2099-01-01T00:00:00"), _epoch("2099-12-31T23:59:59"))
UNKNOWN_ITEM_FORMAT = "P9{:06d}"  # 8 characters: never a catalogue id ("P" + 6 digits)
UNKNOWN_ITEM_NUMBERS = 1_000_000
ABSURD_PRICES = ("99999999.00", "123456789.99", "5000000.00")  # above cleaning.max_price
BAD_QUANTITIES = ("0", "-1")
UNKNOWN_EVENT_TYPES = ("hover", "scroll", "zoom")

# --- catalogue: share of valid items, at least one of each -----------------------------------------
CATALOGUE_DEFECT_RATES = {
    "duplicate_item_rows": 0.005,
    "multi_category_items": 0.005,
    "missing_title": 0.003,
    "bad_item_price": 0.003,
    "null_item_id": 0.002,
    "messy_text": 0.01,
}
BLANK_TITLES = (None, "   ")
FULL_WIDTH_OFFSET = 0xFEE0  # ASCII letter + offset = its full-width form (U+FF21...); NFKC folds it back
LIGATURES = {"fi": "\ufb01", "fl": "\ufb02"}


def event_defect_counts(events: int) -> dict[str, int]:
    """Exact number of rows of each event defect in a world of `events` rows."""
    rates = {**ADDED_EVENT_DEFECT_RATES, **MUTATED_EVENT_DEFECT_RATES}
    counts = {name: max(1, round(rate * events)) for name, rate in rates.items()}
    counts[BOT_USER] = min(max(round(BOT_SHARE * events), BOT_MIN_EVENTS), BOT_MAX_EVENTS)
    return counts


@dataclass(frozen=True)
class EventDirt:
    """Where a chunk's defects go: output row -> source clean row, time shift, and rows per defect."""

    source_row: np.ndarray
    delay: np.ndarray
    rows: dict[str, np.ndarray]  # defect -> output row positions


def plan_event_dirt(clean_rows: int, quotas: dict[str, int], rng: np.random.Generator) -> EventDirt:
    """Pick distinct clean rows to copy or spoil, and place each copy right after its source."""
    names = [name for name in EVENT_DEFECTS if name != BOT_USER]
    picked = rng.choice(clean_rows, size=sum(quotas[n] for n in names), replace=False)
    by_defect = dict(zip(names, np.split(picked, np.cumsum([quotas[n] for n in names])[:-1]), strict=True))
    copies = [by_defect[name] for name in ADDED_EVENT_DEFECT_RATES]
    source = np.concatenate([np.arange(clean_rows), *copies])
    delay = np.concatenate(
        [
            np.zeros(clean_rows + copies[0].size, np.int64),
            np.full(copies[1].size, NEAR_DUPLICATE_DELAY_SECONDS),
        ]
    )
    order = np.argsort(source, kind="stable")  # originals come first, so each copy follows its source
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    rows = {name: position[by_defect[name]] for name in MUTATED_EVENT_DEFECT_RATES}
    first_copy = clean_rows
    for name, copy in zip(ADDED_EVENT_DEFECT_RATES, copies, strict=True):
        rows[name] = position[first_copy : first_copy + copy.size]
        first_copy += copy.size
    return EventDirt(source_row=source[order], delay=delay[order], rows=rows)


def _replacements(rows: np.ndarray, column: pa.Array, defect: str, rng: np.random.Generator) -> list[str | None]:
    """The spoiled values of one mutated defect."""
    n = rows.size
    if defect in ("null_user_id", "null_item_id"):
        return [None] * n
    if defect == "bad_timestamp":
        return [BAD_TIMESTAMPS[i] for i in rng.integers(0, len(BAD_TIMESTAMPS), n)]
    if defect == "out_of_range_timestamp":
        past = rng.integers(PAST_RANGE[0], PAST_RANGE[1], n)
        future = rng.integers(FUTURE_RANGE[0], FUTURE_RANGE[1], n)
        return format_timestamps(np.where(rng.random(n) < 0.5, past, future)).to_pylist()
    if defect == "unknown_item":
        return [UNKNOWN_ITEM_FORMAT.format(i) for i in rng.integers(0, UNKNOWN_ITEM_NUMBERS, n)]
    if defect == "negative_price":
        return [f"-{price}" for price in column.take(pa.array(rows)).to_pylist()]
    if defect == "absurd_price":
        return [ABSURD_PRICES[i] for i in rng.integers(0, len(ABSURD_PRICES), n)]
    if defect == "bad_quantity":
        return [BAD_QUANTITIES[i] for i in rng.integers(0, len(BAD_QUANTITIES), n)]
    if defect == "unknown_event_type":
        return [UNKNOWN_EVENT_TYPES[i] for i in rng.integers(0, len(UNKNOWN_EVENT_TYPES), n)]
    raise ValueError(f"unknown event defect {defect!r}")


DEFECT_COLUMN = {
    "null_user_id": USER_ID,
    "null_item_id": ITEM_ID,
    "bad_timestamp": EVENT_TS,
    "out_of_range_timestamp": EVENT_TS,
    "unknown_item": ITEM_ID,
    "negative_price": PRICE,
    "absurd_price": PRICE,
    "bad_quantity": QUANTITY,
    "unknown_event_type": EVENT_TYPE,
}


def spoil_events(columns: dict[str, pa.Array], dirt: EventDirt, rng: np.random.Generator) -> dict[str, pa.Array]:
    """Write each mutated defect's bad value into its column at its rows."""
    edits: dict[str, dict[int, str | None]] = {}
    for defect in MUTATED_EVENT_DEFECT_RATES:
        name = DEFECT_COLUMN[defect]
        rows = dirt.rows[defect]
        values = _replacements(rows, columns[name], defect, rng)
        edits.setdefault(name, {}).update(zip(rows.tolist(), values, strict=True))
    spoiled = dict(columns)
    for name, by_row in edits.items():
        positions = sorted(by_row)
        mask = np.zeros(len(columns[name]), dtype=bool)
        mask[positions] = True
        replacements = pa.array([by_row[p] for p in positions], type=pa.string())
        spoiled[name] = pc.replace_with_mask(columns[name], pa.array(mask), replacements)
    return spoiled


# --- catalogue -------------------------------------------------------------------------------------

SPACING, BRAND_CASE, FULL_WIDTH, LIGATURE = range(4)  # kinds of messy-but-valid text, used in turn
MESSY_KINDS = 4


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + FULL_WIDTH_OFFSET) if c.isascii() and c.isalnum() else c for c in text)


def _messy(title: str, brand: str, kind: int) -> tuple[str, str]:
    """Title and brand with one kind of mess that NFKC, whitespace collapsing and case folding undo."""
    if kind == SPACING:
        return f"  {title.replace(' ', '   ')} ", f" {brand}  "
    if kind == BRAND_CASE:
        return title.replace(brand, brand.swapcase(), 1), brand.swapcase()
    if kind == LIGATURE:
        with_ligatures = title
        for plain, ligature in LIGATURES.items():
            with_ligatures = with_ligatures.replace(plain, ligature)
        if with_ligatures != title:
            return with_ligatures, brand
    first, _, rest = title.partition(" ")  # FULL_WIDTH, and LIGATURE titles without "fi" or "fl"
    return f"{_full_width(first)} {rest}", brand


@dataclass(frozen=True)
class CatalogueRows:
    """The raw catalogue rows as written (shuffled) and the truth about their defects."""

    columns: dict[str, list[str | None]]
    counts: dict[str, int]
    true_paths: dict[str, str]  # multi-category item -> the path cleaning must keep
    messy_item_ids: list[str]


def spoil_catalogue(clean: dict[str, list[str]], rng: np.random.Generator) -> CatalogueRows:
    """Add duplicate, multi-category and invalid rows to the valid items and mess up some texts."""
    n = len(clean[ITEM_ID])
    counts = {name: max(1, round(rate * n)) for name, rate in CATALOGUE_DEFECT_RATES.items()}
    picked = rng.choice(n, size=sum(counts.values()), replace=False)
    chosen = dict(zip(counts, np.split(picked, np.cumsum(list(counts.values()))[:-1]), strict=True))
    columns: dict[str, list[str | None]] = {name: list(values) for name, values in clean.items()}
    new_ids = iter(ITEM_ID_FORMAT.format(n + 1 + k) for k in range(n))  # invalid items get unused ids

    def add_row(source: int, **changes: str | None) -> None:
        for name, values in columns.items():
            values.append(changes[name] if name in changes else clean[name][source])

    for source in chosen["duplicate_item_rows"]:
        add_row(source)
    true_paths = {}
    for source in chosen["multi_category_items"]:
        true_paths[clean[ITEM_ID][source]] = clean[CATEGORY_PATH][source]
        add_row(source, category_path=level2_path(clean[CATEGORY_PATH][source]))
    for k, source in enumerate(chosen["missing_title"]):
        add_row(source, item_id=next(new_ids), title=BLANK_TITLES[k % len(BLANK_TITLES)])
    for source in chosen["bad_item_price"]:
        add_row(source, item_id=next(new_ids), price=f"-{clean[PRICE][source]}")
    for source in chosen["null_item_id"]:
        add_row(source, item_id=None)
    for k, source in enumerate(chosen["messy_text"]):
        columns[TITLE][source], columns[BRAND][source] = _messy(
            clean[TITLE][source], clean[BRAND][source], k % MESSY_KINDS
        )
    order = rng.permutation(len(columns[ITEM_ID]))
    return CatalogueRows(
        columns={name: [values[i] for i in order] for name, values in columns.items()},
        counts=counts,
        true_paths=true_paths,
        messy_item_ids=sorted(clean[ITEM_ID][i] for i in chosen["messy_text"]),
    )
