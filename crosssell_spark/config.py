"""Typed configuration: `conf/base.yaml` plus overlays, merged and validated at start-up.

`conf/base.yaml` is the single source of defaults. Overlays (`--conf FILE`, repeatable) and
`--set dotted.key=value` overrides are deep-merged on top in order. Every error names the file
(or override) that set the offending key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crosssell_spark.schemas import CANONICAL_EVENT_TYPES, RAW_EVENT_COLUMNS, RAW_ITEM_COLUMNS

BASE_CONFIG_NAME = "base.yaml"
CONF_DIR_ENV = "CROSSSELL_CONF_DIR"


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the source and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Section):
    app_name: str
    master: str | None = None  # None: keep spark-submit's master, else local[*]
    shuffle_partitions: int = Field(gt=0)
    log_level: str
    checkpoint_dir: str | None = None  # None: <lakehouse.root>/_checkpoints
    conf: dict[str, str] = {}


class LakehouseConfig(_Section):
    root: str
    database: str | None = None  # also register published tables in this catalog database
    staging_dir: str = "_staging"


def resolve_root(root: str) -> str:
    """Absolute local path for scheme-less roots; URIs (s3a://, abfss://, dbfs:/) unchanged."""
    if urlparse(root).scheme and not Path(root).drive:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


InputSource = Literal["sample", "files", "instacart", "rees46", "uci_online_retail"]
FileFormat = Literal["csv", "parquet", "json", "delta"]


def _reader_options(cls: type, value: Any) -> Any:
    """Spark reader options are strings; YAML booleans become "true"/"false" (Spark's spelling)."""
    if isinstance(value, Mapping):
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


class TableInputConfig(_Section):
    """Where one raw input lives and how its columns map onto the input contract."""

    path: str | None = None
    format: FileFormat = "csv"
    options: dict[str, str] = {}
    columns: dict[str, str] = {}  # contract column -> source column
    category_columns: list[str] = []  # catalogue only: level columns, root first, instead of a path
    category_separator: str | None = None  # catalogue only: separator used by the source path

    _options_as_strings = field_validator("options", mode="before")(_reader_options)


class InputConfig(_Section):
    source: InputSource
    path: str | None = None  # data folder of a named public source (instacart, rees46, ...)
    events: TableInputConfig = TableInputConfig()
    catalogue: TableInputConfig = TableInputConfig()

    @model_validator(mode="after")
    def _paths_present(self) -> InputConfig:
        if self.source in ("instacart", "rees46", "uci_online_retail") and not self.path:
            raise ValueError(f"input.path is required for input.source={self.source}")
        if self.source == "files":
            for name, table in (("events", self.events), ("catalogue", self.catalogue)):
                if not table.path:
                    raise ValueError(f"input.{name}.path is required for input.source=files")
        for table, allowed in ((self.events, RAW_EVENT_COLUMNS), (self.catalogue, RAW_ITEM_COLUMNS)):
            unknown = sorted(set(table.columns) - set(allowed))
            if unknown:
                raise ValueError(f"unknown contract columns {unknown}; allowed: {list(allowed)}")
        return self


class SampleConfig(_Section):
    events: int = Field(gt=0)
    seed: int
    path: str  # where the generated raw files land
    by_day: bool = False  # write events as day partitions events/event_date=YYYY-MM-DD/ (for --run-date runs)


class CleaningConfig(_Section):
    event_type_aliases: dict[str, list[str]]  # canonical or extra type -> raw spellings
    timestamp_formats: list[str]
    min_event_ts: str
    max_future_skew_hours: int = Field(ge=0)
    near_duplicate_window_seconds: int = Field(ge=0)
    bot_max_events_per_day: int = Field(gt=0)
    session_gap_minutes: int = Field(gt=0)
    max_price: float = Field(gt=0)
    max_quantity: int = Field(gt=0)
    unknown_category: str
    default_in_stock: bool
    daily_catalogue: Literal["reuse", "refresh"] = "reuse"  # --run-date runs: keep or re-clean the catalogue

    @field_validator("event_type_aliases")
    @classmethod
    def _canonical_types_present(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        missing = [t for t in CANONICAL_EVENT_TYPES if t not in value]
        if missing:
            raise ValueError(f"canonical event types missing: {missing}")
        return value


Severity = Literal["critical", "warning", "info"]


class QualityConfig(_Section):
    gx_dir: str | None = None  # None: <lakehouse.root>/_gx (local roots) or ./gx
    row_count_tolerance: float = Field(gt=0)
    row_count_severity: Severity
    max_event_age_days: int = Field(gt=0)
    freshness_severity: Severity
    sample_size: int = Field(ge=0, le=100)


class CategoriesConfig(_Section):
    cross_level: int = Field(ge=1)  # hierarchy level at which "another category" is judged


PRIVACY_MIN_USERS = 3  # behavioural statistics are never published for fewer distinct users
ContentField = Literal["title", "brand", "description"]


class ContentSimilarityConfig(_Section):
    """Content similarity: tokens of item text, a learnt stop list, then every cross-category pair
    at or above the Jaccard threshold, exactly (blocked sparse products) or by MinHash LSH with banding."""

    method: Literal["exact", "lsh"]  # exact: blocked sparse products (every pair); lsh: banded MinHash (approximate)
    block_items: int = Field(ge=100)  # exact: items per block (each pair of blocks is one task)
    fields: list[ContentField] = Field(min_length=1)  # items_clean text columns that describe an item
    shingle: Literal["word", "char"]  # word n-grams of the tokens, or character n-grams inside each token
    shingle_size: int = Field(ge=1, le=10)
    token_min_length: int = Field(ge=1)  # shorter tokens are dropped unless they hold a digit ("s23", "4k")
    max_doc_freq: float = Field(gt=0, le=1)  # stop list: tokens in more than this share of items ...
    stop_word_min_items: int = Field(ge=1)  # ... and in at least this many items
    num_features: int = Field(ge=1024, le=1 << 30)  # HashingTF dimension of the binary vectors
    num_hash_tables: int = Field(ge=1)  # MinHashLSH hash functions in all
    hashes_per_band: int = Field(ge=1)  # AND-amplification: a band matches when all its hashes agree
    jaccard_threshold: float = Field(gt=0, le=1)  # minimum Jaccard similarity of a published content pair
    bucket_cap: int = Field(ge=2)  # members kept per band bucket; bounds candidate pairs per bucket
    seed: int

    @model_validator(mode="after")
    def _bands_divide_hashes(self) -> ContentSimilarityConfig:
        if self.num_hash_tables % self.hashes_per_band:
            raise ValueError(
                f"num_hash_tables ({self.num_hash_tables}) must be a multiple of hashes_per_band "
                f"({self.hashes_per_band})"
            )
        return self

    @property
    def bands(self) -> int:
        return self.num_hash_tables // self.hashes_per_band


class CooccurrenceConfig(_Section):
    """Behavioural similarity: items bought (or carted, viewed) together in one session."""

    event_weights: dict[str, float]  # event type -> weight in (0, 1]; types not listed are ignored
    max_items_per_basket: int = Field(ge=2)  # a basket keeps its strongest items up to this many
    min_users: int = Field(ge=PRIVACY_MIN_USERS)  # privacy floor: distinct users behind a published pair
    min_baskets: int = Field(ge=1)  # and distinct baskets

    @field_validator("event_weights")
    @classmethod
    def _weights_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in value.items() if not 0 < w <= 1}
        if bad:
            raise ValueError(f"event weights must be in (0, 1]: {bad}")
        if not value:
            raise ValueError("at least one event type must carry a weight")
        return value

    @property
    def basket_types(self) -> list[str]:
        """The event types that put an item in a basket (those with a weight)."""
        return sorted(self.event_weights)


class SemanticSimilarityConfig(_Section):
    """Semantic similarity: item text embedded by a multilingual sentence encoder (the `semantic`
    extra), kept per item and text hash so a run embeds only new or changed items, then each item's
    nearest items of other categories by cosine, exactly, in blocks of items."""

    enabled: bool  # off: no embeddings, no semantic neighbours (the ranker sees the feature as missing)
    fields: list[ContentField] = Field(min_length=1)  # items_clean text columns embedded together
    min_cosine: float = Field(gt=0, le=1)  # a published semantic pair's minimum cosine
    block_items: int = Field(ge=100)  # items per block (each pair of blocks is one task)
    batch_size: int = Field(ge=1)  # titles per encoder call


class ScoreWeightsConfig(_Section):
    content: float = Field(ge=0)  # weight of content Jaccard in an item pair's score
    behavioural: float = Field(ge=0)  # weight of co-occurrence confidence in the score
    semantic: float = Field(ge=0)  # weight of embedding cosine in the score


class SimilarityConfig(_Section):
    content: ContentSimilarityConfig
    semantic: SemanticSimilarityConfig
    cooccurrence: CooccurrenceConfig
    top_n: int = Field(ge=1)  # neighbours kept per item and per source (content, semantic, behavioural)
    score_weights: ScoreWeightsConfig


StorageLevelName = Literal[
    "MEMORY_ONLY", "MEMORY_ONLY_SER", "MEMORY_AND_DISK", "MEMORY_AND_DISK_SER", "DISK_ONLY", "MEMORY_ONLY_2",
    "MEMORY_AND_DISK_2", "OFF_HEAP",
]  # fmt: skip


class AlsConfig(_Section):
    """Spark MLlib ALS with implicit preferences (confidence = 1 + alpha * interaction weight)."""

    rank: int = Field(ge=1)
    max_iter: int = Field(ge=1)
    reg_param: float = Field(ge=0)
    alpha: float = Field(gt=0)
    num_user_blocks: int = Field(ge=1)
    num_item_blocks: int = Field(ge=1)
    intermediate_storage_level: StorageLevelName  # NONE is not allowed by Spark
    final_storage_level: StorageLevelName
    checkpoint_interval: int = Field(ge=1)  # iterations between lineage checkpoints (needs the checkpoint dir)
    block_size: int = Field(ge=1)  # rows per block when scoring (recommendForUserSubset in tuning)
    seed: int


class InterestTuneConfig(_Section):
    """`crosssell tune-interest`: a small grid on a time-based split, scored by ranking metrics."""

    enabled: bool = False  # true: run the grid before training (what `tune-interest` sets)
    test_fraction: float = Field(gt=0, lt=1)  # the newest share of events held out
    k: int = Field(ge=1)  # cut-off of precision/recall/ndcg@k
    max_iter: int = Field(ge=1)  # iterations per grid fit
    overfetch: int = Field(ge=0)  # extra recommendations fetched before removing items the user had
    ranks: list[int] = Field(min_length=1)
    reg_params: list[float] = Field(min_length=1)
    alphas: list[float] = Field(min_length=1)

    @field_validator("ranks", "reg_params", "alphas")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError(f"grid values must be positive, got {value}")
        return value


class InterestConfig(_Section):
    """User interest: weighted interactions, ALS, and the user x category interest table."""

    event_weights: dict[str, float]  # event type -> weight of one event; unlisted types are ignored
    half_life_days: float | None = Field(default=None, gt=0)  # recency decay; None: no decay
    max_weight: float = Field(gt=0)  # cap of one user-item interaction weight
    min_user_items: int = Field(ge=1)  # fewer distinct items: the user gets the popularity fallback
    top_items_per_category: int = Field(ge=1)  # M: a category is scored on its M most popular items
    top_k_affinities: int = Field(ge=1)  # the score is the mean of the user's k best of those M
    fallback_prior_items: float = Field(ge=0)  # fallback: own category shares shrunk to popularity by this
    categories_per_user: int | None = Field(default=None, ge=1)  # keep the top n per user; None: all
    als: AlsConfig
    tune: InterestTuneConfig

    @field_validator("event_weights")
    @classmethod
    def _weights_valid(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in value.items() if w < 0}
        if bad:
            raise ValueError(f"event weights must be >= 0: {bad}")
        if not any(w > 0 for w in value.values()):
            raise ValueError("at least one event type must carry a positive weight")
        return value

    @model_validator(mode="after")
    def _k_within_m(self) -> InterestConfig:
        if self.top_k_affinities > self.top_items_per_category:
            raise ValueError(
                f"top_k_affinities ({self.top_k_affinities}) must be <= top_items_per_category "
                f"({self.top_items_per_category})"
            )
        return self


class ItemListWeights(_Section):
    """Blend of an anchor item's candidates; every component is in [0, 1]."""

    content: float = Field(ge=0)  # content Jaccard of anchor and item
    semantic: float = Field(ge=0)  # cosine of the two items' text embeddings (similarity.semantic)
    cooccurrence: float = Field(ge=0)  # confidence: share of the anchor's baskets holding the item
    lift: float = Field(ge=0)  # 1 - 1/lift of the pair (0 when lift <= 1)
    category_affinity: float = Field(ge=0)  # 1 - 1/lift of the category pair
    als: float = Field(ge=0)  # cosine of the two items' ALS factors (clipped at 0)
    popularity: float = Field(ge=0)  # log-scaled distinct users of the item


class UserListWeights(_Section):
    """Blend of a user's candidates; every component is in [0, 1]."""

    als: float = Field(ge=0)  # the user's ALS preference for the item (dot product, clipped to [0, 1])
    interest: float = Field(ge=0)  # the user's interest in the item's category, relative to their best
    cooccurrence: float = Field(ge=0)  # confidence from one of the user's recent purchases (basket source)
    popularity: float = Field(ge=0)


class StrategyRules(_Section):
    """Merchandising rules applied to both lists (switch each off with null / false / 0)."""

    exclude_owned_days: int | None = Field(ge=1)  # user lists: drop items bought in this many days; null: ever
    per_category_cap: int | None = Field(ge=1)  # at most this many items of one category in a list; null: no cap
    min_distinct_categories: int = Field(ge=1)  # open this many categories first when candidates allow
    allow_pairs: list[tuple[str, str]] = []  # [anchor category, item category]; '*' = any; empty: all allowed
    deny_pairs: list[tuple[str, str]] = []
    max_price_ratio: float | None = Field(gt=0)  # item price <= ratio x anchor price; null: no price rule
    in_stock_only: bool
    min_score: float = Field(ge=0)
    min_support: int = Field(ge=0)  # distinct co-buying users behind behavioural evidence (content pairs exempt)
    evidence_first: (
        bool  # true: pair evidence, then category affinity, then popularity, each tier by score; false: score
    )


class UserListConfig(_Section):
    weights: UserListWeights
    category_rule: Literal["new", "outside_top", "any"]  # new: never-touched categories; outside_top: not in top n
    outside_top_n: int = Field(ge=1)  # with category_rule=outside_top: the user's top-n observed categories
    interest_categories: int = Field(ge=1)  # candidate categories drawn from the interest graph per user
    items_per_category: int = Field(ge=1)  # most popular items taken from each of those categories
    recent_anchors: int = Field(ge=0)  # the user's latest purchases whose neighbours become candidates
    popular_items: int = Field(ge=0)  # the most popular items of the categories the user may see


class ItemListConfig(_Section):
    weights: ItemListWeights
    als_neighbours: int = Field(ge=0)  # the anchor's nearest items of other categories by ALS cosine (0: none)
    affinity_categories: int = Field(ge=1)  # the categories most often bought with the anchor's category ...
    items_per_category: int = Field(ge=1)  # ... and their most popular items
    popular_fallback_items: int = Field(ge=1)  # last resort: globally popular items of other categories


class RankerModelConfig(_Section):
    """LightGBM settings of the learnt ranker (deterministic, one thread)."""

    objective: Literal["lambdarank", "binary"]  # lambdarank: learn each list's order; binary: P(taken) per row
    num_trees: int = Field(ge=1)
    learning_rate: float = Field(gt=0, le=1)
    num_leaves: int = Field(ge=2)
    min_data_in_leaf: int = Field(ge=1)


class RankerConfig(_Section):
    """train-ranker: hold out the newest baskets, rebuild the signals from the rest, learn which
    candidates were taken, and keep the learnt score only where it beats the weights and popularity."""

    enabled: bool  # false: lists are scored by the configured weights
    label_window: Literal["share", "days", "last_basket"]  # which newest baskets are labels (training.label_split)
    label_share: float = Field(gt=0, lt=1)  # with label_window=share: this share of all baskets, newest first
    label_days: int = Field(ge=1)  # with label_window=days: the final N calendar days
    max_keys: int = Field(ge=1)  # labelled keys (anchor items; shoppers) sampled per list kind
    folds: int = Field(ge=2)  # the guard's cross-fitting: each fold's keys are scored by a model fitted on the rest
    min_positives: int = Field(ge=1)  # fewer labelled positives in training: no model, configured weights
    ablation: bool = False  # also refit without each feature group and candidate source (crosssell evaluate: on)
    seed: int
    model: RankerModelConfig


class CrossSellConfig(_Section):
    k: int = Field(ge=1)  # list length
    rules: StrategyRules
    item: ItemListConfig
    user: UserListConfig
    ranker: RankerConfig
    balance_strength: float = Field(ge=0)  # 0: off; >0 divides scores by category share^strength
    export_json: bool  # also write JSON-lines serving exports under <root>/_exports


class EvaluationConfig(_Section):
    """`crosssell evaluate`: a time split, the pipeline retrained on the past, ranking metrics vs baselines."""

    cut_date: date | None = None  # events at or after this date are held out; None: the last `last_days` days
    last_days: int = Field(ge=1)  # held-out window: the final N calendar days of events_clean
    k: int = Field(ge=1)  # cut-off of every ranking metric
    basket_event_types: list[str] = Field(min_length=1)  # event types that make a held-out basket or purchase
    min_basket_categories: int = Field(ge=2)  # anchor task: a held-out basket spans at least this many categories
    max_anchor_queries: int | None = Field(default=None, ge=1)  # seeded sample of (basket, anchor) queries; None: all
    popularity_pool: int = Field(ge=0)  # global popularity baseline: the k + pool most bought items, minus owned
    cooccurrence_neighbours: int = Field(ge=1)  # co-occurrence and SAR baselines: neighbours kept per item
    sar_half_life_days: float = Field(default=30.0, gt=0)  # SAR baseline: an event this many days old counts half
    seed: int
    ablation: bool = True  # the training run's ranker also reports each feature group and source dropped in turn
    root: str | None = None  # training lakehouses and reports; None: <lakehouse.root>/_evaluation


class KafkaSourceConfig(_Section):
    """Kafka source of `crosssell stream` (needs the spark-sql-kafka-0-10 package on the classpath)."""

    bootstrap_servers: str | None = None  # host:port[,host:port]
    topic: str | None = None  # one JSON event object (input-contract fields) per message value
    starting_offsets: str = "latest"  # latest | earliest | a JSON offsets spec, on the first start only
    options: dict[str, str] = {}  # any other kafka.* / source option, e.g. kafka.security.protocol


class StreamingConfig(_Section):
    """`crosssell stream`: new clickstream files (or Kafka messages) -> events_clean and refreshed user lists."""

    source: Literal["file", "kafka"]
    landing_dir: str | None = None  # file source folder; None: <lakehouse.root>/_landing/stream
    format: Literal["json", "csv"]  # file source: JSON lines (columns by name) or CSV with a header
    options: dict[str, str] = {}  # extra file-source options, e.g. {"cleanSource": "archive", ...}
    max_files_per_trigger: int = Field(ge=1)  # files read per micro-batch at most
    trigger: Literal["processingTime", "availableNow"]  # run continuously, or catch up and stop
    processing_time: str  # processingTime interval, e.g. "2 seconds" ("0 seconds": next batch at once)
    checkpoint_dir: str | None = None  # offsets and commits; None: <lakehouse.root>/_checkpoints/stream
    query_name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")  # names the query and its Delta txnAppId
    refresh: bool  # fold in touched users and rewrite their interest and user_cross_sell rows
    refresh_engine: Literal["driver", "spark"]  # where the touched users' interest and lists are computed
    context_check_seconds: float = Field(ge=0)  # how often to look for item factors a batch run published
    history_cache_events: int = Field(ge=0)  # touched users' published events kept on the driver; 0: read each batch
    history_events_per_user: int = Field(ge=0)  # a refresh folds in a user's newest events, this many, and purchases
    kafka: KafkaSourceConfig = KafkaSourceConfig()

    _options_as_strings = field_validator("options", mode="before")(_reader_options)

    @model_validator(mode="after")
    def _kafka_complete(self) -> StreamingConfig:
        if self.source == "kafka" and not (self.kafka.bootstrap_servers and self.kafka.topic):
            raise ValueError("streaming.kafka.bootstrap_servers and streaming.kafka.topic are required for kafka")
        return self


DELTA_MIN_RETENTION_HOURS = 168  # Delta's retentionDurationCheck refuses VACUUM below 7 days


class MaintenanceConfig(_Section):
    """`crosssell maintain`: OPTIMIZE (compaction) and VACUUM of every published table."""

    optimize: bool  # compact small files into larger ones (a new table version; data unchanged)
    vacuum: bool  # delete files that no version within the retention window needs
    retention_hours: int = Field(ge=0)  # VACUUM keeps what time travel to the last N hours needs
    allow_short_retention: bool  # true: lift Delta's 7-day safety check for this job only (logged)
    zorder_by: dict[str, list[str]] = {}  # table -> columns to Z-order by while optimizing
    tables: list[str] = []  # only these tables; empty: every published table that exists
    keep_exports: int = Field(ge=1)  # newest serving export folders kept (LATEST's is never removed)

    @model_validator(mode="after")
    def _retention_safe(self) -> MaintenanceConfig:
        if self.retention_hours < DELTA_MIN_RETENTION_HOURS and not self.allow_short_retention:
            raise ValueError(
                f"retention_hours={self.retention_hours} is below Delta's {DELTA_MIN_RETENTION_HOURS} h safety "
                "minimum: readers and time travel may still need those files; set "
                "maintenance.allow_short_retention: true to do it deliberately"
            )
        return self


class DifferentialPrivacyConfig(_Section):
    """Optional differential privacy on co-occurrence and category-affinity counts (privacy/dp.py)."""

    enabled: bool  # off: exact counts (the minimum crowd still applies)
    mechanism: Literal["laplace", "gaussian"]  # laplace: pure epsilon; gaussian: (epsilon, delta) via zCDP
    epsilon: float = Field(gt=0)  # privacy budget spent by each published table per run
    delta: float = Field(ge=0, lt=1)  # gaussian only: the delta of (epsilon, delta)
    max_baskets_per_user: int = Field(ge=1)  # contribution bound: a user keeps at most this many baskets ...
    max_items_per_basket: int = Field(ge=2)  # ... of at most this many items, so pairs per user are capped
    seed: int | None = None  # None: secure OS randomness (OpenDP); an int: reproducible noise, tests only
    selection_delta: float | None = Field(default=None, gt=0, lt=1)  # set: raise the crowd threshold until a
    # pair only one person holds is published with at most this probability; None: min_users only

    @model_validator(mode="after")
    def _gaussian_needs_delta(self) -> DifferentialPrivacyConfig:
        if self.mechanism == "gaussian" and self.delta <= 0:
            raise ValueError("privacy.dp.delta must be > 0 with mechanism gaussian")
        return self

    @property
    def max_pairs_per_user(self) -> int:
        return self.max_baskets_per_user * self.max_items_per_basket * (self.max_items_per_basket - 1) // 2


class PrivacyConfig(_Section):
    """Pseudonymised user ids, optional differential privacy and `crosssell forget`."""

    pseudonymise: bool  # replace user and session ids by HMAC-SHA256 pseudonyms at ingestion
    key_env: str = Field(min_length=1)  # environment variable holding the HMAC key ...
    key_file: str | None = None  # ... or a secret file outside the repository (the variable wins)
    min_key_bytes: int = Field(ge=16)  # shorter keys are refused
    dp: DifferentialPrivacyConfig


class AppConfig(_Section):
    spark: SparkConfig
    lakehouse: LakehouseConfig
    input: InputConfig
    sample: SampleConfig
    cleaning: CleaningConfig
    categories: CategoriesConfig
    quality: QualityConfig
    similarity: SimilarityConfig
    interest: InterestConfig
    crosssell: CrossSellConfig
    evaluation: EvaluationConfig
    streaming: StreamingConfig
    maintenance: MaintenanceConfig
    privacy: PrivacyConfig

    @model_validator(mode="after")
    def _cooccurrence_event_types_known(self) -> AppConfig:
        unknown = sorted(set(self.similarity.cooccurrence.event_weights) - set(self.cleaning.event_type_aliases))
        if unknown:
            raise ValueError(
                f"similarity.cooccurrence.event_weights: unknown event types {unknown}; "
                f"known: {sorted(self.cleaning.event_type_aliases)}"
            )
        return self

    @model_validator(mode="after")
    def _evaluation_event_types_known(self) -> AppConfig:
        unknown = sorted(set(self.evaluation.basket_event_types) - set(self.cleaning.event_type_aliases))
        if unknown:
            raise ValueError(f"evaluation.basket_event_types: unknown event types {unknown}")
        return self

    @model_validator(mode="after")
    def _interest_event_types_known(self) -> AppConfig:
        unknown = sorted(set(self.interest.event_weights) - set(self.cleaning.event_type_aliases))
        if unknown:
            raise ValueError(
                f"interest.event_weights: unknown event types {unknown}; "
                f"known: {sorted(self.cleaning.event_type_aliases)}"
            )
        return self


# --- loading --------------------------------------------------------------------------------------


def _deep_merge(
    base: dict[str, Any],
    overlay: Mapping[str, Any],
    origin: str,
    origins: dict[tuple[str, ...], str],
    prefix: tuple[str, ...] = (),
) -> None:
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            origins[path] = origins.get(path, origin)
            _deep_merge(base[key], value, origin, origins, path)
        else:
            base[key] = _expand_env(value, origin, path)
            _mark_origin(value, origin, origins, path)


def _mark_origin(value: Any, origin: str, origins: dict[tuple[str, ...], str], path: tuple[str, ...]) -> None:
    origins[path] = origin
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _mark_origin(inner, origin, origins, (*path, str(key)))


DOTTED_KEY = re.compile(r"\b[a-z_]+(?:\.[a-z_]+)+")  # a config key named in a validation message, e.g. input.path
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")  # ${NAME} or ${NAME:-default}


def _expand_env(value: Any, origin: str, path: tuple[str, ...]) -> Any:
    """Strings with `${NAME}` take the variable's value (`${NAME:-default}`: the default when it is
    unset); an unset variable without a default is an error naming the file and key."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, has_default, default = match.groups()
            if name in os.environ:
                return os.environ[name]
            if has_default is not None:
                return default
            raise ConfigError(
                f"{origin}: {'.'.join(path)}: environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}})"
            )

        return ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {k: _expand_env(v, origin, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, origin, path) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn `a.b.c=value` into a nested mapping; the value is parsed as YAML (numbers, lists...)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected dotted.key=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"--set {text!r}: empty key")
    value: Any = yaml.safe_load(raw) if raw.strip() else None
    for key in reversed(keys):
        value = {key: value}
    return value


def find_base_config(overlays: Iterable[Path] = ()) -> Path:
    """base.yaml: $CROSSSELL_CONF_DIR, else beside the first overlay, else ./conf."""
    if os.environ.get(CONF_DIR_ENV):
        return Path(os.environ[CONF_DIR_ENV]) / BASE_CONFIG_NAME
    for overlay in overlays:
        candidate = Path(overlay).parent / BASE_CONFIG_NAME
        if candidate.exists():
            return candidate
    return Path("conf") / BASE_CONFIG_NAME


def load_config(
    overlays: Iterable[str | Path] = (), overrides: Iterable[str] = (), base: str | Path | None = None
) -> AppConfig:
    """Merge base.yaml, overlay files and `key=value` overrides, then validate."""
    overlay_paths = [Path(p) for p in overlays]
    base_path = Path(base) if base else find_base_config(overlay_paths)
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for path in [base_path, *[p for p in overlay_paths if p.resolve() != base_path.resolve()]]:
        _deep_merge(merged, _read_yaml(path), str(path), origins)
    for override in overrides:
        _deep_merge(merged, parse_override(override), f"--set {override}", origins)
    try:
        return AppConfig.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_describe(err, origins, str(base_path))) from None


def _describe(err: ValidationError, origins: dict[tuple[str, ...], str], base: str) -> str:
    lines = []
    for problem in err.errors():
        loc = tuple(str(p) for p in problem["loc"])
        origin = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), base)
        # a cross-field rule names the keys it read: blame the file that set each of them
        named = dict.fromkeys(tuple(k.split(".")) for k in DOTTED_KEY.findall(str(problem["msg"])))
        set_by = [f"{origins[k]} ({'.'.join(k)})" for k in named if k in origins]
        if problem["type"] == "value_error" and set_by:
            origin = ", ".join(set_by)
        key = ".".join(loc) or "<root>"
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        elif isinstance(problem.get("input"), Mapping):  # a section-wide rule: its message says it all
            message = str(problem["msg"])
        else:
            message = f"{problem['msg']} (got {problem.get('input')!r})"
        lines.append(f"{origin}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
