"""A micro-batch through the batch job's cleaning: malformed rows, classify, clean, already-seen events.

Pure transforms; the batch job's rules (`cleaning.events`) are imported, not copied. What a
stream adds: rows the reader could not parse (`malformed_record`), rows of a CSV file whose
header is not the contract's (`bad_header`), and events an earlier batch already wrote (same
`event_id`, counted as duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crosssell_spark.schemas import (
    DETAIL,
    EVENT_DATE,
    EVENT_ID,
    EVENT_TS,
    EVENT_TYPE,
    PURCHASE,
    RAW_EVENT_COLUMNS,
    REASON,
    USER_ID,
)
from crosssell_spark.streaming.source import CORRUPT_RECORD, SOURCE_FILE

MALFORMED_RECORD = "malformed_record"
BAD_HEADER = "bad_header"
DETAIL_CHARS = 200  # raw text kept in `detail` of an unparseable row


def _is_unreadable(bad_files: Sequence[str]) -> Column:
    return F.col(CORRUPT_RECORD).isNotNull() | F.col(SOURCE_FILE).isin(*bad_files)


def unreadable_rows(bad_files: Sequence[str], keep_text: bool = True) -> Callable[[DataFrame], DataFrame]:
    """Rows that never reach the cleaning rules, as quarantine rows (raw columns, reason, detail).

    Args:
        keep_text: put the start of an unparseable line in `detail`; off when user ids are
            pseudonymised, since the raw text may hold a real id.
    """

    def transform(batch: DataFrame) -> DataFrame:
        reason = F.when(F.col(SOURCE_FILE).isin(*bad_files), F.lit(BAD_HEADER)).otherwise(F.lit(MALFORMED_RECORD))
        raw = F.col(CORRUPT_RECORD)
        shown = F.substring(raw, 1, DETAIL_CHARS) if keep_text else F.format_string("%d characters", F.length(raw))
        text = F.coalesce(shown, F.lit("header not the contract's"))
        return batch.filter(_is_unreadable(bad_files)).select(
            *RAW_EVENT_COLUMNS,
            reason.alias(REASON),
            F.concat(F.col(SOURCE_FILE), F.lit(": "), text).alias(DETAIL),
        )

    return transform


def readable_rows(bad_files: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """The contract columns of every row the cleaning rules judge."""
    return lambda batch: batch.filter(~_is_unreadable(bad_files)).select(*RAW_EVENT_COLUMNS)


def not_yet_published(clean: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Clean events whose (event_date, event_id) is not among `published`: the same users' events_clean
    rows (an event id hashes its user id, so a replayed event is always among its user's rows)."""
    keys = [EVENT_DATE, EVENT_ID]
    seen = clean[EVENT_ID].isin(published[EVENT_ID]).to_numpy()  # a hash lookup first, then the dates
    if seen.any():
        both = clean.loc[seen, keys].merge(published[keys].drop_duplicates(), how="left", indicator=True)
        seen[seen] = (both["_merge"] == "both").to_numpy()
    return clean[~seen].reset_index(drop=True)


def recent_history(events: pd.DataFrame, per_user: int) -> tuple[pd.DataFrame, pd.Series]:
    """Each user's newest `per_user` events (and any others at the same instant as the last of
    them) plus all their purchases (what their lists must not offer again), and per user the
    newest event_ts dropped (none where nothing was). `per_user` 0 keeps every event. The rule of
    `streaming.history_events_per_user`; row order is kept."""
    none = pd.Series(dtype="datetime64[ns]")
    if per_user <= 0 or len(events) <= per_user:
        return events, none
    users, names = pd.factorize(events[USER_ID])
    sizes = np.bincount(users)
    heavy = sizes > per_user
    if not heavy.any():
        return events, none
    ts = events[EVENT_TS].to_numpy("datetime64[ns]").astype(np.int64)
    rows = np.flatnonzero(heavy[users])
    order = rows[np.lexsort((-ts[rows], users[rows]))]  # heavy users' rows, each user's newest first
    first = np.r_[0, np.cumsum(sizes[heavy])[:-1]]  # where each heavy user starts in `order`
    cutoff = np.full(len(sizes), np.iinfo(np.int64).min)
    cutoff[np.flatnonzero(heavy)] = ts[order[first + per_user - 1]]  # their per_user-th newest instant
    dropped = (ts < cutoff[users]) & (events[EVENT_TYPE].to_numpy(dtype=object) != PURCHASE)
    if not dropped.any():
        return events, none
    horizon = pd.Series(events[EVENT_TS].to_numpy("datetime64[ns]")[dropped]).groupby(names[users[dropped]]).max()
    return events[~dropped], horizon
