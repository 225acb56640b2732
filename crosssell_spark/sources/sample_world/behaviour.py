"""How the sample shop's customers behave: preferences, sessions, funnels, complements and one bot."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from crosssell_spark.sources.sample_world.catalogue import COMPLEMENT_KINDS, Catalogue
from crosssell_spark.sources.sample_world.formats import SESSION_KEY_STRIDE
from crosssell_spark.sources.sample_world.taxonomy import LEAVES, LEVEL2_PATHS

# --- time ------------------------------------------------------------------------------------------
WINDOW_END = int(np.datetime64("2026-10-31T23:59:59", "s").astype(np.int64))  # fixed, never "now"
WINDOW_DAYS = 60
SECONDS_PER_DAY = 86_400
WINDOW_START = WINDOW_END + 1 - WINDOW_DAYS * SECONDS_PER_DAY
MIN_EVENT_GAP_SECONDS = 5  # well clear of cleaning's 2 s near-duplicate window
MEAN_EXTRA_GAP_SECONDS = 40
MIN_SESSION_GAP_SECONDS = 1_800

# --- users -----------------------------------------------------------------------------------------
MIN_PREFERENCES, MAX_PREFERENCES = 2, 4  # preferred level-2 categories per user
PREFERENCE_CONCENTRATION = 3.0  # Dirichlet parameter of preference weights: higher is more even
PREFERRED_SHARE = 0.85  # sessions spent in a preferred category; the rest wander anywhere
ACTIVITY_SIGMA = 0.9  # log-normal spread of how active users are
MAX_ACTIVITY_RATIO = 12.0  # cap on a user's activity relative to the mean user
MIN_EVENTS_PER_USER = 2
MAX_EVENTS_PER_USER = 1_500  # far below the 2,000 events per day that mark a bot

# --- sessions --------------------------------------------------------------------------------------
EXTRA_VISITS_MEAN = 2.5  # item visits per session = 1 + Poisson(this)
EXTRA_VIEWS_MEAN = 0.4  # views per visit = 1 + Poisson(this)
CART_RATE = 0.38  # visits that put the item in the cart
PURCHASE_RATE_GIVEN_CART = 0.52
BUY_TOGETHER = {"content": 0.3, "behavioural": 0.6}  # chance an anchor purchase pulls in a complement
PURCHASE_QUANTITIES, PURCHASE_QUANTITY_WEIGHTS = np.array([1, 2, 3]), np.array([0.88, 0.09, 0.03])
EXPECTED_EVENTS_PER_SESSION = 7.0
SESSION_OVERSUPPLY = 1.3  # sessions simulated per session needed, so one round nearly always suffices

# --- the bot ---------------------------------------------------------------------------------------
BOT_EVENT_GAP_SECONDS = 25  # 3,000 events x 25 s fit in one day
BOT_DAY_START_SECONDS = 600
BOT_EVENTS_PER_SESSION = 500

VIEW_CODE, CART_CODE, PURCHASE_CODE = 0, 1, 2  # index into schemas.CANONICAL_EVENT_TYPES
_USER_BLOCK = np.int64(1) << 40  # separates users when a running maximum must restart per user


@dataclass(frozen=True)
class UserPlan:
    """Per user: how many clean events to simulate and which level-2 categories they prefer."""

    events: np.ndarray  # clean events per user
    preferred: np.ndarray  # (users, MAX_PREFERENCES) level-2 indices, -1 where unused
    weights: np.ndarray  # (users, MAX_PREFERENCES) preference weights, 0 where unused

    def chunks(self, events_per_chunk: int) -> list[tuple[int, int]]:
        """Contiguous user ranges holding about `events_per_chunk` events each."""
        ends = np.cumsum(self.events)
        n_chunks = max(1, round(int(ends[-1]) / events_per_chunk))
        cuts = np.searchsorted(ends, np.arange(1, n_chunks) * (ends[-1] / n_chunks))
        bounds = [0, *sorted(set(int(c) + 1 for c in cuts)), len(self.events)]
        return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


@dataclass(frozen=True)
class Shop:
    """What shoppers can browse and what they buy together, as lookup arrays over item indices."""

    browse_items: np.ndarray  # valid item indices grouped by level-2 category
    browse_cdf: np.ndarray  # level-2 index + cumulative browse share within the category
    block_end: np.ndarray  # per level-2 category, end of its block in browse_items
    level2_popularity: np.ndarray
    complement_start: np.ndarray  # CSR over anchor items into complement_items
    complement_items: np.ndarray
    buy_together: np.ndarray  # per anchor item, chance that buying it pulls in a complement
    n_items: int


@dataclass(frozen=True)
class SimulatedEvents:
    """Clean events of a group of users, ordered by user, then time."""

    user: np.ndarray  # user number (1-based)
    item: np.ndarray  # valid item index
    event_type: np.ndarray  # VIEW_CODE, CART_CODE or PURCHASE_CODE
    quantity: np.ndarray
    ts: np.ndarray  # epoch seconds
    session: np.ndarray  # session key: user number * SESSION_KEY_STRIDE + session number

    @property
    def size(self) -> int:
        """Number of events."""
        return len(self.user)


def level2_of_leaves() -> np.ndarray:
    """The level-2 index of each leaf in taxonomy order."""
    return np.array([LEVEL2_PATHS.index(leaf.level2_path) for leaf in LEAVES])


def build_shop(catalogue: Catalogue) -> Shop:
    """Browse shares (leaf weight x Zipf popularity) and buy-together links for the simulation."""
    leaf_weight = np.array([leaf.weight for leaf in LEAVES])
    leaf = catalogue.leaf_of_item
    share = leaf_weight[leaf] * catalogue.popularity / np.bincount(leaf, weights=catalogue.popularity)[leaf]
    level2 = level2_of_leaves()[leaf]
    order = np.lexsort((np.arange(catalogue.size), level2))
    level2_total = np.bincount(level2, weights=share, minlength=len(LEVEL2_PATHS))
    cumulative = np.cumsum(share[order])
    block_end = np.cumsum(np.bincount(level2, minlength=len(LEVEL2_PATHS)))
    block_base = np.concatenate([[0.0], cumulative[block_end[:-1] - 1]])
    within = (cumulative - block_base[level2[order]]) / level2_total[level2[order]]

    pairs = catalogue.complements
    by_anchor = np.argsort(pairs.anchor, kind="stable")
    buy_together = np.zeros(catalogue.size)
    kind_chance = np.array([BUY_TOGETHER[kind] for kind in COMPLEMENT_KINDS])
    buy_together[pairs.anchor] = kind_chance[pairs.kind]
    return Shop(
        browse_items=order,
        browse_cdf=level2[order] + within,
        block_end=block_end,
        level2_popularity=level2_total / level2_total.sum(),
        complement_start=np.concatenate([[0], np.cumsum(np.bincount(pairs.anchor, minlength=catalogue.size))]),
        complement_items=pairs.complement[by_anchor],
        buy_together=buy_together,
        n_items=catalogue.size,
    )


def plan_users(n_users: int, clean_events: int, shop: Shop, rng: np.random.Generator) -> UserPlan:
    """Split the clean events over users by skewed activity and draw each user's preferred categories."""
    if not n_users * MIN_EVENTS_PER_USER <= clean_events <= n_users * MAX_EVENTS_PER_USER // 2:
        raise ValueError(
            f"{clean_events} clean events cannot be spread over {n_users} users at "
            f"{MIN_EVENTS_PER_USER}..{MAX_EVENTS_PER_USER // 2} events per user on average"
        )
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, n_users)
    activity = np.minimum(activity, MAX_ACTIVITY_RATIO * activity.mean())
    spare = clean_events - MIN_EVENTS_PER_USER * n_users
    events = MIN_EVENTS_PER_USER + rng.multinomial(spare, activity / activity.sum())
    while (excess := int(np.maximum(events - MAX_EVENTS_PER_USER, 0).sum())) > 0:
        events = np.minimum(events, MAX_EVENTS_PER_USER)
        room = MAX_EVENTS_PER_USER - events
        events += rng.multinomial(excess, room / room.sum())

    n_level2 = len(LEVEL2_PATHS)
    keys = np.log(shop.level2_popularity) + rng.gumbel(size=(n_users, n_level2))
    top = np.argsort(-keys, axis=1)[:, :MAX_PREFERENCES]
    count = rng.integers(MIN_PREFERENCES, MAX_PREFERENCES + 1, n_users)
    used = np.arange(MAX_PREFERENCES) < count[:, None]
    raw = np.where(used, rng.gamma(PREFERENCE_CONCENTRATION, size=(n_users, MAX_PREFERENCES)), 0.0)
    return UserPlan(
        events=events.astype(np.int64),
        preferred=np.where(used, top, -1),
        weights=raw / raw.sum(axis=1, keepdims=True),
    )


def _ranks_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal values of a sorted array."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    lengths = np.diff(np.r_[starts, groups.size])
    return np.arange(groups.size) - np.repeat(starts, lengths)


def _session_focus(session_user: np.ndarray, plan: UserPlan, shop: Shop, rng: np.random.Generator) -> np.ndarray:
    """The level-2 category each session browses: mostly a preferred one, sometimes any."""
    cumulative = np.cumsum(plan.weights[session_user], axis=1)
    pick = (cumulative < rng.random(session_user.size)[:, None]).sum(axis=1)
    pick = np.minimum(pick, (plan.preferred[session_user] >= 0).sum(axis=1) - 1)
    preferred = plan.preferred[session_user, pick]
    wander = rng.choice(len(shop.level2_popularity), size=session_user.size, p=shop.level2_popularity)
    return np.where(rng.random(session_user.size) < PREFERRED_SHARE, preferred, wander)


def _simulate_sessions(
    session_user: np.ndarray, plan: UserPlan, shop: Shop, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Funnels of the given sessions: (session, item, event type, quantity) ordered within each session."""
    focus = _session_focus(session_user, plan, shop, rng)
    visits = 1 + rng.poisson(EXTRA_VISITS_MEAN, session_user.size)
    visit_session = np.repeat(np.arange(session_user.size), visits)
    level2 = focus[visit_session]
    position = np.searchsorted(shop.browse_cdf, level2 + rng.random(level2.size), side="right")
    item = shop.browse_items[np.minimum(position, shop.block_end[level2] - 1)]

    views = 1 + rng.poisson(EXTRA_VIEWS_MEAN, item.size)
    carted = rng.random(item.size) < CART_RATE
    bought = carted & (rng.random(item.size) < PURCHASE_RATE_GIVEN_CART)
    n_complements = shop.complement_start[item + 1] - shop.complement_start[item]
    pulled = bought & (n_complements > 0) & (rng.random(item.size) < shop.buy_together[item])
    complement = np.full(item.size, -1)
    choice = (rng.random(item.size) * n_complements).astype(np.int64)
    complement[pulled] = shop.complement_items[shop.complement_start[item[pulled]] + choice[pulled]]

    view_visit = np.repeat(np.arange(item.size), views)
    cart_visit, pulled_visit, bought_visit = (
        np.flatnonzero(carted),
        np.flatnonzero(pulled),
        np.flatnonzero(bought),
    )
    # browsing (phase 0: views, then cart adds) comes before checkout (phase 1: purchases)
    visit = np.concatenate([view_visit, cart_visit, pulled_visit, bought_visit, pulled_visit])
    phase = np.repeat(
        [0, 0, 0, 1, 1],
        [view_visit.size, cart_visit.size, pulled_visit.size, bought_visit.size, pulled_visit.size],
    )
    step = np.concatenate(
        [
            _ranks_within(view_visit),
            views[cart_visit],
            views[pulled_visit] + 1,
            np.zeros(bought_visit.size, np.int64),
            np.ones(pulled_visit.size, np.int64),
        ]
    )
    event_item = np.concatenate(
        [
            item[view_visit],
            item[cart_visit],
            complement[pulled_visit],
            item[bought_visit],
            complement[pulled_visit],
        ]
    )
    event_type = np.repeat(
        [VIEW_CODE, CART_CODE, CART_CODE, PURCHASE_CODE, PURCHASE_CODE],
        [view_visit.size, cart_visit.size, pulled_visit.size, bought_visit.size, pulled_visit.size],
    ).astype(np.int8)
    session = visit_session[visit]
    order = np.lexsort((step, visit, phase, session))
    event_type = event_type[order]
    quantity = np.ones(order.size, np.int8)
    purchases = event_type == PURCHASE_CODE
    quantity[purchases] = rng.choice(PURCHASE_QUANTITIES, size=int(purchases.sum()), p=PURCHASE_QUANTITY_WEIGHTS)
    return session[order], event_item[order], event_type, quantity


def simulate_users(
    first_user: int, end_user: int, plan: UserPlan, shop: Shop, rng: np.random.Generator
) -> SimulatedEvents:
    """Exactly plan.events[u] clean events for each user u in [first_user, end_user), in time order."""
    users = np.arange(first_user, end_user)
    needed = plan.events[users]
    produced = np.zeros(users.size, np.int64)
    next_session = np.zeros(users.size, np.int64)
    parts = []
    while (short := needed - produced).max() > 0:
        sessions = np.where(short > 0, np.ceil(short / EXPECTED_EVENTS_PER_SESSION * SESSION_OVERSUPPLY) + 1, 0)
        sessions = sessions.astype(np.int64)
        local_user = np.repeat(np.arange(users.size), sessions)
        ordinal = next_session[local_user] + _ranks_within(local_user)
        next_session += sessions
        session, item, event_type, quantity = _simulate_sessions(users[local_user], plan, shop, rng)
        key = (users[local_user] + 1) * SESSION_KEY_STRIDE + ordinal
        parts.append((key[session], item, event_type, quantity))
        produced += np.bincount(local_user[session], minlength=users.size)
    key, item, event_type, quantity = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(key, kind="stable")  # user-major, sessions in order, events in funnel order
    key, item, event_type, quantity = key[order], item[order], event_type[order], quantity[order]
    user_number = key // SESSION_KEY_STRIDE
    keep = _ranks_within(user_number) < plan.events[user_number - 1]
    key, item, event_type, quantity, user_number = (
        column[keep] for column in (key, item, event_type, quantity, user_number)
    )
    return SimulatedEvents(user_number, item, event_type, quantity, _timestamps(key, user_number, rng), key)


def _timestamps(session: np.ndarray, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Event times: >= 5 s apart within a session, sessions in order and apart, inside the window."""
    first = np.r_[True, session[1:] != session[:-1]]
    extra_gap = rng.exponential(MEAN_EXTRA_GAP_SECONDS, session.size).astype(np.int64)
    elapsed = np.cumsum(np.where(first, 0, MIN_EVENT_GAP_SECONDS + extra_gap))
    session_first = np.flatnonzero(first)
    session_index = np.cumsum(first) - 1
    offset = elapsed - elapsed[session_first][session_index]  # seconds since the session began
    duration = np.maximum.reduceat(offset, session_first)
    start = _session_starts(user[session_first], duration, rng)
    return start[session_index] + offset


def _session_starts(session_user: np.ndarray, duration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random, ordered, non-overlapping start times of each user's sessions, all inside the window."""
    wished = rng.integers(WINDOW_START, WINDOW_END + 1, session_user.size)
    wished = wished[np.lexsort((wished, session_user))]
    new_user = np.r_[True, session_user[1:] != session_user[:-1]]
    user_rank = np.cumsum(new_user)
    # start_k = max(wished_k, start_k-1 + took_k-1); with occupied_k = sum of took_j for j < k (per user),
    # start_k - occupied_k is a running maximum of wished_k - occupied_k, restarted for every user
    took = duration + MIN_SESSION_GAP_SECONDS
    occupied = np.cumsum(took) - took
    occupied -= occupied[new_user][user_rank - 1]
    restart = user_rank * _USER_BLOCK
    start = np.maximum.accumulate(wished - occupied + restart) - restart + occupied
    # a user whose last session would end after the window moves earlier as a whole
    last_end = np.maximum.reduceat(start + duration, np.flatnonzero(new_user))
    return start - np.maximum(last_end - WINDOW_END, 0)[user_rank - 1]


def simulate_bot(bot_events: int, shop: Shop, rng: np.random.Generator) -> SimulatedEvents:
    """One crawler: `bot_events` valid views of random items, 25 s apart, all on one day."""
    day = int(rng.integers(0, WINDOW_DAYS))
    ts = WINDOW_START + day * SECONDS_PER_DAY + BOT_DAY_START_SECONDS + np.arange(bot_events) * BOT_EVENT_GAP_SECONDS
    if ts[-1] >= WINDOW_START + (day + 1) * SECONDS_PER_DAY:
        raise ValueError(f"{bot_events} bot events do not fit in one day {BOT_EVENT_GAP_SECONDS} s apart")
    return SimulatedEvents(
        user=np.ones(bot_events, np.int64),
        item=rng.integers(0, shop.n_items, bot_events),
        event_type=np.full(bot_events, VIEW_CODE, np.int8),
        quantity=np.ones(bot_events, np.int8),
        ts=ts.astype(np.int64),
        session=SESSION_KEY_STRIDE + 1 + np.arange(bot_events) // BOT_EVENTS_PER_SESSION,
    )
