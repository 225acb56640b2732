"""`crosssell report`: one self-contained HTML page on the published lists and the runs behind them.

Written to `<root>/_reports/runs/<run_id>/report.html` (run_id: the candidates run whose lists it
shows). Images are inline (data: URIs) and the page has no scripts and no outside links, so it
opens from disk, as a mail attachment or in a notebook's `displayHTML`. It shows example lists of
sampled anchors and users, the mix of sources and reasons, short lists, the pairs the minimum crowd
withheld, stage times, quality results, the learnt ranker's decision and the latest evaluation.
User ids appear as the tables hold them: pseudonyms when `privacy.pseudonymise` is on.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.evaluation.metrics import HIT_RATE, NDCG
from crosssell_spark.evaluation.report import (
    CATEGORY_HITS,
    METRIC_BARS,
    PIPELINE,
    REPORT_FOLDER,
    SCORE_DISTRIBUTIONS,
    figure,
    save_figure,
)
from crosssell_spark.insights import (
    LIST_TYPE,
    item_list_review,
    reason_code_counts,
    sample_keys,
    source_counts,
    strongest_anchors,
    user_list_review,
)
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import RUN_REPORT_PAGE, RUN_REPORTS, load_stage_record, reports_dir
from crosssell_spark.schemas import (
    ANCHOR_ITEM_ID,
    DESCRIPTION,
    EVAL_CATEGORY,
    EVALUATED_AT,
    EXPECTATION,
    ITEMS_FOUND,
    LIST_KEY,
    LIST_STATUS,
    METHOD,
    METRIC,
    QUERIES,
    RUN_ID,
    SCORER,
    SCORER_REASON,
    SEVERITY,
    SHARE_OF_SLOTS,
    SOURCE_NAME,
    SUCCESS,
    TABLE_NAME,
    TASK,
    TRAINED_AT,
    UNEXPECTED_COUNT,
    USER_ID,
    VALUE,
)
from crosssell_spark.tables import (
    CATEGORIES,
    CROSS_SELL_GAPS,
    DQ_RESULTS,
    EVALUATION,
    ITEM_CROSS_SELL,
    ITEMS_CLEAN,
    RANKER_RUNS,
    USER_CROSS_SELL,
)

STRONGEST_ANCHORS, SAMPLED_ANCHORS, SAMPLED_USERS = 2, 3, 3
GAP_EXAMPLES = 10
EVALUATION_PLOTS = {
    METRIC_BARS: "metrics per method",
    CATEGORY_HITS: "hit rate per target category",
    SCORE_DISTRIBUTIONS: "score distributions of hits and misses",
}


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, collected from the lakehouse (small pandas frames)."""

    root: str
    run_id: str  # the candidates run whose lists the page shows
    generated_at: datetime
    pseudonymised: bool
    min_users: int
    stages: list[dict[str, Any]]  # each stage's latest published set, with its run's record if kept
    item_lists: pd.DataFrame  # item_list_review rows of the sampled anchors
    user_lists: pd.DataFrame  # user_list_review rows of the sampled users
    sources: pd.DataFrame  # list_type, source, slots, share_of_slots
    reasons: pd.DataFrame  # list_type, reason_code, count
    gaps: pd.DataFrame  # list_type, status, lists
    gap_examples: pd.DataFrame  # list_type, list_key, items_found, status
    quality: pd.DataFrame  # stage, table_name, expectations, passed, failed_critical, failed_warning
    quality_failures: pd.DataFrame  # the failed expectations of those runs
    ranker: pd.DataFrame  # list_type, scorer, scorer_reason
    evaluation: pd.DataFrame  # task, method, hit_rate, ndcg, queries (the latest evaluate run)
    evaluation_run: str | None
    images: dict[str, str]  # caption -> data: URI


def _pandas(df: DataFrame) -> pd.DataFrame:
    frame: pd.DataFrame = df.toPandas()
    return frame


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _source_mix_plot(sources: pd.DataFrame) -> bytes:
    """Horizontal bars: share of list slots per source, one panel per list type."""
    types = sorted(sources[LIST_TYPE].unique()) or ["item"]
    fig, axes = figure(1, len(types), (5.5 * len(types), 3.2))
    for ax, list_type in zip(axes[0], types, strict=True):
        rows = sources[sources[LIST_TYPE] == list_type].sort_values(SHARE_OF_SLOTS)
        ax.barh(rows[SOURCE_NAME], rows[SHARE_OF_SLOTS], color="#4c72b0")
        ax.set_title(f"{list_type} lists: share of slots by source")
        ax.set_xlabel("share of slots")
        ax.set_xlim(0, 1)
    buffer = io.BytesIO()
    save_figure(fig, buffer)
    return buffer.getvalue()


def _quality(lake: Lakehouse, stages: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per stage and table: expectations checked by the run behind the table's latest publish, passed
    and failed; and the failures."""
    checked = [(s["run_id"], table, s["stage"], i) for i, s in enumerate(stages) for table in s["versions"]]
    if not checked or not lake.exists(DQ_RESULTS.name):
        return pd.DataFrame(), pd.DataFrame()
    keys = lake.spark.createDataFrame(checked, f"{RUN_ID} string, {TABLE_NAME} string, stage string, _order int")
    results = lake.read(DQ_RESULTS.name).join(F.broadcast(keys), [RUN_ID, TABLE_NAME])
    failed = ~F.col(SUCCESS)
    summary = (
        results.groupBy("_order", "stage", TABLE_NAME)
        .agg(
            F.count(F.lit(1)).alias("expectations"),
            F.sum(F.col(SUCCESS).cast("int")).alias("passed"),
            F.sum((failed & (F.col(SEVERITY) == "critical")).cast("int")).alias("failed_critical"),
            F.sum((failed & (F.col(SEVERITY) != "critical")).cast("int")).alias("failed_warning"),
        )
        .orderBy("_order", TABLE_NAME)
        .drop("_order")
    )  # in stage order
    failures = results.where(failed).orderBy("_order", TABLE_NAME, EXPECTATION)
    columns = ("stage", TABLE_NAME, EXPECTATION, SEVERITY, DESCRIPTION, UNEXPECTED_COUNT)
    return _pandas(summary), _pandas(failures.select(*columns))


def _short_lists(lake: Lakehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lists shorter than k per list type and status, and the shortest few."""
    if not lake.exists(CROSS_SELL_GAPS.name):
        return pd.DataFrame(), pd.DataFrame()
    gaps = lake.read(CROSS_SELL_GAPS.name)
    counts = gaps.groupBy(LIST_TYPE, LIST_STATUS).agg(F.count(F.lit(1)).alias("lists")).orderBy(LIST_TYPE, LIST_STATUS)
    shortest = gaps.orderBy(ITEMS_FOUND, LIST_TYPE, LIST_KEY).select(LIST_TYPE, LIST_KEY, ITEMS_FOUND, LIST_STATUS)
    return _pandas(counts), _pandas(shortest.limit(GAP_EXAMPLES))


def _ranker(lake: Lakehouse) -> pd.DataFrame:
    """What scores each list kind after the newest train-ranker run, and why."""
    runs = lake.read(RANKER_RUNS.name) if lake.exists(RANKER_RUNS.name) else None
    newest = runs.orderBy(F.col(TRAINED_AT).desc()).select(RUN_ID).first() if runs is not None else None
    if runs is None or newest is None:
        return pd.DataFrame()
    decisions = runs.where(F.col(RUN_ID) == newest[RUN_ID]).select(LIST_TYPE, SCORER, SCORER_REASON)
    return _pandas(decisions.orderBy(LIST_TYPE))


def _evaluation(lake: Lakehouse) -> tuple[pd.DataFrame, str | None]:
    """The newest evaluate run's headline figures: task x method with HitRate and NDCG at k."""
    if not lake.exists(EVALUATION.name):
        return pd.DataFrame(), None
    figures = lake.read(EVALUATION.name)
    newest = figures.orderBy(F.col(EVALUATED_AT).desc()).select(RUN_ID).limit(1).collect()
    if not newest:
        return pd.DataFrame(), None
    run_id = str(newest[0][RUN_ID])
    rows = _pandas(
        figures.where(
            (F.col(RUN_ID) == run_id) & F.col(EVAL_CATEGORY).isNull() & F.col(METRIC).isin(HIT_RATE, NDCG)
        ).select(TASK, METHOD, METRIC, VALUE, QUERIES)
    )
    wide = rows.pivot_table(index=[TASK, METHOD], columns=METRIC, values=VALUE, aggfunc="first").reset_index()
    queries = rows.groupby([TASK, METHOD])[QUERIES].max().reset_index()
    table = wide.merge(queries, on=[TASK, METHOD])
    order = table[TASK].map({"anchor": 0, "user": 1}).fillna(2), table[METHOD] != PIPELINE
    table = table.assign(_t=order[0], _m=order[1]).sort_values(["_t", TASK, "_m", METHOD]).drop(columns=["_t", "_m"])
    return table, run_id


def collect_report(spark: SparkSession, config: AppConfig) -> ReportData:
    """Read what the page shows from the published tables and the stage records."""
    lake = Lakehouse(spark, config.lakehouse)
    missing = [t.name for t in (ITEM_CROSS_SELL, USER_CROSS_SELL, ITEMS_CLEAN, CATEGORIES) if not lake.exists(t.name)]
    if missing:
        raise FileNotFoundError(f"no published {', '.join(missing)} under {lake.root}: run the pipeline first")
    stages = [
        {"stage": s.stage, "run_id": s.run_id, "status": s.status, "recorded_at": f"{s.recorded_at:%Y-%m-%d %H:%M:%S}",
         "versions": s.versions, **(load_stage_record(lake.root, s.run_id, s.stage) or {})}
        for s in lake.latest_sets()
    ]  # fmt: skip
    item_lists, user_lists = lake.read(ITEM_CROSS_SELL.name), lake.read(USER_CROSS_SELL.name)
    items, categories = lake.read(ITEMS_CLEAN.name), lake.read(CATEGORIES.name)
    run_id = str(item_lists.select(F.max(RUN_ID)).first()[0])  # type: ignore[index]
    anchors = strongest_anchors(item_lists, STRONGEST_ANCHORS)
    anchors += [a for a in sample_keys(item_lists, ANCHOR_ITEM_ID, SAMPLED_ANCHORS + len(anchors), run_id)
                if a not in anchors][:SAMPLED_ANCHORS]  # fmt: skip
    users = sample_keys(user_lists, USER_ID, SAMPLED_USERS, run_id)
    sources = _pandas(source_counts(item_lists, user_lists))
    gaps, examples = _short_lists(lake)
    quality, failures = _quality(lake, stages)
    evaluation, evaluation_run = _evaluation(lake)
    images = {"share of list slots by source": _data_uri(_source_mix_plot(sources))}
    if evaluation_run is not None:
        folder = reports_dir(lake.root, REPORT_FOLDER, evaluation_run)
        images |= {
            f"evaluation {evaluation_run}: {caption}": _data_uri((folder / name).read_bytes())
            for name, caption in EVALUATION_PLOTS.items()
            if (folder / name).is_file()
        }
    return ReportData(
        root=lake.root,
        run_id=run_id,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        pseudonymised=config.privacy.pseudonymise,
        min_users=config.similarity.cooccurrence.min_users,
        stages=stages,
        item_lists=_pandas(item_list_review(item_lists, items, categories, anchors)),
        user_lists=_pandas(user_list_review(user_lists, items, categories, users)),
        sources=sources,
        reasons=_pandas(reason_code_counts(item_lists, user_lists)),
        gaps=gaps,
        gap_examples=examples,
        quality=quality,
        quality_failures=failures,
        ranker=_ranker(lake),
        evaluation=evaluation,
        evaluation_run=evaluation_run,
        images=images,
    )


def _withheld(stages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The minimum crowd's figures from the similarity and candidates records."""
    metrics = {r["stage"]: r.get("metrics", {}) for r in stages}
    behavioural = metrics.get("similarity", {}).get("behavioural", {})
    shown = [(key.replace("_", " "), value) for key, value in behavioural.items() if "pairs" in key]
    shown += [
        (key.replace("_", " "), value) for key, value in metrics.get("candidates", {}).items() if "withheld" in key
    ]
    return shown


def _metric_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _lists_by_key(review: pd.DataFrame, key: str) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(str(k), rows.sort_values("rank").to_dict("records")) for k, rows in review.groupby(key, sort=True)]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>crosssell-spark run report {{ d.run_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; } .reason { color: #555; font-size: .85em; }
.fail { color: #b00020; font-weight: bold; } .note { color: #555; } img { max-width: 100%; }
</style></head><body>
{%- macro figures(prefix) %}{% for caption, uri in d.images.items() if caption.startswith(prefix) %}
<figure><img src="{{ uri }}" alt="{{ caption }}"><figcaption>{{ caption }}</figcaption></figure>
{%- endfor %}{% endmacro %}
<h1>crosssell-spark run report</h1>
<p>Lists of run <b>{{ d.run_id }}</b>; lakehouse <code>{{ d.root }}</code>; page written
{{ d.generated_at.strftime("%Y-%m-%d %H:%M") }} UTC. User ids:
{{ "pseudonyms (privacy.pseudonymise is on)" if d.pseudonymised else "as in the input (pseudonymisation off)" }}.</p>

<h2 id="stages">Stages</h2>
<p class="note">Each stage's latest publish (<code>published_sets</code>) and what its run reported.</p>
{% if d.stages %}<table>
<tr><th>stage</th><th>run</th><th>published (UTC)</th><th>seconds</th><th>tables (Delta version)</th></tr>
{% for s in d.stages %}<tr><td>{{ s.stage }}</td><td>{{ s.run_id }}</td>
<td>{{ s.recorded_at }}{% if s.status == "publishing" %} <span class="fail">incomplete</span>{% endif %}</td>
<td class="num">{{ "%.1f"|format(s.seconds) if s.seconds is defined else "" }}</td>
<td>{% for t, v in s.versions.items() %}{{ t }} v{{ v }}{{ ", " if not loop.last }}{% endfor %}</td>
</tr>{% endfor %}</table>
{% else %}<p class="note">Nothing published yet.</p>{% endif %}

<h2 id="item-lists">Example item lists</h2>
<p class="note">The {{ strongest }} anchors whose first item has the most support, then
{{ sampled }} sampled anchors.</p>
{% for anchor, rows in item_lists %}
<h3>{{ rows[0].anchor_title }} <span class="note">({{ anchor }}, {{ rows[0].anchor_category_name }})</span></h3>
<table><tr><th>rank</th><th>item</th><th>title</th><th>category</th><th>score</th><th>source</th><th>reason</th></tr>
{% for r in rows %}<tr><td class="num">{{ r.rank }}</td><td>{{ r.item_id }}</td><td>{{ r.item_title }}</td>
<td>{{ r.item_category_name }}</td><td class="num">{{ "%.4f"|format(r.score) }}</td><td>{{ r.source }}</td>
<td class="reason">{{ r.reason }}</td></tr>{% endfor %}</table>
{% else %}<p class="note">No item lists.</p>{% endfor %}

<h2 id="user-lists">Example user lists</h2>
{% for user, rows in user_lists %}
<h3>User {{ user }}</h3>
<table><tr><th>rank</th><th>item</th><th>title</th><th>category</th><th>new category</th><th>score</th>
<th>source</th><th>reason</th></tr>
{% for r in rows %}<tr><td class="num">{{ r.rank }}</td><td>{{ r.item_id }}</td><td>{{ r.item_title }}</td>
<td>{{ r.item_category_name }}</td><td>{{ "yes" if r.is_new_category else "no" }}</td>
<td class="num">{{ "%.4f"|format(r.score) }}</td><td>{{ r.source }}</td>
<td class="reason">{{ r.reason }}</td></tr>{% endfor %}</table>
{% else %}<p class="note">No user lists.</p>{% endfor %}

<h2 id="mix">Sources and reasons</h2>
{{ table(d.sources) }}
{{ figures("share") }}
{{ table(d.reasons) }}

<h2 id="short-lists">Short lists</h2>
{% if d.gaps.empty %}<p>Every list is full.</p>{% else %}{{ table(d.gaps) }}
<p class="note">The shortest {{ d.gap_examples|length }}:</p>{{ table(d.gap_examples) }}{% endif %}

<h2 id="withheld">Pairs withheld by the minimum crowd</h2>
<p>A behavioural pair is published only when at least {{ d.min_users }} distinct shoppers are behind it
(<code>similarity.cooccurrence.min_users</code>).</p>
{% if withheld %}<table>{% for name, value in withheld %}
<tr><th>{{ name }}</th><td class="num">{{ value }}</td></tr>{% endfor %}</table>
{% else %}<p class="note">No record of the similarity stage.</p>{% endif %}

<h2 id="quality">Quality gate</h2>
{% if d.quality.empty %}<p class="note">No quality results for these runs.</p>{% else %}{{ table(d.quality) }}
{% if d.quality_failures.empty %}<p>Every expectation passed.</p>
{% else %}<p class="fail">Failed expectations:</p>{{ table(d.quality_failures) }}{% endif %}{% endif %}

<h2 id="ranker">Learnt ranker</h2>
{% if d.ranker.empty %}<p class="note">No train-ranker run.</p>{% else %}{{ table(d.ranker) }}{% endif %}

<h2 id="evaluation">Offline evaluation</h2>
{% if d.evaluation_run %}
<p>Newest <code>crosssell evaluate</code> run {{ d.evaluation_run }} (HitRate and NDCG at k):</p>
{{ table(d.evaluation) }}
{{ figures("evaluation") }}
{% else %}<p class="note">No evaluation yet: <code>crosssell evaluate</code> scores the lists against the
baselines on held-out data.</p>{% endif %}

<h2 id="metrics">Stage metrics</h2>
{% for s in d.stages if s.metrics %}<h3>{{ s.stage }}</h3><table>{% for key, value in s.metrics.items() %}
<tr><th>{{ key }}</th><td>{{ metric_text(value) }}</td></tr>{% endfor %}</table>{% endfor %}
</body></html>
"""


def _html_table(frame: pd.DataFrame) -> str:
    """A small frame as an HTML table (pandas escapes the cells)."""
    return str(frame.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4f}", border=0, na_rep=""))


def render_report(data: ReportData) -> str:
    """The page's HTML (pure: data in, text out)."""
    env = Environment(autoescape=True)
    env.globals |= {"table": lambda frame: _markup(_html_table(frame)), "metric_text": _metric_text}
    return env.from_string(_TEMPLATE).render(
        d=data,
        item_lists=_lists_by_key(data.item_lists, ANCHOR_ITEM_ID),
        user_lists=_lists_by_key(data.user_lists, USER_ID),
        withheld=_withheld(data.stages),
        strongest=STRONGEST_ANCHORS,
        sampled=SAMPLED_ANCHORS,
    )


def _markup(html: str) -> Markup:
    return Markup(html)  # pandas has escaped every cell


def write_run_report(spark: SparkSession, config: AppConfig) -> Path:
    """Collect, render and write the page; return its path."""
    data = collect_report(spark, config)
    path = reports_dir(data.root, RUN_REPORTS, data.run_id, RUN_REPORT_PAGE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
