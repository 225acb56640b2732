"""Column names and StructTypes of every input and output table, in one place."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# --- column names -------------------------------------------------------------------------------
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
EVENT_TS = "event_ts"
EVENT_DATE = "event_date"
SESSION_ID = "session_id"
QUANTITY = "quantity"
PRICE = "price"
TITLE = "title"
DESCRIPTION = "description"
BRAND = "brand"
CATEGORY_PATH = "category_path"
CATEGORY_ID = "category_id"
CATEGORY_IDS = "category_ids"
CATEGORY_NAMES = "category_names"
CATEGORY_DEPTH = "category_depth"
IN_STOCK = "in_stock"
REASON = "reason"
DETAIL = "detail"
RUN_ID = "run_id"
RUN_DATE = "run_date"  # the --run-date of an incremental (daily) run; null for full runs
SOURCE = "source"
INGESTED_AT = "ingested_at"

# canonical event types; configurable extras are allowed on top of these
VIEW, CART, PURCHASE = "view", "cart", "purchase"
CANONICAL_EVENT_TYPES = (VIEW, CART, PURCHASE)


def _strings(*names: str) -> StructType:
    return StructType([StructField(n, StringType(), True) for n in names])


# --- input contract -----------------------------------------------------------------------------
# Adapters deliver every raw column as a string so that cleaning, not the reader, decides what is
# malformed, and quarantined rows keep the exact value that was read.
RAW_EVENT_COLUMNS = (USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS, SESSION_ID, QUANTITY, PRICE)
RAW_EVENTS_SCHEMA = _strings(*RAW_EVENT_COLUMNS)

# `category_path` holds the hierarchy root first, levels joined by CATEGORY_SEPARATOR.
CATEGORY_SEPARATOR = " > "
RAW_ITEM_COLUMNS = (ITEM_ID, TITLE, DESCRIPTION, BRAND, CATEGORY_PATH, PRICE, IN_STOCK)
RAW_ITEMS_SCHEMA = _strings(*RAW_ITEM_COLUMNS)

# --- cleaning outputs ---------------------------------------------------------------------------
EVENTS_CLEAN_SCHEMA = StructType(
    [
        StructField(EVENT_ID, StringType(), False),
        StructField(USER_ID, StringType(), False),
        StructField(ITEM_ID, StringType(), False),
        StructField(EVENT_TYPE, StringType(), False),
        StructField(EVENT_TS, TimestampType(), False),
        StructField(SESSION_ID, StringType(), False),
        StructField(QUANTITY, IntegerType(), False),
        StructField(PRICE, DoubleType(), True),
        StructField(EVENT_DATE, DateType(), False),
    ]
)

ITEMS_CLEAN_SCHEMA = StructType(
    [
        StructField(ITEM_ID, StringType(), False),
        StructField(TITLE, StringType(), False),
        StructField(DESCRIPTION, StringType(), True),
        StructField(BRAND, StringType(), True),
        StructField(CATEGORY_NAMES, ArrayType(StringType()), False),
        StructField(CATEGORY_IDS, ArrayType(StringType()), False),
        StructField(CATEGORY_ID, StringType(), False),
        StructField(CATEGORY_DEPTH, IntegerType(), False),
        StructField(PRICE, DoubleType(), True),
        StructField(IN_STOCK, BooleanType(), False),
    ]
)

CATEGORY_NAME = "category_name"
LEVEL = "level"
PARENT_ID = "parent_id"
IS_LEAF = "is_leaf"
CATEGORIES_SCHEMA = StructType(
    [
        StructField(CATEGORY_ID, StringType(), False),
        StructField(CATEGORY_NAME, StringType(), False),
        StructField(LEVEL, IntegerType(), False),
        StructField(PARENT_ID, StringType(), True),
        StructField(CATEGORY_PATH, StringType(), False),
        StructField(IS_LEAF, BooleanType(), False),
    ]
)


def quarantine_schema(raw_schema: StructType) -> StructType:
    """A quarantine table keeps the raw row as read plus why it was rejected."""
    return StructType(
        [
            *raw_schema.fields,
            StructField(REASON, StringType(), False),
            StructField(DETAIL, StringType(), True),
            StructField(RUN_ID, StringType(), False),
        ]
    )


# Incremental runs replace their own day's quarantine rows (replaceWhere run_date = D).
EVENTS_QUARANTINE_SCHEMA = StructType(
    [*quarantine_schema(RAW_EVENTS_SCHEMA).fields, StructField(RUN_DATE, DateType(), True)]
)
ITEMS_QUARANTINE_SCHEMA = quarantine_schema(RAW_ITEMS_SCHEMA)

INPUT_NAME = "input_name"
ROWS_READ = "rows_read"
ROWS_CLEAN = "rows_clean"
ROWS_QUARANTINED = "rows_quarantined"
ROWS_DUPLICATE = "rows_duplicate"
BALANCED = "balanced"
RECORDED_AT = "recorded_at"
RECONCILIATION_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(INPUT_NAME, StringType(), False),
        StructField(ROWS_READ, LongType(), False),
        StructField(ROWS_CLEAN, LongType(), False),
        StructField(ROWS_QUARANTINED, LongType(), False),
        StructField(ROWS_DUPLICATE, LongType(), False),
        StructField(BALANCED, BooleanType(), False),
        StructField(RECORDED_AT, TimestampType(), False),
        StructField(RUN_DATE, DateType(), True),
    ]
)

STAGE = "stage"
SET_STATUS = "status"
TABLE_VERSIONS = "table_versions"
SET_PUBLISHING, SET_PUBLISHED, SET_RESTORED = "publishing", "published", "restored"
# One row when a stage starts publishing (each table's version before it) and one when its last table
# is in (each table's new version): a run counts as published only once its second row exists.
PUBLISHED_SETS_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(STAGE, StringType(), False),
        StructField(SET_STATUS, StringType(), False),
        StructField(TABLE_VERSIONS, MapType(StringType(), LongType(), False), False),
        StructField(RECORDED_AT, TimestampType(), False),
    ]
)

TABLE_NAME = "table_name"
EXPECTATION = "expectation"
COLUMN = "column"
SEVERITY = "severity"
SUCCESS = "success"
OBSERVED_VALUE = "observed_value"
UNEXPECTED_COUNT = "unexpected_count"
UNEXPECTED_PERCENT = "unexpected_percent"
SAMPLE = "sample"
CHECKED_AT = "checked_at"
DQ_RESULTS_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(TABLE_NAME, StringType(), False),
        StructField(EXPECTATION, StringType(), False),
        StructField(COLUMN, StringType(), True),
        StructField(DESCRIPTION, StringType(), True),
        StructField(SEVERITY, StringType(), False),
        StructField(SUCCESS, BooleanType(), False),
        StructField(OBSERVED_VALUE, StringType(), True),
        StructField(UNEXPECTED_COUNT, LongType(), True),
        StructField(UNEXPECTED_PERCENT, DoubleType(), True),
        StructField(SAMPLE, StringType(), True),
        StructField(CHECKED_AT, TimestampType(), False),
    ]
)

# --- similarity outputs -------------------------------------------------------------------------
ITEM_A = "item_a"
ITEM_B = "item_b"
CATEGORY_A = "category_a"
CATEGORY_B = "category_b"
JACCARD = "jaccard"
CO_BASKETS = "co_baskets"
CO_USERS = "co_users"
CONFIDENCE = "confidence"  # directional: share of item_a's (weighted) baskets that also hold item_b
LIFT = "lift"
IS_CONTENT = "is_content"
SEMANTIC = "semantic"  # cosine of two items' text embeddings (similarity.semantic)
IS_SEMANTIC = "is_semantic"
TEXT_HASH = "text_hash"  # sha-256 of the text an embedding was computed from
EMBEDDING_MODEL = "model"  # name==version of the embedding model
EMBEDDING = "embedding"
IS_BEHAVIOURAL = "is_behavioural"
SCORE = "score"
RANK = "rank"
BASKETS_A = "baskets_a"

# One row per (item_a, item_b) in different categories, both directions stored (see similarity/graph.py).
ITEM_SIMILARITY_SCHEMA = StructType(
    [
        StructField(ITEM_A, StringType(), False),
        StructField(ITEM_B, StringType(), False),
        StructField(CATEGORY_A, StringType(), False),
        StructField(CATEGORY_B, StringType(), False),
        StructField(JACCARD, DoubleType(), True),
        StructField(CO_BASKETS, LongType(), True),
        StructField(CO_USERS, LongType(), True),
        StructField(CONFIDENCE, DoubleType(), True),
        StructField(LIFT, DoubleType(), True),
        StructField(IS_CONTENT, BooleanType(), False),
        StructField(IS_BEHAVIOURAL, BooleanType(), False),
        StructField(SCORE, DoubleType(), False),
        StructField(RANK, IntegerType(), False),
        # semantic neighbours (similarity.semantic): cosine of the items' text embeddings; nullable so a
        # table written before them gains the columns (null in its old rows)
        StructField(SEMANTIC, DoubleType(), True),
        StructField(IS_SEMANTIC, BooleanType(), True),
    ]
)

# One row per catalogue item: its text embedding (similarity.semantic), keyed by the embedded text's
# hash and the model, so a run embeds only new or changed items.
ITEM_EMBEDDINGS_SCHEMA = StructType(
    [
        StructField(ITEM_ID, StringType(), False),
        StructField(TEXT_HASH, StringType(), False),
        StructField(EMBEDDING_MODEL, StringType(), False),
        StructField(EMBEDDING, ArrayType(FloatType()), False),
        StructField(RUN_ID, StringType(), False),
    ]
)

# One row per ordered pair of categories (at categories.cross_level) shoppers put in one basket.
CATEGORY_AFFINITY_SCHEMA = StructType(
    [
        StructField(CATEGORY_A, StringType(), False),
        StructField(CATEGORY_B, StringType(), False),
        StructField(CO_BASKETS, LongType(), False),
        StructField(CO_USERS, LongType(), False),
        StructField(BASKETS_A, LongType(), False),
        StructField(CONFIDENCE, DoubleType(), False),
        StructField(LIFT, DoubleType(), False),
    ]
)

# --- user interest outputs ----------------------------------------------------------------------
# Rows the streaming job refreshed between batch runs carry when and by which micro-batch; the
# batch run writes them null (it recomputes every row and supersedes the refreshed ones).
REFRESHED_AT = "refreshed_at"
REFRESH_BATCH = "refresh_batch"
REFRESH_FIELDS = (StructField(REFRESHED_AT, TimestampType(), True), StructField(REFRESH_BATCH, LongType(), True))

USER_IDX = "user_idx"  # stable integer ids (ALS needs ints); assigned once, never renumbered
ITEM_IDX = "item_idx"
FIRST_RUN_ID = "first_run_id"
INTERACTION_WEIGHT = "interaction_weight"  # decayed, capped sum of event weights of one user-item pair
FEATURES = "features"
HISTORY_ITEMS = "history_items"  # distinct items a user interacted with
HISTORY_USERS = "history_users"  # distinct users who interacted with an item
FACTOR_SOURCE = "factor_source"
INTEREST_SCORE = "interest_score"
OBSERVED_SHARE = "observed_share"
IS_NEW_CATEGORY = "is_new_category"
INTEREST_RANK = "interest_rank"
SCORE_SOURCE = "score_source"

# where an item's factors come from: trained by ALS, or the centroid of the nearest category with ALS items
FACTOR_ALS, FACTOR_CATEGORY_CENTROID, FACTOR_GLOBAL_CENTROID = "als", "category_centroid", "global_centroid"
FACTOR_SOURCES = (FACTOR_ALS, FACTOR_CATEGORY_CENTROID, FACTOR_GLOBAL_CENTROID)
# where a user x category interest score comes from
SCORE_ALS, SCORE_CENTROID, SCORE_POPULARITY = "als", "category_centroid", "popularity_fallback"
SCORE_SOURCES = (SCORE_ALS, SCORE_CENTROID, SCORE_POPULARITY)

USER_ID_MAP_SCHEMA = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(USER_IDX, IntegerType(), False),
        StructField(FIRST_RUN_ID, StringType(), False),
    ]
)
ITEM_ID_MAP_SCHEMA = StructType(
    [
        StructField(ITEM_ID, StringType(), False),
        StructField(ITEM_IDX, IntegerType(), False),
        StructField(FIRST_RUN_ID, StringType(), False),
    ]
)
USER_FACTORS_SCHEMA = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(USER_IDX, IntegerType(), False),
        StructField(FEATURES, ArrayType(FloatType()), False),
        StructField(HISTORY_ITEMS, IntegerType(), False),
        StructField(RUN_ID, StringType(), False),
    ]
)
ITEM_FACTORS_SCHEMA = StructType(
    [
        StructField(ITEM_ID, StringType(), False),
        StructField(ITEM_IDX, IntegerType(), False),
        StructField(FEATURES, ArrayType(FloatType()), False),
        StructField(FACTOR_SOURCE, StringType(), False),
        StructField(HISTORY_USERS, IntegerType(), False),
        StructField(RUN_ID, StringType(), False),
    ]
)
USER_CATEGORY_INTEREST_SCHEMA = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(CATEGORY_ID, StringType(), False),
        StructField(INTEREST_SCORE, DoubleType(), False),
        StructField(OBSERVED_SHARE, DoubleType(), False),
        StructField(IS_NEW_CATEGORY, BooleanType(), False),
        StructField(INTEREST_RANK, IntegerType(), False),
        StructField(SCORE_SOURCE, StringType(), False),
        StructField(RUN_ID, StringType(), False),
        *REFRESH_FIELDS,
    ]
)

MODEL_PATH = "model_path"
MODE = "mode"  # train | tune
TRAINED_AT = "trained_at"
RANK_FACTORS = "rank_factors"  # ALS rank (latent factors); not `rank`, which the SQL function owns
REG_PARAM = "reg_param"
ALPHA = "alpha"
MAX_ITER = "max_iter"
N_USERS = "n_users"
N_ITEMS = "n_items"
N_INTERACTIONS = "n_interactions"
DENSITY = "density"
TRAINING_SECONDS = "training_seconds"
PARAMS_JSON = "params_json"  # every ALS parameter used
METRICS_JSON = "metrics_json"  # the chosen combination's holdout metrics (tune mode), else null
TUNING_JSON = "tuning_json"  # every grid combination with its metrics (tune mode), else null
INTEREST_MODEL_RUNS_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(TRAINED_AT, TimestampType(), False),
        StructField(MODE, StringType(), False),
        StructField(MODEL_PATH, StringType(), False),
        StructField(RANK_FACTORS, IntegerType(), False),
        StructField(REG_PARAM, DoubleType(), False),
        StructField(ALPHA, DoubleType(), False),
        StructField(MAX_ITER, IntegerType(), False),
        StructField(N_USERS, LongType(), False),
        StructField(N_ITEMS, LongType(), False),
        StructField(N_INTERACTIONS, LongType(), False),
        StructField(DENSITY, DoubleType(), False),
        StructField(TRAINING_SECONDS, DoubleType(), False),
        StructField(PARAMS_JSON, StringType(), False),
        StructField(METRICS_JSON, StringType(), True),
        StructField(TUNING_JSON, StringType(), True),
    ]
)

LIST_TYPE = "list_type"  # item | user
# ranker_runs: one row per run and list kind (item | user) of the train-ranker stage
SCORER = "scorer"  # what scores the lists: learnt | configured | popularity (lists.SCORERS)
SCORER_REASON = "scorer_reason"  # why the guard chose it, in words
LABEL_WINDOW = "label_window"  # how the labels were held out: last_basket | days
TRAIN_KEYS = "train_keys"
TRAIN_ROWS = "train_rows"
TRAIN_POSITIVES = "train_positives"
VALIDATION_KEYS = "validation_keys"
QUALITY_JSON = "quality_json"  # HitRate@k and NDCG@k of each scorer on the validation keys
IMPORTANCES_JSON = "importances_json"  # each feature's share of the split gain
MODEL_TEXT = "model_text"  # the LightGBM model as text; null when no model was fitted
ABLATION_JSON = "ablation_json"  # validation figures without each feature group / candidate source, or null
RANKER_RUNS_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(TRAINED_AT, TimestampType(), False),
        StructField(LIST_TYPE, StringType(), False),
        StructField(SCORER, StringType(), False),
        StructField(SCORER_REASON, StringType(), False),
        StructField(LABEL_WINDOW, StringType(), False),
        StructField(TRAIN_KEYS, LongType(), False),
        StructField(TRAIN_ROWS, LongType(), False),
        StructField(TRAIN_POSITIVES, LongType(), False),
        StructField(VALIDATION_KEYS, LongType(), False),
        StructField(TRAINING_SECONDS, DoubleType(), False),
        StructField(QUALITY_JSON, StringType(), True),
        StructField(IMPORTANCES_JSON, StringType(), True),
        StructField(PARAMS_JSON, StringType(), False),
        StructField(MODEL_TEXT, StringType(), True),
        StructField(ABLATION_JSON, StringType(), True),
    ]
)

# --- cross-sell outputs ---------------------------------------------------------------------------
ANCHOR_ITEM_ID = "anchor_item_id"
ANCHOR_CATEGORY = "anchor_category"
ITEM_CATEGORY = "item_category"
REASON_CODES = "reason_codes"
SOURCE_NAME = "source"
SUPPORT = "support"
CONTENT_SCORE = "content_score"
SEMANTIC_SCORE = "semantic_score"
COOCCURRENCE_SCORE = "cooccurrence_score"
LIFT_SCORE = "lift_score"
CATEGORY_AFFINITY_SCORE = "category_affinity_score"
ALS_SCORE = "als_score"
INTEREST_COMPONENT = "interest_component"
POPULARITY_SCORE = "popularity_score"
# candidate frames (between candidate generation and the list tail in crosssell/lists.py)
ITEM_PRICE = "item_price"
ANCHOR_PRICE = "anchor_price"
ITEM_IN_STOCK = "item_in_stock"
ITEM_TITLE = "item_title"
ANCHOR_TITLE = "anchor_title"
ITEM_USERS = "item_users"  # distinct users of the item
CATEGORY_USERS = "category_users"  # distinct users behind a category pair (category_affinity.co_users)
CATEGORY_CONFIDENCE = "category_confidence"  # share of the anchor category's baskets holding the item's category
POPULARITY = "popularity"  # log-scaled distinct users in [0, 1]
POPULARITY_RANK = "popularity_rank"  # rank within the item's category
BASKET_SHARE = "basket_share"  # share of all baskets that hold the item
BASKETS_PER_BUYER = "baskets_per_buyer"  # baskets holding the item per shopper who bought it (repeat purchase)
CATEGORY_SHARE = "category_share"  # the category's share of item-user interactions
SOURCE_PRIORITY = "source_priority"  # evidence tier of the source (lower is better)
IS_OWNED = "is_owned"  # user lists: the user bought the item within rules.exclude_owned_days
# values of the `source` column: where a candidate came from
NEIGHBOUR, BASKET, INTEREST, AFFINITY, POPULAR = "neighbour", "basket", "interest", "category_affinity", "popular"
SEMANTIC_NEIGHBOUR = "semantic_neighbour"  # an item whose text embedding is near the anchor's (similarity.semantic)
ALS_NEIGHBOUR = "als_neighbour"  # an item whose ALS factors are nearest the anchor's (bought by the same shoppers)
CROSS_SELL_SOURCES = (NEIGHBOUR, BASKET, INTEREST, ALS_NEIGHBOUR, AFFINITY, POPULAR)

ITEM_CROSS_SELL_SCHEMA = StructType(
    [
        StructField(ANCHOR_ITEM_ID, StringType(), False),
        StructField(RANK, IntegerType(), False),
        StructField(ITEM_ID, StringType(), False),
        StructField(SCORE, DoubleType(), False),
        StructField(ANCHOR_CATEGORY, StringType(), False),
        StructField(ITEM_CATEGORY, StringType(), False),
        StructField(SOURCE_NAME, StringType(), False),
        StructField(REASON_CODES, ArrayType(StringType()), False),
        StructField(REASON, StringType(), False),
        StructField(SUPPORT, LongType(), True),
        StructField(CONTENT_SCORE, DoubleType(), False),
        StructField(COOCCURRENCE_SCORE, DoubleType(), False),
        StructField(LIFT_SCORE, DoubleType(), False),
        StructField(CATEGORY_AFFINITY_SCORE, DoubleType(), False),
        StructField(ALS_SCORE, DoubleType(), False),
        StructField(POPULARITY_SCORE, DoubleType(), False),
        StructField(RUN_ID, StringType(), False),
    ]
)
USER_CROSS_SELL_SCHEMA = StructType(
    [
        StructField(USER_ID, StringType(), False),
        StructField(RANK, IntegerType(), False),
        StructField(ITEM_ID, StringType(), False),
        StructField(SCORE, DoubleType(), False),
        StructField(ITEM_CATEGORY, StringType(), False),
        StructField(ANCHOR_ITEM_ID, StringType(), True),
        StructField(SOURCE_NAME, StringType(), False),
        StructField(REASON_CODES, ArrayType(StringType()), False),
        StructField(REASON, StringType(), False),
        StructField(SUPPORT, LongType(), True),
        StructField(ALS_SCORE, DoubleType(), False),
        StructField(INTEREST_COMPONENT, DoubleType(), False),
        StructField(COOCCURRENCE_SCORE, DoubleType(), False),
        StructField(POPULARITY_SCORE, DoubleType(), False),
        StructField(IS_NEW_CATEGORY, BooleanType(), False),
        StructField(RUN_ID, StringType(), False),
        *REFRESH_FIELDS,
    ]
)

LIST_KEY = "list_key"  # the anchor item or user
ITEMS_FOUND = "items_found"
LIST_STATUS = "status"  # full | partial | empty
CROSS_SELL_GAPS_SCHEMA = StructType(
    [
        StructField(LIST_TYPE, StringType(), False),
        StructField(LIST_KEY, StringType(), False),
        StructField(ITEMS_FOUND, IntegerType(), False),
        StructField(LIST_STATUS, StringType(), False),
        StructField(RUN_ID, StringType(), False),
    ]
)
SLOTS = "slots"
SHARE_OF_SLOTS = "share_of_slots"
SHARE_OF_CATALOGUE = "share_of_catalogue"
EXPOSURE_RATIO = "exposure_ratio"
CATEGORY_EXPOSURE_SCHEMA = StructType(
    [
        StructField(LIST_TYPE, StringType(), False),
        StructField(ITEM_CATEGORY, StringType(), False),
        StructField(CATEGORY_NAME, StringType(), True),
        StructField(SLOTS, LongType(), False),
        StructField(SHARE_OF_SLOTS, DoubleType(), False),
        StructField(SHARE_OF_CATALOGUE, DoubleType(), False),
        StructField(EXPOSURE_RATIO, DoubleType(), True),
        StructField(RUN_ID, StringType(), False),
    ]
)

# --- evaluation outputs ---------------------------------------------------------------------------
EVALUATED_AT = "evaluated_at"
CONFIG_HASH = "config_hash"  # sha256 prefix of every setting that shapes the lists (not paths or Spark)
DATASET = "dataset"  # input.source (and path) the run was judged on
CUT_TS = "cut_ts"  # training = events before this instant; held out = at or after it
TASK = "task"  # anchor | user | planted_content | planted_behavioural
METHOD = "method"  # pipeline or a baseline
METRIC = "metric"
K = "k"
EVAL_CATEGORY = "category"  # null: the whole task; else a per-category row (hit rate of that category)
VALUE = "value"
QUERIES = "queries"  # queries behind the value
EVALUATION_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(EVALUATED_AT, TimestampType(), False),
        StructField(CONFIG_HASH, StringType(), False),
        StructField(DATASET, StringType(), False),
        StructField(CUT_TS, TimestampType(), False),
        StructField(TASK, StringType(), False),
        StructField(METHOD, StringType(), False),
        StructField(METRIC, StringType(), False),
        StructField(K, IntegerType(), False),
        StructField(EVAL_CATEGORY, StringType(), True),
        StructField(VALUE, DoubleType(), False),
        StructField(QUERIES, LongType(), True),
    ]
)

# --- privacy audit tables (crosssell_spark/privacy) ---------------------------------------------
RECORDED_AT = "recorded_at"
MECHANISM = "mechanism"
EPSILON = "epsilon"
DELTA = "delta"
DP_PARAMETERS = "parameters"  # contribution bounds, noise scales, selection delta, seeded (1/0)
PRIVACY_LEDGER_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(RECORDED_AT, TimestampType(), False),
        StructField(TABLE_NAME, StringType(), False),
        StructField(MECHANISM, StringType(), False),
        StructField(EPSILON, DoubleType(), False),
        StructField(DELTA, DoubleType(), False),
        StructField(DP_PARAMETERS, MapType(StringType(), DoubleType()), True),
    ]
)
PSEUDONYM = "pseudonym"  # HMAC-SHA256 of the forgotten user's id: never the raw id
FORGOTTEN_AT = "forgotten_at"
ROWS_DELETED = "rows_deleted"
TABLE_VERSION = "table_version"
FORGET_LOG_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(PSEUDONYM, StringType(), False),
        StructField(FORGOTTEN_AT, TimestampType(), False),
        StructField(TABLE_NAME, StringType(), False),
        StructField(ROWS_DELETED, LongType(), False),
        StructField(TABLE_VERSION, LongType(), True),  # the table's version after the delete; null: nothing deleted
    ]
)
