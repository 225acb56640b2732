"""Every published table: name, schema, partitioning and the Delta CHECK constraints that hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql.types import StructType

from crosssell_spark.config import PRIVACY_MIN_USERS
from crosssell_spark.schemas import (
    CATEGORIES_SCHEMA,
    CATEGORY_AFFINITY_SCHEMA,
    CATEGORY_EXPOSURE_SCHEMA,
    CROSS_SELL_GAPS_SCHEMA,
    DQ_RESULTS_SCHEMA,
    EVALUATION_SCHEMA,
    EVENT_DATE,
    EVENTS_CLEAN_SCHEMA,
    EVENTS_QUARANTINE_SCHEMA,
    FACTOR_SOURCES,
    FORGET_LOG_SCHEMA,
    INTEREST_MODEL_RUNS_SCHEMA,
    ITEM_CROSS_SELL_SCHEMA,
    ITEM_EMBEDDINGS_SCHEMA,
    ITEM_FACTORS_SCHEMA,
    ITEM_ID_MAP_SCHEMA,
    ITEM_SIMILARITY_SCHEMA,
    ITEMS_CLEAN_SCHEMA,
    ITEMS_QUARANTINE_SCHEMA,
    PRIVACY_LEDGER_SCHEMA,
    PUBLISHED_SETS_SCHEMA,
    RANKER_RUNS_SCHEMA,
    RECONCILIATION_SCHEMA,
    SCORE_SOURCES,
    TABLE_NAME,
    USER_CATEGORY_INTEREST_SCHEMA,
    USER_CROSS_SELL_SCHEMA,
    USER_FACTORS_SCHEMA,
    USER_ID_MAP_SCHEMA,
)


@dataclass(frozen=True)
class TableSpec:
    """A published table: its name, schema, partitioning, CHECK constraints and Delta table properties
    (all set in the table's create commit)."""

    name: str
    schema: StructType
    partition_by: Sequence[str] = ()
    constraints: dict[str, str] | None = None  # constraint name (lower case) -> SQL boolean expression
    properties: dict[str, str] | None = None  # Delta table property -> value


# Tables committed to far more often than a new process reads them: those a running stream commits
# to every micro-batch, and published_sets. Delta writes a checkpoint inside every 10th commit by
# default, a Spark job of about 1 s a table here, so every 10th micro-batch took 3-4 s longer
# (docs/streaming.md); every 100th commit instead. A reader in a new process replays at most 99
# small commit files.
FEW_CHECKPOINTS = {"delta.checkpointInterval": "100"}

EVENTS_CLEAN = TableSpec(
    "events_clean",
    EVENTS_CLEAN_SCHEMA,
    partition_by=(EVENT_DATE,),
    constraints={
        "quantity_positive": "quantity >= 1",
        "price_not_negative": "price IS NULL OR price >= 0",
        "event_date_matches_ts": "event_date = CAST(event_ts AS DATE)",
    },
    properties=FEW_CHECKPOINTS,
)
ITEMS_CLEAN = TableSpec(
    "items_clean",
    ITEMS_CLEAN_SCHEMA,
    constraints={
        "price_not_negative": "price IS NULL OR price >= 0",
        "category_depth_positive": "category_depth >= 1",
    },
)
CATEGORIES = TableSpec("categories", CATEGORIES_SCHEMA, constraints={"level_positive": "level >= 1"})
EVENTS_QUARANTINE = TableSpec("events_quarantine", EVENTS_QUARANTINE_SCHEMA, properties=FEW_CHECKPOINTS)
ITEMS_QUARANTINE = TableSpec("items_quarantine", ITEMS_QUARANTINE_SCHEMA)
RECONCILIATION = TableSpec(
    "reconciliation",
    RECONCILIATION_SCHEMA,
    constraints={"counts_not_negative": "rows_read >= 0 AND rows_clean >= 0 AND rows_quarantined >= 0"},
    properties=FEW_CHECKPOINTS,
)
DQ_RESULTS = TableSpec("dq_results", DQ_RESULTS_SCHEMA, partition_by=(TABLE_NAME,))
PUBLISHED_SETS = TableSpec(
    "published_sets",
    PUBLISHED_SETS_SCHEMA,
    constraints={"known_status": "status IN ('publishing', 'published', 'restored')"},
    # two small rows per stage run, always read whole: per-file statistics and a checkpoint every 10
    # commits only slow the commit point down (0.62 -> 0.46 s a commit, measured; docs/benchmarks.md)
    properties={"delta.dataSkippingNumIndexedCols": "0", **FEW_CHECKPOINTS},
)

ITEM_SIMILARITY = TableSpec(
    "item_similarity",
    ITEM_SIMILARITY_SCHEMA,
    constraints={
        "distinct_items": "item_a <> item_b",
        "cross_category": "category_a <> category_b",
        "jaccard_in_range": "jaccard IS NULL OR (jaccard > 0 AND jaccard <= 1)",
        "content_flag_matches": "is_content = (jaccard IS NOT NULL)",
        "behavioural_flag_matches": "is_behavioural = (co_users IS NOT NULL)",
        "has_a_source": "is_content OR is_behavioural OR coalesce(is_semantic, false)",
        "semantic_flag_matches": "coalesce(is_semantic, false) = (semantic IS NOT NULL)",
        "semantic_in_range": "semantic IS NULL OR (semantic > 0 AND semantic <= 1.000001)",
        "privacy_floor": f"co_users IS NULL OR (co_users >= {PRIVACY_MIN_USERS} AND co_baskets >= co_users)",
        "confidence_in_range": "confidence IS NULL OR (confidence > 0 AND confidence <= 1)",
        "lift_positive": "lift IS NULL OR lift > 0",
        "rank_positive": "rank >= 1",
    },
)
ITEM_EMBEDDINGS = TableSpec(
    "item_embeddings",
    ITEM_EMBEDDINGS_SCHEMA,
    constraints={"has_embedding": "size(embedding) >= 1", "hash_is_sha256": "length(text_hash) = 64"},
)
CATEGORY_AFFINITY = TableSpec(
    "category_affinity",
    CATEGORY_AFFINITY_SCHEMA,
    constraints={
        "cross_category": "category_a <> category_b",
        "privacy_floor": f"co_users >= {PRIVACY_MIN_USERS} AND co_baskets >= co_users AND baskets_a >= co_baskets",
        "confidence_in_range": "confidence > 0 AND confidence <= 1",
        "lift_positive": "lift > 0",
    },
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# Append-only by content: a key keeps its id for ever; new keys get ids after the current max.
USER_ID_MAP = TableSpec(
    "user_id_map", USER_ID_MAP_SCHEMA, constraints={"user_idx_positive": "user_idx >= 1"}, properties=FEW_CHECKPOINTS
)
ITEM_ID_MAP = TableSpec("item_id_map", ITEM_ID_MAP_SCHEMA, constraints={"item_idx_positive": "item_idx >= 1"})
USER_FACTORS = TableSpec(
    "user_factors",
    USER_FACTORS_SCHEMA,
    constraints={"has_features": "size(features) >= 1", "history_positive": "history_items >= 1"},
    properties=FEW_CHECKPOINTS,
)
ITEM_FACTORS = TableSpec(
    "item_factors",
    ITEM_FACTORS_SCHEMA,
    constraints={
        "has_features": "size(features) >= 1",
        "history_not_negative": "history_users >= 0",
        "known_factor_source": _in("factor_source", FACTOR_SOURCES),
        "als_items_have_history": "(factor_source = 'als') = (history_users > 0)",
    },
)
USER_CATEGORY_INTEREST = TableSpec(
    "user_category_interest",
    USER_CATEGORY_INTEREST_SCHEMA,
    constraints={
        # Spark orders NaN above every number, so these bounds also reject NaN and infinities
        "score_in_unit_range": "interest_score >= 0 AND interest_score <= 1",
        "share_in_unit_range": "observed_share >= 0 AND observed_share <= 1",
        "new_means_unseen": "is_new_category = (observed_share = 0)",
        "rank_positive": "interest_rank >= 1",
        "known_score_source": _in("score_source", SCORE_SOURCES),
    },
    properties=FEW_CHECKPOINTS,
)
INTEREST_MODEL_RUNS = TableSpec(
    "interest_model_runs",
    INTEREST_MODEL_RUNS_SCHEMA,
    constraints={
        "sizes_not_negative": "n_users >= 0 AND n_items >= 0 AND n_interactions >= 0",
        "time_not_negative": "training_seconds >= 0",
        "density_in_unit_range": "density >= 0 AND density <= 1",
    },
)
RANKER_RUNS = TableSpec(
    "ranker_runs",
    RANKER_RUNS_SCHEMA,
    constraints={
        "known_scorer": "scorer IN ('learnt', 'configured', 'popularity')",
        "learnt_has_a_model": "scorer <> 'learnt' OR model_text IS NOT NULL",
        "counts_not_negative": "train_rows >= 0 AND train_positives >= 0 AND validation_keys >= 0",
    },
)

_CROSS_SELL_CHECKS = {
    "rank_positive": "rank >= 1",
    "score_finite": "score >= 0 AND score < 1e9",
    "has_a_reason": "size(reason_codes) >= 1 AND length(reason) > 0",
}
ITEM_CROSS_SELL = TableSpec(
    "item_cross_sell",
    ITEM_CROSS_SELL_SCHEMA,
    partition_by=("anchor_category",),  # merchandisers review and serve per anchor category
    constraints={
        **_CROSS_SELL_CHECKS,
        "cross_category": "item_category <> anchor_category",
        "not_the_anchor": "item_id <> anchor_item_id",
    },
)
USER_CROSS_SELL = TableSpec(
    "user_cross_sell", USER_CROSS_SELL_SCHEMA, constraints=_CROSS_SELL_CHECKS, properties=FEW_CHECKPOINTS
)
CROSS_SELL_GAPS = TableSpec("cross_sell_gaps", CROSS_SELL_GAPS_SCHEMA)
CATEGORY_EXPOSURE = TableSpec("category_exposure", CATEGORY_EXPOSURE_SCHEMA)
EVALUATION = TableSpec(
    "evaluation",
    EVALUATION_SCHEMA,
    constraints={"k_positive": "k >= 1", "value_finite": "value >= 0 AND value < 1e9"},
)

# Privacy audit trails (append-only): epsilon spent per run and table; forgotten users by pseudonym.
PRIVACY_LEDGER = TableSpec(
    "privacy_ledger",
    PRIVACY_LEDGER_SCHEMA,
    constraints={"epsilon_positive": "epsilon > 0", "delta_in_range": "delta >= 0 AND delta <= 1"},
)
FORGET_LOG = TableSpec("forget_log", FORGET_LOG_SCHEMA, constraints={"rows_not_negative": "rows_deleted >= 0"})
