"""How the sample shop's raw feed spells ids, timestamps, event types and quantities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crosssell_spark.schemas import CANONICAL_EVENT_TYPES, CART, PURCHASE, VIEW

USER_ID_FORMAT = "U{:07d}"
BOT_USER_ID_FORMAT = "U_BOT{:04d}"
SESSION_ID_FORMAT = "S{:07d}-{:04d}"  # user number, the user's session number
BOT_SESSION_ID_FORMAT = "S_BOT{:04d}-{:04d}"
SESSION_KEY_STRIDE = 10_000  # session key = user number * stride + session number
TIMESTAMP_TEMPLATE = b"0000-00-00 00:00:00"  # "yyyy-MM-dd HH:mm:ss", always UTC
QUANTITY_STRINGS = ("0", "1", "2", "3")  # indexed by quantity

# valid but non-canonical spellings a real feed mixes in; cleaning maps them back (conf: event_type_aliases)
EVENT_TYPE_ALIASES = {
    VIEW: ("View", "page_view"),
    CART: ("add_to_cart", "Cart"),
    PURCHASE: ("PURCHASE", "order"),
}
ALIAS_SHARE = 0.02
ALIASES_PER_TYPE = 2
# spelling index: canonical type code t -> t; its a-th alias -> len(types) + t * ALIASES_PER_TYPE + a
EVENT_TYPE_SPELLINGS = CANONICAL_EVENT_TYPES + tuple(
    alias for kind in CANONICAL_EVENT_TYPES for alias in EVENT_TYPE_ALIASES[kind]
)

SECONDS_PER_MINUTE, SECONDS_PER_HOUR = 60, 3_600
_DIGIT_FIELDS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))  # (offset, width) of y, M, d, H, m, s


def format_timestamps(epoch_seconds: np.ndarray) -> pa.Array:
    """Epoch seconds (years 1000-9999) as "yyyy-MM-dd HH:mm:ss" strings, vectorised digit by digit."""
    seconds = np.asarray(epoch_seconds, dtype=np.int64).astype("datetime64[s]")
    days = seconds.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    month_number = months.astype(np.int64)
    second_of_day = (seconds - days).astype(np.int64)
    hour, rest = np.divmod(second_of_day, SECONDS_PER_HOUR)
    minute, second = np.divmod(rest, SECONDS_PER_MINUTE)
    parts = (
        month_number // 12 + 1970,
        month_number % 12 + 1,
        (days - months).astype(np.int64) + 1,
        hour,
        minute,
        second,
    )
    width = len(TIMESTAMP_TEMPLATE)
    text = np.tile(np.frombuffer(TIMESTAMP_TEMPLATE, dtype=np.uint8), (seconds.size, 1))
    for (offset, digits), value in zip(_DIGIT_FIELDS, parts, strict=True):
        for position in range(offset + digits - 1, offset - 1, -1):
            value, digit = np.divmod(value, 10)
            text[:, position] += digit.astype(np.uint8)
    offsets = np.arange(0, width * (seconds.size + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(seconds.size, pa.py_buffer(offsets), pa.py_buffer(text))


def format_session_ids(keys: np.ndarray, template: str = SESSION_ID_FORMAT) -> list[str]:
    """Session keys (user number * stride + session number) as session id strings."""
    users, sessions = np.divmod(np.asarray(keys, dtype=np.int64), SESSION_KEY_STRIDE)
    return [template.format(u, s) for u, s in zip(users.tolist(), sessions.tolist(), strict=True)]


def strings_by_code(values: pa.Array | list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """A string column picked from a vocabulary by integer codes."""
    vocabulary = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    return vocabulary.take(pa.array(np.asarray(codes, dtype=np.int64)))


def spell_event_types(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spelling index (into EVENT_TYPE_SPELLINGS) per event: canonical, or now and then a valid alias."""
    alias = rng.random(codes.size) < ALIAS_SHARE
    alias_index = len(CANONICAL_EVENT_TYPES) + codes * ALIASES_PER_TYPE + rng.integers(0, ALIASES_PER_TYPE, codes.size)
    return np.where(alias, alias_index, codes)
