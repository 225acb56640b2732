"""The sample shop's items: realistic titles, prices and popularity, plus the planted complements."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from crosssell_spark.sources.sample_world.apportion import apportion
from crosssell_spark.sources.sample_world.taxonomy import LEAF_BY_NAME, LEAVES, Leaf, ModelSeries

ITEM_ID_FORMAT = "P{:06d}"
MIN_ITEMS_PER_LEAF = 4
VARIANTS_PER_MODEL = 3  # storage / colour / size variants that share one model name
PRICE_SIGMA = 0.35  # log-normal spread of prices around the leaf's mean
MIN_PRICE = 0.25
IN_STOCK_SHARE = 0.95
ZIPF_EXPONENT = 1.0  # popularity of the r-th most popular item in a leaf is 1 / r**ZIPF_EXPONENT
PARTNER_TRIES = 64  # random draws to find a behavioural partner that shares no title word
# once a leaf has used every brand x line x attribute combination, further items belong to a collection
COLLECTIONS = (
    "Classic",
    "Essentials",
    "Premium",
    "Signature",
    "Eco",
    "Deluxe",
    "Original",
    "Select",
    "Heritage",
    "Studio",
    "Everyday",
    "Limited Edition",
    "Urban",
    "Value",
    "Sport",
    "Pro",
)

CONTENT, BEHAVIOURAL = "content", "behavioural"
COMPLEMENT_KINDS = (CONTENT, BEHAVIOURAL)

_TOKEN = re.compile(r"[a-z0-9]+")
_SPACES = re.compile(r"\s+")


def title_tokens(title: str) -> set[str]:
    """Lower-case alphanumeric words of a title, the unit content similarity works on."""
    return set(_TOKEN.findall(title.lower()))


def _join(template: str, **fields: str) -> str:
    return _SPACES.sub(" ", template.format(**fields)).strip()


@dataclass(frozen=True)
class Complements:
    """Planted complement pairs as item indices; `kind` indexes COMPLEMENT_KINDS."""

    anchor: np.ndarray
    complement: np.ndarray
    kind: np.ndarray


@dataclass(frozen=True)
class Catalogue:
    """The valid items, indexed 0..n-1 in leaf order; ids are shuffled so they do not reveal categories."""

    item_ids: list[str]
    titles: list[str]
    descriptions: list[str]
    brands: list[str]
    leaf_of_item: np.ndarray
    prices: np.ndarray
    in_stock: np.ndarray
    popularity: np.ndarray  # Zipf weight within the item's leaf
    complements: Complements

    @property
    def size(self) -> int:
        """Number of valid items."""
        return len(self.item_ids)

    def price_strings(self) -> list[str]:
        """Prices as the raw feed writes them, e.g. "12.99"."""
        return [f"{price:.2f}" for price in self.prices]

    def category_paths(self) -> list[str]:
        """Each item's leaf path."""
        paths = [leaf.path_string for leaf in LEAVES]
        return [paths[leaf] for leaf in self.leaf_of_item]


@dataclass
class _Draft:
    """Items of the catalogue under construction, in leaf order."""

    titles: list[str]
    descriptions: list[str]
    brands: list[str]
    leaves: list[int]
    model_of_item: dict[int, tuple[str, ModelSeries, int]]  # anchor item -> (leaf, series, number)


def _model_numbers(series: tuple[ModelSeries, ...], count: int) -> list[tuple[ModelSeries, int]]:
    """`count` models interleaved across series: real model numbers first, invented ones only past them."""
    real = [
        (s, n)
        for row in itertools.zip_longest(*(s.numbers for s in series))
        for s, n in zip(series, row, strict=True)
        if n is not None
    ]
    models = real[:count]
    extra = 1
    while len(models) < count:
        models += [(s, s.overflow_number(extra)) for s in series][: count - len(models)]
        extra += 1
    return models


def _combos(leaf: Leaf, rng: np.random.Generator, *head: tuple[str, ...]) -> list[tuple[str, ...]]:
    combos = list(itertools.product(*head, *leaf.attributes))
    return [combos[i] for i in rng.permutation(len(combos))]


def _collection_line(line: str, cycle: int) -> str:
    """The product line, prefixed by a collection name once the plain combinations are used up."""
    if cycle == 0:
        return line
    collection = COLLECTIONS[(cycle - 1) % len(COLLECTIONS)]
    edition = (cycle - 1) // len(COLLECTIONS)
    return f"{collection} {edition + 1} {line}" if edition else f"{collection} {line}"


def _add_plain(draft: _Draft, leaf_index: int, leaf: Leaf, count: int, rng: np.random.Generator) -> None:
    combos = _combos(leaf, rng, leaf.brands, leaf.lines)
    for k in range(count):
        brand, line, *attrs = combos[k % len(combos)]
        line = _collection_line(line, k // len(combos))
        draft.titles.append(_join(leaf.title_format, brand=brand, line=line, attrs=" ".join(attrs)))
        draft.descriptions.append(f"{leaf.blurb} from {brand}.")
        draft.brands.append(brand)
        draft.leaves.append(leaf_index)


def _add_anchors(draft: _Draft, leaf_index: int, leaf: Leaf, count: int, rng: np.random.Generator) -> None:
    models = _model_numbers(leaf.series, math.ceil(count / VARIANTS_PER_MODEL))
    combos = _combos(leaf, rng)
    for k in range(count):
        m, variant = k % len(models), k // len(models)
        series, number = models[m]
        attrs = " ".join(combos[(variant + m) % len(combos)])
        draft.model_of_item[len(draft.titles)] = (leaf.name, series, number)
        draft.titles.append(
            _join(
                leaf.title_format,
                brand=series.brand,
                series=series.series,
                model=series.model(number),
                noun=series.noun,
                attrs=attrs,
            )
        )
        draft.descriptions.append(f"{leaf.blurb} from {series.brand}.")
        draft.brands.append(series.brand)
        draft.leaves.append(leaf_index)


def _add_accessories(
    draft: _Draft, leaf_index: int, leaf: Leaf, count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Accessory items quoting an anchor model in their title; returns (anchor, accessory) pairs."""
    anchor_leaf = LEAF_BY_NAME[str(leaf.accessory_of)]
    items_of_model: dict[tuple[ModelSeries, int], list[int]] = defaultdict(list)
    for item, (name, series, number) in draft.model_of_item.items():
        if name == anchor_leaf.name:
            items_of_model[(series, number)].append(item)
    models = list(items_of_model)
    combos = _combos(leaf, rng, leaf.brands, leaf.lines)
    pairs = []
    for k in range(count):
        m = k % len(models)
        series, number = models[m]
        variant = k // len(models)
        brand, line, *attrs = combos[(variant + m) % len(combos)]
        line = _collection_line(line, variant // len(combos))
        accessory = len(draft.titles)
        pairs += [(anchor, accessory) for anchor in items_of_model[models[m]]]
        draft.titles.append(
            _join(
                leaf.title_format,
                brand=brand,
                line=line,
                anchor_brand=series.brand,
                series=series.series,
                model=series.model(number),
                attrs=" ".join(attrs),
            )
        )
        reference = _join(
            "{brand} {series} {model}", brand=series.brand, series=series.series, model=series.model(number)
        )
        draft.descriptions.append(f"{leaf.blurb}, made for the {reference}.")
        draft.brands.append(brand)
        draft.leaves.append(leaf_index)
    return pairs


def _behavioural_pairs(draft: _Draft, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Give every item of a `bought_with` leaf one partner in the other leaf sharing no title word."""
    leaves = np.asarray(draft.leaves)
    tokens = [title_tokens(title) for title in draft.titles]
    pairs = []
    for leaf_index, leaf in enumerate(LEAVES):
        if leaf.bought_with is None:
            continue
        partners = np.flatnonzero(leaves == LEAVES.index(LEAF_BY_NAME[leaf.bought_with]))
        for anchor in np.flatnonzero(leaves == leaf_index):
            for candidate in rng.choice(partners, size=PARTNER_TRIES):
                if tokens[anchor].isdisjoint(tokens[candidate]):
                    pairs.append((int(anchor), int(candidate)))
                    break
    return pairs


def build_catalogue(n_items: int, rng: np.random.Generator) -> Catalogue:
    """Invent `n_items` valid items over the taxonomy, with their content and behavioural complements."""
    counts = MIN_ITEMS_PER_LEAF + apportion(
        n_items - MIN_ITEMS_PER_LEAF * len(LEAVES), np.array([leaf.weight for leaf in LEAVES])
    )
    draft = _Draft([], [], [], [], {})
    content_pairs = []
    # accessories quote the models their anchors actually use, so anchors are invented first
    for accessories in (False, True):
        for leaf_index, (leaf, count) in enumerate(zip(LEAVES, counts, strict=True)):
            if (leaf.accessory_of is not None) != accessories:
                continue
            if accessories:
                content_pairs += _add_accessories(draft, leaf_index, leaf, int(count), rng)
            elif leaf.series:
                _add_anchors(draft, leaf_index, leaf, int(count), rng)
            else:
                _add_plain(draft, leaf_index, leaf, int(count), rng)
    behavioural_pairs = _behavioural_pairs(draft, rng)

    leaf_of_item = np.asarray(draft.leaves, dtype=np.int64)
    mean_prices = np.array([leaf.mean_price for leaf in LEAVES])[leaf_of_item]
    prices = np.maximum(np.round(rng.lognormal(np.log(mean_prices), PRICE_SIGMA), 2), MIN_PRICE)
    popularity = np.empty(n_items)
    for leaf_index in range(len(LEAVES)):
        members = np.flatnonzero(leaf_of_item == leaf_index)
        popularity[members] = 1.0 / (1.0 + rng.permutation(members.size)) ** ZIPF_EXPONENT
    id_numbers = rng.permutation(n_items) + 1
    pairs = np.array(content_pairs + behavioural_pairs, dtype=np.int64).reshape(-1, 2)
    kinds = np.repeat([0, 1], [len(content_pairs), len(behavioural_pairs)]).astype(np.int8)
    return Catalogue(
        item_ids=[ITEM_ID_FORMAT.format(n) for n in id_numbers],
        titles=draft.titles,
        descriptions=draft.descriptions,
        brands=draft.brands,
        leaf_of_item=leaf_of_item,
        prices=prices,
        in_stock=rng.random(n_items) < IN_STOCK_SHARE,
        popularity=popularity,
        complements=Complements(anchor=pairs[:, 0], complement=pairs[:, 1], kind=kinds),
    )
