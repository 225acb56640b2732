"""The list tail (blend, support, each strategy rule, ranking, reasons) on in-line pandas rows."""

from __future__ import annotations

import pandas as pd
import pytest

from crosssell_spark.config import StrategyRules
from crosssell_spark.crosssell import lists
from tests.conftest import make_test_config

PERMISSIVE = {
    "exclude_owned_days": None,
    "per_category_cap": 10,
    "min_distinct_categories": 1,
    "allow_pairs": [],
    "deny_pairs": [],
    "max_price_ratio": None,
    "in_stock_only": False,
    "min_score": 0.0,
    "min_support": 0,
    "evidence_first": True,
}


@pytest.fixture(scope="module")
def base_rules(tmp_path_factory: pytest.TempPathFactory) -> StrategyRules:
    return make_test_config(tmp_path_factory.mktemp("lh")).crosssell.rules


def rules(base: StrategyRules, **switches: object) -> StrategyRules:
    """Every rule off except `switches`."""
    return base.model_copy(update={**PERMISSIVE, **switches})


def row(
    item: str,
    category: str,
    score: float = 1.0,
    *,
    anchor: str = "A",
    anchor_category: str | None = "phones",
    support: float | None = 5,
    price: float | None = 10.0,
    anchor_price: float | None = 100.0,
    in_stock: bool | None = True,
    source: str = "neighbour",
    priority: int = 1,
    owned: bool = False,
) -> dict[str, object]:
    return {
        "anchor_item_id": anchor,
        "item_id": item,
        "item_category": category,
        "anchor_category": anchor_category,
        "score": score,
        "support": support,
        "item_price": price,
        "anchor_price": anchor_price,
        "item_in_stock": in_stock,
        "source": source,
        "source_priority": priority,
        "is_owned": owned,
    }


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


NO_SHARES = pd.DataFrame({"item_category": [], "category_share": []})


def kept(df: pd.DataFrame, strategy: StrategyRules, balance: float = 0.0, shares: pd.DataFrame = NO_SHARES) -> list:
    out, _ = lists.apply_rules(df, strategy, balance, shares)
    return sorted(out["item_id"])


def ranked(df: pd.DataFrame, k: int = 10, cap: int = 10, distinct: int = 1, evidence_first: bool = True) -> list:
    out = lists.rank_lists(df, "anchor_item_id", k, cap, distinct, evidence_first)
    return list(out.sort_values(["anchor_item_id", "rank"])["item_id"])


# --- rules ----------------------------------------------------------------------------------------


def test_other_category_only_drops_the_anchor_category(base_rules):
    df = frame(row("case", "cases"), row("phone2", "phones"), row("pick", "cases", anchor_category=None))
    assert kept(df, rules(base_rules)) == ["case", "pick"]


def test_owned_items_are_dropped(base_rules):
    df = frame(row("case", "cases", owned=True), row("charger", "chargers"))
    assert kept(df, rules(base_rules)) == ["charger"]


def test_category_allow_list_keeps_only_listed_pairs(base_rules):
    df = frame(row("case", "cases"), row("sauce", "sauces"), row("pick", "sauces", anchor_category=None))
    assert kept(df, rules(base_rules, allow_pairs=[("phones", "cases")])) == ["case"]
    assert kept(df, rules(base_rules, allow_pairs=[("*", "sauces")])) == ["pick", "sauce"]


def test_category_deny_list_drops_listed_pairs(base_rules):
    df = frame(row("case", "cases"), row("sauce", "sauces"), row("pick", "sauces", anchor_category=None))
    assert kept(df, rules(base_rules, deny_pairs=[("phones", "sauces")])) == ["case", "pick"]
    assert kept(df, rules(base_rules, deny_pairs=[("*", "sauces")])) == ["case"]


def test_price_ceiling_relative_to_the_anchor(base_rules):
    df = frame(
        row("cheap", "cases", price=20.0), row("dear", "cases", price=300.0), row("unknown", "cases", price=None)
    )
    assert kept(df, rules(base_rules, max_price_ratio=1.5)) == ["cheap", "unknown"]
    assert len(kept(df, rules(base_rules))) == 3


def test_in_stock_only(base_rules):
    df = frame(row("in", "cases"), row("out", "cases", in_stock=False), row("unknown", "cases", in_stock=None))
    assert kept(df, rules(base_rules, in_stock_only=True)) == ["in"]
    assert kept(df, rules(base_rules)) == ["in", "out", "unknown"]


def test_minimum_score_and_the_minimum_crowd_where_evidence_has_one(base_rules):
    df = frame(
        row("strong", "cases", 0.9, support=10),
        row("weak", "cases", 0.1, support=10),
        row("rare", "cases", 0.9, support=1),
        row("two", "cases", 0.9, support=2),
        row("lookalike", "cases", 0.9, support=None),  # content evidence: no crowd behind it
    )
    out, withheld = lists.apply_rules(df, rules(base_rules, min_score=0.5, min_support=3), 0.0, NO_SHARES)
    assert sorted(out["item_id"]) == ["lookalike", "strong"]
    assert withheld == 2  # rare, two: kept back by the crowd, whatever their score


def test_balance_categories_lifts_small_categories(base_rules):
    df = frame(row("big", "popular", 0.5), row("small", "niche", 0.3))
    shares = pd.DataFrame({"item_category": ["popular", "niche"], "category_share": [0.9, 0.01]})
    balanced, _ = lists.apply_rules(df, rules(base_rules), 0.5, shares)
    assert ranked(balanced) == ["small", "big"]
    unbalanced, _ = lists.apply_rules(df, rules(base_rules), 0.0, shares)
    assert ranked(unbalanced) == ["big", "small"]


# --- ranking --------------------------------------------------------------------------------------


def test_per_category_cap_and_contiguous_ranks():
    df = frame(*[row(f"case{i}", "cases", 1.0 - i / 10) for i in range(5)], row("charger", "chargers", 0.1))
    out = lists.rank_lists(df, "anchor_item_id", 10, 2, 1, True)
    assert list(out.sort_values("rank")["item_id"]) == ["case0", "case1", "charger"]
    assert list(out.sort_values("rank")["rank"]) == [1, 2, 3]


def test_no_per_category_cap_lets_one_category_fill_the_list():
    df = frame(*[row(f"case{i}", "cases", 1.0 - i / 10) for i in range(5)], row("charger", "chargers", 0.1))
    out = lists.rank_lists(df, "anchor_item_id", 4, None, 1, True)
    assert list(out.sort_values("rank")["item_id"]) == ["case0", "case1", "case2", "case3"]


def test_min_distinct_categories_opens_categories_first():
    df = frame(row("case0", "cases", 0.9), row("case1", "cases", 0.8), row("cable", "cables", 0.2),
               row("sauce", "sauces", 0.1))  # fmt: skip
    assert ranked(df, k=3, distinct=3) == ["case0", "cable", "sauce"]
    assert ranked(df, k=3, distinct=1) == ["case0", "case1", "cable"]


def weak_evidence_and_strong_fallbacks() -> pd.DataFrame:
    """A popular cable, and a case both as weak bought-together evidence and as a strong popular fill-in."""
    return frame(
        row("pop", "cables", 0.99, source="popular", priority=3),
        row("case", "cases", 0.2, source="neighbour", priority=1),
        row("case", "cases", 0.9, source="popular", priority=3),
    )


def test_better_evidence_outranks_fallbacks_and_duplicates_collapse():
    out = lists.rank_lists(weak_evidence_and_strong_fallbacks(), "anchor_item_id", 5, 5, 1, True)
    assert list(zip(out["item_id"], out["source"], strict=True)) == [("case", "neighbour"), ("pop", "popular")]


def test_score_only_ranking_lets_a_strong_fallback_beat_weak_evidence():
    out = lists.rank_lists(weak_evidence_and_strong_fallbacks(), "anchor_item_id", 5, 5, 1, False)
    # the better-scored row of the duplicate item is the one kept
    assert list(zip(out["item_id"], out["source"], strict=True)) == [("pop", "popular"), ("case", "popular")]


@pytest.mark.parametrize("k", [1, 2])
def test_lists_are_cut_at_k(k):
    assert len(ranked(frame(*[row(f"i{i}", f"c{i}", 1.0 - i / 10) for i in range(4)]), k=k)) == k


def test_diversity_never_lifts_fallbacks_above_better_evidence():
    df = frame(
        row("case0", "cases", 0.5),
        row("case1", "cases", 0.4),
        row("pop_cable", "cables", 0.9, source="popular", priority=3),
        row("pop_sauce", "sauces", 0.8, source="popular", priority=3),
    )
    assert ranked(df, k=4, distinct=3) == ["case0", "case1", "pop_cable", "pop_sauce"]


def test_equal_rows_of_one_item_are_settled_by_source_then_anchor():
    df = frame(
        row("case", "cases", 0.5, anchor="U", source="interest") | {"anchor_item_id": None, "user_id": "U"},
        row("case", "cases", 0.5, anchor="B", source="basket") | {"user_id": "U"},
        row("case", "cases", 0.5, anchor="A", source="basket") | {"user_id": "U"},
    )
    out = lists.rank_lists(df, "user_id", 5, 5, 1, False)
    assert list(zip(out["source"], out["anchor_item_id"], strict=True)) == [("basket", "A")]


# --- score and support ----------------------------------------------------------------------------


def test_blend_weights_each_component_in_order():
    df = pd.DataFrame({"a": [1.0, 0.0], "b": [0.5, 1.0]})
    assert list(lists.blend(df, (("a", 0.25), ("b", 0.5)))) == [0.5, 0.5]


def test_support_is_the_crowd_behind_each_source():
    df = pd.DataFrame(
        {
            "source": ["neighbour", "basket", "category_affinity", "popular", "interest"],
            "co_users": [7, 8, None, None, None],
            "category_users": [None, None, 40, None, None],
            "item_users": [100, 100, 100, 90, 100],
        }
    )
    assert lists.support(df).tolist()[:4] == [7, 8, 40, 90] and pd.isna(lists.support(df).iloc[4])


# --- reasons --------------------------------------------------------------------------------------

TITLES = [
    ("Red Cotton T-Shirt", "cotton shirt, red", "red cotton shirt"),
    ("Café crème_brûlée 2x", "CRÈME brûlée café 2x", "café crème brûlée"),
    ("USB-C cable 2m (braided)", "braided usb cable", "usb cable braided"),
    ("a b c", "a b c", ""),  # one-letter words never count
    ("Garden hose", "Kitchen knife", ""),
    ("Ölkanne – 1L", "ölkanne 1l", "ölkanne 1l"),
    (None, "anything", None),
    ("anything", None, None),
]


@pytest.mark.parametrize(("left", "right", "expected"), TITLES)
def test_shared_title_words(left, right, expected):
    assert lists.shared_title_words(left, right) == expected


def test_reasons_name_the_evidence():
    rows = [
        ("neighbour", True, False, 214, "Galaxy S23 128GB", "Galaxy S23 Case", "phones", "cases", False),
        ("neighbour", False, True, None, "Galaxy S23 128GB", "Galaxy S23 Case", "phones", "cases", False),
        ("neighbour", False, True, None, "Garden hose", "Kitchen knife", "phones", "cases", False),
        ("basket", True, False, 5, "Spaghetti 500g", "Bolognese Sauce", "pasta", "sauces", False),
        ("category_affinity", False, False, None, "Spaghetti 500g", "Parmesan", "pasta", "cheese", False),
        ("interest", False, False, None, None, "Rose Bush", None, "garden", True),
        ("popular", False, False, None, "Spaghetti 500g", "Ketchup", "pasta", "unnamed", False),
    ]
    columns = ["source", "is_behavioural", "is_content", "co_users", "anchor_title", "item_title",
               "anchor_category", "item_category", "is_new_category"]  # fmt: skip
    names = pd.DataFrame(
        {
            "item_category": ["phones", "cases", "pasta", "sauces", "cheese", "garden"],
            "category_name": ["Phones", "Cases", "Pasta", "Sauces", "Cheese", "Garden"],
        }
    )
    explained = lists.explain(pd.DataFrame(rows, columns=columns), names)
    got = list(zip(explained["reason_codes"], explained["reason"], strict=True))
    assert got == [
        (["BOUGHT_TOGETHER"], "bought together with Galaxy S23 128GB by 214 shoppers"),
        (["SIMILAR_CONTENT"], "matches 'galaxy s23' of Galaxy S23 128GB"),
        (["SIMILAR_CONTENT"], "looks related to Garden hose"),
        (["BOUGHT_TOGETHER"], "bought together with your Spaghetti 500g by 5 shoppers"),
        (["CATEGORY_AFFINITY"], "Pasta shoppers often buy Cheese"),
        (["USER_INTEREST", "NEW_CATEGORY"], "you like Garden; a category new to you"),
        (["POPULAR_IN_CATEGORY"], "popular in unnamed"),  # a category without a name: its id
    ]


def test_a_semantic_neighbour_says_it_is_related_unless_the_titles_already_share_words():
    rows = [
        ("semantic_neighbour", False, False, True, "Spaghetti 500g", "番茄罗勒意面酱"),
        ("basket", False, False, True, "Spaghetti 500g", "Tomato basil sauce"),
        ("neighbour", False, True, True, "Galaxy S23", "Galaxy S23 Case"),  # shared words say more
        ("neighbour", True, False, True, "Spaghetti 500g", "Pesto"),
    ]
    columns = ["source", "is_behavioural", "is_content", "is_semantic", "anchor_title", "item_title"]
    frame = pd.DataFrame(rows, columns=columns).assign(co_users=[None, None, None, 7], item_category="c")
    explained = lists.explain(frame, pd.DataFrame({"item_category": [], "category_name": []}))
    assert list(zip(explained["reason_codes"], explained["reason"], strict=True)) == [
        (["RELATED_MEANING"], "related to Spaghetti 500g"),
        (["RELATED_MEANING"], "related to your Spaghetti 500g"),
        (["SIMILAR_CONTENT"], "matches 'galaxy s23' of Galaxy S23"),
        (
            ["BOUGHT_TOGETHER", "RELATED_MEANING"],
            "bought together with Spaghetti 500g by 7 shoppers; related to Spaghetti 500g",
        ),
    ]
