"""What sample world to build: its size and seed, and the sizes derived from them."""

from __future__ import annotations

from dataclasses import dataclass

MIN_EVENTS = 10_000  # below this the bot and the planted dirt would swamp normal behaviour
EVENTS_PER_USER = 60
EVENTS_PER_ITEM = 40
DEFAULT_MIN_ITEMS, DEFAULT_MAX_ITEMS = 1_500, 100_000
MIN_ITEMS = 300  # enough for every leaf category to hold a handful of items
MAX_ITEMS = 999_999  # item ids are "P" + 6 digits


@dataclass(frozen=True)
class SampleWorldSpec:
    """Size and seed of a sample world; users and items default to sizes derived from `events`."""

    events: int
    seed: int
    users: int | None = None
    items: int | None = None
    by_day: bool = False  # events as day partitions events/event_date=YYYY-MM-DD/ (for --run-date runs)

    def __post_init__(self) -> None:
        if self.events < MIN_EVENTS:
            raise ValueError(f"SampleWorldSpec.events must be >= {MIN_EVENTS}, got {self.events}")
        if self.seed < 0:
            raise ValueError(f"SampleWorldSpec.seed must be >= 0, got {self.seed}")
        if self.users is not None and self.users < 1:
            raise ValueError(f"SampleWorldSpec.users must be >= 1, got {self.users}")
        if self.items is not None and not MIN_ITEMS <= self.items <= MAX_ITEMS:
            raise ValueError(f"SampleWorldSpec.items must be in [{MIN_ITEMS}, {MAX_ITEMS}], got {self.items}")

    @property
    def resolved_users(self) -> int:
        """Number of (normal) shoppers: given, else one per EVENTS_PER_USER events."""
        return self.users if self.users is not None else max(1, round(self.events / EVENTS_PER_USER))

    @property
    def resolved_items(self) -> int:
        """Number of valid catalogue items: given, else one per EVENTS_PER_ITEM events, clamped."""
        if self.items is not None:
            return self.items
        return min(max(round(self.events / EVENTS_PER_ITEM), DEFAULT_MIN_ITEMS), DEFAULT_MAX_ITEMS)
