"""Published state the stream keeps on the driver between micro-batches, so a batch need not query it.

Each micro-batch needs, for the users it touched, their published events (their history, to fold
them in and to tell a replayed event from a new one) and their `user_idx`. Read from Delta every
time, those two queries cost about 1.9 s of the ~6 s before a batch's user lists are written on
local[2] (each also rebuilds the table's snapshot after the last batch's commit). Both tables
change mostly by the stream's own commits, so the driver keeps a copy that it advances with what
it committed itself.

A copy is valid for one Delta version of its table. Before use, the writer compares it with the
table's latest version; after its own commit, it advances the copy only when the table moved by
exactly that one commit. Any other commit (a batch run, OPTIMIZE, a restore, a concurrent
stream) empties the copy, and the next batch reads the table again, so nothing stale is served.

Per user the copy keeps what a refresh folds in (`streaming.history_events_per_user`: the newest
events plus every purchase; `clean.recent_history`) and remembers the newest event it let go: a
batch event of that user at or before it might replay a dropped one, so that user's whole history
is read again (the replay check stays exact).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from crosssell_spark.schemas import USER_ID, USER_IDX
from crosssell_spark.streaming.clean import recent_history


def follows(copy_version: int | None, before: int | None, after: int | None) -> bool:
    """Whether a copy at `copy_version` may advance to `after`: the writer's own commit moved the
    table from `before` (the copy's version) by exactly one version."""
    return copy_version is not None and before == copy_version and after is not None and after == before + 1


class PublishedHistory:
    """events_clean rows of recently touched users, plus which users have any published row.

    `published_users` (every user id with a row at `version`) tells a user without history apart
    from one who was not looked up; `rows` holds the history of the users in `cached` (possibly
    none; with `per_user`, their newest events and purchases, every event after `horizon[user]`),
    at most about `max_events` rows: the users touched longest ago go first.
    """

    def __init__(self, columns: Sequence[str], max_events: int, per_user: int = 0) -> None:
        self.columns, self.max_events, self.per_user = list(columns), max_events, per_user
        self.version: int | None = None
        self.published_users: set[str] = set()
        self.rows = pd.DataFrame({c: [] for c in self.columns})
        self.cached: dict[str, int] = {}  # user -> sequence number of the batch that last touched it
        self.horizon: dict[str, pd.Timestamp] = {}  # user -> newest event_ts of their rows let go
        self._sequence = 0

    def reset(self, version: int | None, published_users: Iterable[str]) -> None:
        """Start over at `version`, where exactly `published_users` have rows."""
        self.version, self.published_users = version, set(published_users)
        self.rows = pd.DataFrame({c: [] for c in self.columns})
        self.cached, self.horizon = {}, {}

    def forget(self) -> None:
        """Hold nothing: the next batch reads the table again."""
        self.reset(None, ())

    def split(
        self, users: Sequence[str], oldest: Mapping[str, pd.Timestamp] | None = None
    ) -> tuple[pd.DataFrame, list[str]]:
        """(rows of the cached users among `users`, users whose published rows must be read).
        `oldest`: each user's oldest event_ts in the batch (a user reaching back past its horizon is read)."""
        self._sequence += 1
        wanted, to_read, reread = [], [], []
        for user in users:
            edge = self.horizon.get(user)
            if edge is not None and oldest is not None and user in oldest and oldest[user] <= edge:
                reread.append(user)  # might replay an event the copy let go
            elif user in self.cached:
                wanted.append(user)
                continue
            if user in self.published_users:
                to_read.append(user)  # cached once read (`add_read`)
                continue
            self.cached[user] = self._sequence  # a user without any published row: an empty history
        if reread:
            self._drop(reread)
        rows = self.rows[self.rows[USER_ID].isin(wanted)] if wanted else self.rows.iloc[:0]
        return rows.reset_index(drop=True), to_read

    def add_read(self, users: Sequence[str], rows: pd.DataFrame) -> None:
        """The published rows just read for `users` (their whole history at `version`)."""
        self._append(rows)
        for user in users:
            self.cached[user] = self._sequence
        self._trim(users)

    def committed(self, before: int | None, after: int | None, rows: pd.DataFrame) -> None:
        """After the writer's own commit of `rows`: advance to `after` when it is the next version of
        `before`, else (another writer committed too, or nothing was committed) forget everything."""
        if not follows(self.version, before, after):
            self.forget()
            return
        self.version = after
        self.published_users.update(rows[USER_ID].astype(str))
        added = rows[rows[USER_ID].isin(list(self.cached))]
        self._append(added)
        self._trim(added[USER_ID].unique())
        self._evict()

    def _append(self, rows: pd.DataFrame) -> None:
        if len(rows):
            parts = [self.rows, rows[self.columns]] if len(self.rows) else [rows[self.columns]]
            self.rows = pd.concat(parts, ignore_index=True)

    def _drop(self, users: Iterable[str]) -> None:
        gone = set(users)
        self.rows = self.rows[~self.rows[USER_ID].isin(gone)].reset_index(drop=True)
        self.cached = {u: n for u, n in self.cached.items() if u not in gone}
        self.horizon = {u: t for u, t in self.horizon.items() if u not in gone}

    def _trim(self, users: Iterable[str]) -> None:
        """Keep of `users` with over 125 % of `per_user` rows only what a refresh folds in (the slack
        spares a trim every batch), and move their horizons on."""
        if not self.per_user:
            return
        mine = self.rows[USER_ID].isin(set(users)).to_numpy()
        sizes = self.rows.loc[mine, USER_ID].value_counts()
        over = set(sizes.index[sizes > self.per_user * 1.25])
        if not over:
            return
        theirs = self.rows[USER_ID].isin(over).to_numpy()
        kept, dropped = recent_history(self.rows[theirs], self.per_user)
        self.rows = pd.concat([self.rows[~theirs], kept], ignore_index=True)
        for user, ts in dropped.items():
            self.horizon[str(user)] = max(ts, self.horizon.get(str(user), ts))

    def _evict(self) -> None:
        """Drop the least recently touched users until the rows fit in `max_events` (to 90 %, so that
        eviction does not run every batch)."""
        if len(self.rows) <= self.max_events:
            return
        sizes = self.rows[USER_ID].value_counts()
        keep, budget = [], int(self.max_events * 0.9)
        for user, _ in sorted(self.cached.items(), key=lambda kv: kv[1], reverse=True):
            budget -= int(sizes.get(user, 0))
            if budget < 0:
                break
            keep.append(user)
        self.cached = {u: self.cached[u] for u in keep}
        self.horizon = {u: t for u, t in self.horizon.items() if u in self.cached}
        self.rows = self.rows[self.rows[USER_ID].isin(keep)].reset_index(drop=True)


class UserIds:
    """user_id -> user_idx of every user in user_id_map at `version`, and the largest idx."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.ids: dict[str, int] = {}
        self.largest = 0

    def reset(self, version: int | None, id_map: pd.DataFrame) -> None:
        """Start over from the (user_id, user_idx) rows of user_id_map at `version`."""
        self.version = version
        self.ids = dict(zip(id_map[USER_ID].astype(str), id_map[USER_IDX].astype(int), strict=True))
        self.largest = max(self.ids.values(), default=0)

    def forget(self) -> None:
        """Hold nothing: the next batch reads the table again."""
        self.version, self.ids, self.largest = None, {}, 0

    def lookup(self, users: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
        """((user_id, user_idx) of the known `users`, the users without an idx yet)."""
        known = [u for u in users if u in self.ids]
        found = pd.DataFrame({USER_ID: pd.Series(known, dtype=object), USER_IDX: [self.ids[u] for u in known]})
        return found.astype({USER_IDX: "int64"}), [u for u in users if u not in self.ids]

    def committed(self, before: int | None, after: int | None, first_seen: pd.DataFrame) -> None:
        """After the writer's own commit of `first_seen` (its first plan went in as planned): advance, or
        forget (as `PublishedHistory`). A writer whose ids were planned again forgets instead."""
        if not follows(self.version, before, after):
            self.forget()
            return
        self.version = after
        for user, idx in zip(first_seen[USER_ID].astype(str), first_seen[USER_IDX].astype(int), strict=True):
            self.ids[user] = idx
            self.largest = max(self.largest, idx)
