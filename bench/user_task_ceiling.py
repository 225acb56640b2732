"""What the sample world lets any method reach on `crosssell evaluate`'s user task.

The generator draws each shopper's 2-4 preferred level-2 categories at random (weighted by category
popularity, independently of everything observable); most purchases in a category new to a shopper
fall in a preferred category they had not visited yet. This script simulates a large population of
the default world with the generator itself, holds out the same final days, and scores HitRate@10 of
lists drawn from categories new to each shopper by:

- `popularity`: distinct buyers per item before the cut (what `popularity_eligible` lists);
- `adoption`: per item, buyers in the held-out days among shoppers new to its category, per activity
  band, learnt on half of the population (an observable signal that depends on the shopper);
- `oracle`: the generator's own expected purchases given each shopper's hidden preferences;
- `oracle_without_preferences`: the same with every shopper's preferences replaced by the population's.

python -m bench.user_task_ceiling [--events 200000] [--seed 20191001] [--scale 15] [--last-days 10]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd

from crosssell_spark.sources.sample_world import behaviour as world
from crosssell_spark.sources.sample_world.catalogue import build_catalogue
from crosssell_spark.sources.sample_world.spec import SampleWorldSpec
from crosssell_spark.sources.sample_world.writer import CATALOGUE_STREAM, _rng

K = 10
ACTIVITY_BANDS = np.array([0, 5, 10, 20, 40, 80, 160])  # training events per shopper
Scorer = Callable[[int], np.ndarray]


def ceiling(events: int, seed: int, scale: int, last_days: int, max_queries: int = 4000) -> dict[str, float]:
    """HitRate@K of each scorer on simulated shoppers (odd numbers; even ones fit `adoption`)."""
    spec = SampleWorldSpec(events=events, seed=seed)
    catalogue = build_catalogue(spec.resolved_items, _rng(spec, CATALOGUE_STREAM))  # the world's own catalogue
    shop = world.build_shop(catalogue)
    rng = np.random.default_rng([seed, 99])
    n_users = spec.resolved_users * scale
    plan = world.plan_users(n_users, events * scale, shop, rng)
    sim = world.simulate_users(0, n_users, plan, shop, rng)

    level2 = world.level2_of_leaves()[catalogue.leaf_of_item]
    n_level2, user = len(shop.level2_popularity), sim.user - 1
    before = sim.ts < world.WINDOW_END + 1 - last_days * world.SECONDS_PER_DAY
    visited = np.zeros((n_users, n_level2), bool)
    visited[user[before], level2[sim.item[before]]] = True
    band = np.searchsorted(ACTIVITY_BANDS, np.bincount(user[before], minlength=n_users), side="right") - 1
    bought = sim.event_type != world.VIEW_CODE
    fit = np.arange(n_users) % 2 == 0

    later = pd.DataFrame({"u": user[bought & ~before], "j": sim.item[bought & ~before]}).drop_duplicates()
    later = later[~visited[later.u, level2[later.j]]]  # bought in a category new to the shopper
    truth = later[~fit[later.u]].groupby("u").j.agg(set)
    queries = truth.index.to_numpy()[:max_queries]

    earlier = pd.DataFrame({"u": user[bought & before], "j": sim.item[bought & before]}).drop_duplicates()
    popularity = np.bincount(earlier.j, minlength=shop.n_items).astype(float)
    adoption = np.zeros((len(ACTIVITY_BANDS), shop.n_items))
    fitted = later[fit[later.u]]
    for b in range(len(ACTIVITY_BANDS)):
        at_risk = (~visited[fit & (band == b)]).sum(axis=0)[level2]
        adoption[b] = np.bincount(fitted.j[band[fitted.u] == b], minlength=shop.n_items) / np.maximum(at_risk, 1)

    share = np.array([leaf.weight for leaf in world.LEAVES])[catalogue.leaf_of_item] * catalogue.popularity
    within = share / np.bincount(level2, weights=share)[level2]
    used = plan.preferred >= 0
    preference = np.zeros((n_users, n_level2))  # each shopper's hidden weight per level-2 category
    preference[np.nonzero(used)[0], plan.preferred[used]] = plan.weights[used]
    population = preference.mean(axis=0)

    def expected(preference: np.ndarray) -> np.ndarray:
        focus = world.PREFERRED_SHARE * preference + (1 - world.PREFERRED_SHARE) * shop.level2_popularity
        return focus[level2] * within

    scorers: dict[str, Scorer] = {
        "popularity": lambda u: popularity,
        "adoption": lambda u: adoption[band[u]],
        "oracle": lambda u: expected(preference[u]),
        "oracle_without_preferences": lambda u: expected(population),
    }
    return {name: _hit_rate(score, queries, truth, visited, level2) for name, score in scorers.items()} | {
        "queries": float(len(queries))
    }


def _hit_rate(score: Scorer, queries: np.ndarray, truth: pd.Series, visited: np.ndarray, level2: np.ndarray) -> float:
    hits = 0
    for u in queries:
        s = np.where(visited[u][level2], -np.inf, score(int(u)))
        top = np.argpartition(-s, K)[:K]
        hits += bool(truth[u].intersection(top.tolist()))
    return round(hits / max(len(queries), 1), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20191001)
    parser.add_argument("--scale", type=int, default=15, help="simulated shoppers per shopper of the world")
    parser.add_argument("--last-days", type=int, default=10)
    args = parser.parse_args()
    figures = ceiling(args.events, args.seed, args.scale, args.last_days)
    for name, value in figures.items():
        print(f"{name:28s} {value:g}")


if __name__ == "__main__":
    main()
