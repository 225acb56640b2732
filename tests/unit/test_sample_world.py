"""The sample world generator: exact sizes, a realistic shop, planted truth that the files really hold."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crosssell_spark.config import load_config
from crosssell_spark.schemas import CATEGORY_SEPARATOR, RAW_EVENT_COLUMNS, RAW_ITEM_COLUMNS
from crosssell_spark.sources.sample_world import SampleWorldSpec, ensure_generated, generate, read_manifest

BASE_CONF = Path(__file__).resolve().parents[2] / "conf" / "base.yaml"
SPEC = SampleWorldSpec(events=20_000, seed=11)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MIN_TS, MAX_TS = pd.Timestamp("2000-01-01"), pd.Timestamp("2026-11-30")
NEAR_DUPLICATE_SECONDS = 2
BOT_LIMIT_PER_DAY = 2_000
MAX_PRICE = 100_000.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample-world")
    generate(path, SPEC)
    return path


@pytest.fixture(scope="module")
def events(world: Path) -> pd.DataFrame:
    return pq.read_table(world / "events").to_pandas()


@pytest.fixture(scope="module")
def items(world: Path) -> pd.DataFrame:
    return pq.read_table(world / "catalogue").to_pandas()


@pytest.fixture(scope="module")
def dirt(world: Path) -> dict:
    return json.loads((world / "truth" / "dirt.json").read_text())


@pytest.fixture(scope="module")
def canonical_type() -> dict[str, str]:
    """Raw spelling (lower case) -> canonical event type, from the project's own cleaning config."""
    aliases = load_config(base=BASE_CONF).cleaning.event_type_aliases
    return {spelling.lower(): kind for kind, spellings in aliases.items() for spelling in spellings}


def tokens(title: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKC", title).lower()))


def level2(path: str) -> str:
    return CATEGORY_SEPARATOR.join(path.split(CATEGORY_SEPARATOR)[:2])


def event_defects(events: pd.DataFrame, valid_ids: set[str], canonical_type: dict[str, str]) -> pd.DataFrame:
    """One boolean column per event defect, recounted from the raw strings alone."""
    ts = pd.to_datetime(events["event_ts"].where(events["event_ts"].str.match(TIMESTAMP)), errors="coerce")
    price = pd.to_numeric(events["price"], errors="coerce")
    return pd.DataFrame(
        {
            "null_user_id": events["user_id"].isna(),
            "null_item_id": events["item_id"].isna(),
            "bad_timestamp": ts.isna(),
            "out_of_range_timestamp": (ts < MIN_TS) | (ts > MAX_TS),
            "unknown_item": events["item_id"].notna() & ~events["item_id"].isin(valid_ids),
            "negative_price": price < 0,
            "absurd_price": price > MAX_PRICE,
            "bad_quantity": pd.to_numeric(events["quantity"], errors="coerce") < 1,
            "unknown_event_type": ~events["event_type"].str.lower().isin(canonical_type),
            "bot_user": events["user_id"].fillna("").str.startswith("U_BOT"),
        }
    )


def near_duplicate_flags(events: pd.DataFrame, canonical_type: dict[str, str]) -> pd.Series:
    """Rows repeating the same user, item and event type within 2 s (exact copies excluded)."""
    frame = (
        events[~events.duplicated()]
        .assign(
            kind=lambda df: df["event_type"].str.lower().map(canonical_type),
            ts=lambda df: pd.to_datetime(df["event_ts"], format="%Y-%m-%d %H:%M:%S", errors="coerce"),
        )
        .dropna(subset=["user_id", "item_id", "kind", "ts"])
    )
    frame = frame.sort_values(["user_id", "item_id", "kind", "ts"])
    same = (frame[["user_id", "item_id", "kind"]] == frame[["user_id", "item_id", "kind"]].shift()).all(axis=1)
    gap = frame["ts"].diff().dt.total_seconds()
    return (same & (gap <= NEAR_DUPLICATE_SECONDS)).reindex(events.index, fill_value=False)


def clean_events(events: pd.DataFrame, items: pd.DataFrame, canonical_type: dict[str, str]) -> pd.DataFrame:
    valid_ids = set(items["item_id"].dropna())
    dirty = event_defects(events, valid_ids, canonical_type).any(axis=1)
    copies = events.duplicated() | near_duplicate_flags(events, canonical_type)
    paths = items.dropna(subset=["item_id"]).sort_values("category_path", key=lambda s: -s.str.count(">"))
    leaf = paths.drop_duplicates("item_id").set_index("item_id")["category_path"]
    return events[~dirty & ~copies].assign(
        kind=lambda df: df["event_type"].str.lower().map(canonical_type),
        category_path=lambda df: df["item_id"].map(leaf),
    )


# --- size, schema, determinism -------------------------------------------------------------------


def test_writes_exactly_the_requested_number_of_event_rows(world: Path, events: pd.DataFrame, dirt: dict) -> None:
    assert len(events) == SPEC.events == dirt["event_rows_written"] == read_manifest(world)["counts"]["events"]


def test_files_follow_the_input_contract_with_string_columns_only(world: Path) -> None:
    for folder, columns in (("events", RAW_EVENT_COLUMNS), ("catalogue", RAW_ITEM_COLUMNS)):
        schema = pq.read_schema(next((world / folder).glob("part-*.parquet")))
        assert tuple(schema.names) == columns
        assert {str(field.type) for field in schema} == {"string"}


def test_same_spec_gives_identical_files_and_another_seed_does_not(world: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", SPEC)
    generate(tmp_path / "other", SampleWorldSpec(events=SPEC.events, seed=SPEC.seed + 1))
    for relative in ("events", "catalogue", "truth/complements.parquet", "truth/user_preferences.parquet"):
        assert pq.read_table(tmp_path / "again" / relative).equals(pq.read_table(world / relative))
        assert not pq.read_table(tmp_path / "other" / relative).equals(pq.read_table(world / relative))
    assert (tmp_path / "again" / "truth" / "dirt.json").read_text() == (world / "truth" / "dirt.json").read_text()


def test_spec_sizes_can_be_set_and_tiny_worlds_are_refused(tmp_path: Path) -> None:
    manifest = generate(tmp_path, SampleWorldSpec(events=10_000, seed=1, users=100, items=2_000))
    assert manifest["counts"]["users"] == 100
    assert manifest["counts"]["items"] == 2_000
    assert pq.read_table(tmp_path / "catalogue").to_pandas()["item_id"].nunique() > 2_000  # plus invalid ids
    with pytest.raises(ValueError, match="events"):
        SampleWorldSpec(events=500, seed=1)
    default = SampleWorldSpec(events=200_000, seed=1)
    assert (default.resolved_users, default.resolved_items) == (3_333, 5_000)
    assert SampleWorldSpec(events=10_000_000, seed=1).resolved_items == 100_000


# --- the shop --------------------------------------------------------------------------------------


def test_category_tree_has_three_levels_and_every_item_sits_on_a_tree_path(world: Path, items: pd.DataFrame) -> None:
    tree = pq.read_table(world / "truth" / "category_tree.parquet").to_pandas()
    assert sorted(tree["level"].unique()) == [1, 2, 3]
    assert (tree.loc[tree["is_leaf"], "level"] == 3).all()
    assert tree["is_leaf"].sum() >= 30
    assert (tree["level"] == 1).sum() >= 5
    assert set(items["category_path"]) <= set(tree["category_path"])
    leaves = set(tree.loc[tree["is_leaf"], "category_path"])
    assert items.groupby("item_id")["category_path"].agg(lambda paths: paths.isin(leaves).any()).all()


def test_items_look_like_a_real_shop(items: pd.DataFrame) -> None:
    valid = items.dropna(subset=["item_id", "title"])
    assert valid["item_id"].str.fullmatch(r"P\d{6}").all()
    assert valid["price"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert set(valid["in_stock"]) == {"true", "false"}
    assert 0.9 < (valid["in_stock"] == "true").mean() < 0.99
    phones = valid[valid["category_path"] == "Electronics > Phones > Smartphones"]
    assert phones["title"].str.contains(r"^(?:Samsung Galaxy|Apple iPhone|Google Pixel)").any()
    mean_price = valid.assign(p=pd.to_numeric(valid["price"])).groupby("category_path")["p"].median()
    assert mean_price["Electronics > Computers > Laptops"] > 100 * mean_price["Grocery > Pasta & Rice > Pasta"]


# --- planted dirt ---------------------------------------------------------------------------------


def test_event_dirt_counts_match_the_files_with_one_defect_per_row(
    events: pd.DataFrame, items: pd.DataFrame, dirt: dict, canonical_type: dict[str, str]
) -> None:
    flags = event_defects(events, set(items["item_id"].dropna()), canonical_type)
    exact = events.duplicated()
    near = near_duplicate_flags(events, canonical_type)
    recount = {**flags.sum().to_dict(), "exact_duplicates": exact.sum(), "near_duplicates": near.sum()}
    assert recount == dirt["events"]
    assert all(count >= 1 for count in dirt["events"].values())
    per_row = flags.sum(axis=1) + exact + near
    assert per_row.max() == 1
    assert (per_row == 0).sum() == dirt["events_expected_clean"]


def test_catalogue_dirt_counts_match_the_files(items: pd.DataFrame, dirt: dict) -> None:
    unique_rows = items[~items.duplicated()]
    with_id = unique_rows.dropna(subset=["item_id"])
    paths_per_id = with_id.groupby("item_id")["category_path"].nunique()
    price = pd.to_numeric(items["price"], errors="coerce")
    recount = {
        "duplicate_item_rows": int(items.duplicated().sum()),
        "multi_category_items": int((paths_per_id > 1).sum()),
        "missing_title": int(items["title"].fillna("").str.strip().eq("").sum()),
        "bad_item_price": int((price < 0).sum()),
        "null_item_id": int(items["item_id"].isna().sum()),
    }
    assert recount == {name: dirt["catalogue"][name] for name in recount}
    assert len(items) == dirt["item_rows_written"]
    valid = with_id[with_id["title"].fillna("").str.strip().ne("") & (pd.to_numeric(with_id["price"]) >= 0)]
    assert valid["item_id"].nunique() == dirt["items_expected_clean"]


def test_multi_category_items_resolve_to_their_true_path_by_the_deepest_path_rule(
    items: pd.DataFrame, dirt: dict
) -> None:
    rows = items[items["item_id"].isin(dirt["multi_category_true_paths"])]
    deepest = rows.sort_values("category_path", key=lambda s: -s.str.count(">")).drop_duplicates("item_id")
    assert dict(zip(deepest["item_id"], deepest["category_path"], strict=True)) == dirt["multi_category_true_paths"]


def test_messy_text_items_are_exactly_the_listed_ones_and_normalise_to_plain_text(
    items: pd.DataFrame, dirt: dict
) -> None:
    valid = items[~items.duplicated()].dropna(subset=["item_id", "title", "brand"])
    valid = valid[valid["title"].str.strip().ne("")]

    def normal(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).split())

    canonical_brand = (
        valid["brand"]
        .map(normal)
        .groupby(valid["brand"].str.lower().str.strip())
        .agg(lambda spellings: spellings.mode().iloc[0])
    )
    messy = (valid["title"] != valid["title"].map(normal)) | (
        valid["brand"] != valid["brand"].str.lower().str.strip().map(canonical_brand)
    )
    assert sorted(valid.loc[messy, "item_id"].unique()) == dirt["messy_text_item_ids"]
    assert len(dirt["messy_text_item_ids"]) == dirt["catalogue"]["messy_text"]
    fixed = valid.loc[messy, "title"].map(normal).str.lower()
    assert fixed.str.fullmatch(r"[a-z0-9 .&'/:+\-]+").all()  # no full-width letters or ligatures left


def test_invalid_catalogue_items_are_never_referenced_by_events(events: pd.DataFrame, items: pd.DataFrame) -> None:
    price = pd.to_numeric(items["price"], errors="coerce")
    invalid = items["title"].fillna("").str.strip().eq("") | (price < 0)
    assert not events["item_id"].isin(set(items.loc[invalid, "item_id"].dropna())).any()


# --- behaviour -------------------------------------------------------------------------------------


def test_event_mix_follows_a_shopping_funnel_with_some_valid_aliases(
    events: pd.DataFrame, items: pd.DataFrame, canonical_type: dict[str, str]
) -> None:
    clean = clean_events(events, items, canonical_type)
    share = clean["kind"].value_counts(normalize=True)
    assert 0.6 < share["view"] < 0.8
    assert 0.12 < share["cart"] < 0.28
    assert 0.06 < share["purchase"] < 0.15
    aliases = ~clean["event_type"].isin(["view", "cart", "purchase"])
    assert 0.005 < aliases.mean() < 0.05


def test_users_browse_mostly_in_their_preferred_level2_categories(
    world: Path, events: pd.DataFrame, items: pd.DataFrame, canonical_type: dict[str, str]
) -> None:
    preferences = pq.read_table(world / "truth" / "user_preferences.parquet").to_pandas()
    per_user = preferences.groupby("user_id").size()
    assert per_user.between(2, 4).all()
    assert (preferences["category_path"].str.count(">") == 1).all()
    clean = clean_events(events, items, canonical_type)
    clean = clean[~clean["user_id"].str.startswith("U_BOT")].assign(level2=lambda df: df["category_path"].map(level2))
    liked = clean.merge(preferences, left_on=["user_id", "level2"], right_on=["user_id", "category_path"], how="left")
    in_preferred = liked["weight"].notna()
    assert in_preferred.mean() > 0.7
    assert in_preferred.groupby(liked["user_id"]).mean().median() > 0.7


def test_no_legitimate_repeat_within_two_seconds_and_only_the_bot_is_a_bot(
    events: pd.DataFrame, dirt: dict, canonical_type: dict[str, str]
) -> None:
    assert near_duplicate_flags(events, canonical_type).sum() == dirt["events"]["near_duplicates"]
    valid_ts = events[events["event_ts"].str.match(TIMESTAMP)].dropna(subset=["user_id"])
    per_day = valid_ts.groupby(["user_id", valid_ts["event_ts"].str[:10]]).size()
    bots = per_day[per_day.index.get_level_values("user_id").str.startswith("U_BOT")]
    assert len(bots) == 1
    assert bots.iloc[0] == dirt["events"]["bot_user"] > BOT_LIMIT_PER_DAY
    assert dirt["bot_user_ids"] == list(bots.index.get_level_values("user_id"))
    assert per_day.drop(bots.index).max() < BOT_LIMIT_PER_DAY / 4


def test_timestamps_span_sixty_days_ending_on_the_fixed_date(
    events: pd.DataFrame, items: pd.DataFrame, canonical_type: dict[str, str]
) -> None:
    ts = pd.to_datetime(clean_events(events, items, canonical_type)["event_ts"], format="%Y-%m-%d %H:%M:%S")
    assert ts.max() <= pd.Timestamp("2026-10-31 23:59:59")
    assert ts.min() >= pd.Timestamp("2026-09-01")
    assert ts.max() - ts.min() > pd.Timedelta(days=55)


# --- planted complements ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def complements(world: Path, items: pd.DataFrame) -> pd.DataFrame:
    pairs = pq.read_table(world / "truth" / "complements.parquet").to_pandas()
    titles = items.dropna(subset=["item_id"]).drop_duplicates("item_id").set_index("item_id")["title"]
    return pairs.assign(
        anchor_title=pairs["anchor_item_id"].map(titles),
        complement_title=pairs["complement_item_id"].map(titles),
    )


def test_complements_cross_level2_categories_and_content_ones_share_model_tokens(
    complements: pd.DataFrame,
) -> None:
    assert set(complements["kind"]) == {"content", "behavioural"}
    assert (complements["kind"] == "content").sum() >= 100
    assert (complements["kind"] == "behavioural").sum() >= 50
    assert (
        complements["anchor_category_path"].map(level2) != complements["complement_category_path"].map(level2)
    ).all()
    shared = [
        tokens(a) & tokens(c) for a, c in zip(complements["anchor_title"], complements["complement_title"], strict=True)
    ]
    is_content = (complements["kind"] == "content").tolist()
    model_tokens = [any(re.search(r"\d", t) for t in common) for common in shared]
    assert all(has_model for has_model, content in zip(model_tokens, is_content, strict=True) if content)
    assert all(not common for common, content in zip(shared, is_content, strict=True) if not content)


def test_behavioural_complements_are_bought_together_far_above_chance(
    events: pd.DataFrame, items: pd.DataFrame, complements: pd.DataFrame, canonical_type: dict[str, str]
) -> None:
    clean = clean_events(events, items, canonical_type)
    bought = clean.loc[clean["kind"] == "purchase", ["session_id", "item_id"]].drop_duplicates()
    sessions_of = bought.groupby("item_id")["session_id"].agg(set)
    pairs = complements[complements["kind"] == "behavioural"]
    together = anchor_sessions = complement_sessions = 0
    for anchor, complement in zip(pairs["anchor_item_id"], pairs["complement_item_id"], strict=True):
        with_anchor = sessions_of.get(anchor, set())
        with_complement = sessions_of.get(complement, set())
        anchor_sessions += len(with_anchor)
        together += len(with_anchor & with_complement)
        complement_sessions += len(with_complement)
    n_sessions = bought["session_id"].nunique()
    assert anchor_sessions > 50
    conditional = together / anchor_sessions
    chance = complement_sessions / len(pairs) / n_sessions
    assert conditional > 0.4
    assert conditional > 20 * chance


# --- reuse -----------------------------------------------------------------------------------------


def test_ensure_generated_reuses_a_matching_world_and_rebuilds_a_different_one(tmp_path: Path) -> None:
    spec = SampleWorldSpec(events=10_000, seed=3)
    first = ensure_generated(tmp_path, spec)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert ensure_generated(tmp_path, spec) == first == read_manifest(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps

    stale = tmp_path / "events" / "part-00099.parquet"
    stale.write_bytes(b"left over from an older world")
    second = ensure_generated(tmp_path, SampleWorldSpec(events=10_000, seed=4))
    assert second["spec"]["seed"] == 4 != first["spec"]["seed"]
    assert not stale.exists()
    assert read_manifest(tmp_path) == second
