"""The run report page: what it shows, that it escapes what the data holds, and that it stands alone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from crosssell_spark import cli, insights
from crosssell_spark.run import Run, StageResult, load_stage_record, save_stage_record
from crosssell_spark.run_report import ReportData, render_report
from tests.conftest import TEST_OVERRIDES

PNG = "data:image/png;base64,iVBORw0KGgo="


def review_row(anchor: str, rank: int, title: str, reason: str) -> dict[str, object]:
    return {
        "anchor_item_id": anchor, "anchor_title": "Spaghetti 500g", "anchor_category_name": "Pasta", "rank": rank,
        "item_id": f"i{rank}", "item_title": title, "item_category_name": "Sauces", "score": 0.5 / rank,
        "source": "neighbour", "reason_codes": ["BOUGHT_TOGETHER"], "reason": reason, "support": 7,
    }  # fmt: skip


def report_data(**changes: object) -> ReportData:
    stages = [
        {"stage": "similarity", "run_id": "r1", "status": "published", "recorded_at": "2026-12-06 04:00:00",
         "versions": {"item_similarity": 3}, "seconds": 12.5,
         "metrics": {"behavioural": {"item_pairs_published": 92, "item_pairs_withheld_by_floor": 2533}}},
        {"stage": "candidates", "run_id": "r1", "status": "publishing", "recorded_at": "2026-12-06 04:01:00",
         "versions": {"item_cross_sell": 2}},
    ]  # fmt: skip
    data = ReportData(
        root="/lake",
        run_id="r1",
        generated_at=datetime(2026, 12, 6, 4, 2),
        pseudonymised=False,
        min_users=5,
        stages=stages,
        item_lists=pd.DataFrame(
            [
                review_row("a1", 1, "<script>alert(1)</script> sauce", "bought together by 7 shoppers"),
                review_row("a1", 2, "Parmesan", "popular in Cheese"),
            ]
        ),
        user_lists=pd.DataFrame(
            [
                {
                    "user_id": "U0000042",
                    "rank": 1,
                    "item_id": "i9",
                    "item_title": "Basil",
                    "item_category_name": "Herbs",
                    "score": 0.3,
                    "source": "category_affinity",
                    "is_new_category": True,
                    "reason_codes": ["NEW_CATEGORY"],
                    "reason": "new to you: Herbs",
                    "anchor_item_id": None,
                }
            ]
        ),
        sources=pd.DataFrame(
            {
                "list_type": ["item", "item"],
                "source": ["neighbour", "popular"],
                "slots": [3, 1],
                "share_of_slots": [0.75, 0.25],
            }
        ),
        reasons=pd.DataFrame({"list_type": ["item"], "reason_code": ["BOUGHT_TOGETHER"], "count": [3]}),
        gaps=pd.DataFrame({"list_type": ["item"], "status": ["partial"], "lists": [4]}),
        gap_examples=pd.DataFrame(
            {"list_type": ["item"], "list_key": ["a7"], "items_found": [2], "status": ["partial"]}
        ),
        quality=pd.DataFrame(
            {
                "stage": ["similarity"],
                "table_name": ["item_similarity"],
                "expectations": [10],
                "passed": [9],
                "failed_critical": [0],
                "failed_warning": [1],
            }
        ),
        quality_failures=pd.DataFrame(
            {
                "stage": ["similarity"],
                "table_name": ["item_similarity"],
                "expectation": ["expect_x"],
                "severity": ["warning"],
                "description": ["lift < 50"],
                "unexpected_count": [2],
            }
        ),
        ranker=pd.DataFrame({"list_type": ["item"], "scorer": ["learnt"], "scorer_reason": ["beats both"]}),
        evaluation=pd.DataFrame(
            {"task": ["anchor"], "method": ["pipeline"], "hit_rate": [0.48], "ndcg": [0.31], "queries": [965]}
        ),
        evaluation_run="e1",
        images={"share of list slots by source": PNG, "evaluation e1: metrics per method": PNG},
    )
    return ReportData(**{**data.__dict__, **changes})


def test_the_page_shows_every_section_and_escapes_what_the_data_holds() -> None:
    page = render_report(report_data())
    headings = re.findall(r"<h2 id=\"[a-z-]+\">([^<]+)</h2>", page)
    assert headings == [
        "Stages", "Example item lists", "Example user lists", "Sources and reasons", "Short lists",
        "Pairs withheld by the minimum crowd", "Quality gate", "Learnt ranker", "Offline evaluation", "Stage metrics",
    ]  # fmt: skip
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; sauce" in page  # titles are data, not HTML
    assert "bought together by 7 shoppers" in page and "Spaghetti 500g" in page and "new to you: Herbs" in page
    assert 'item pairs withheld by floor</th><td class="num">2533' in page and "at least 5 distinct shoppers" in page
    assert "12.5" in page and "incomplete" in page  # seconds from the record; the unfinished publish is flagged
    assert "Failed expectations" in page and "lift &lt; 50" in page
    assert "as in the input (pseudonymisation off)" in page and "U0000042" in page


def test_the_page_stands_alone_images_inline_no_scripts_no_outside_links() -> None:
    page = render_report(report_data())
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count("<img ") == 2


def test_an_empty_lakehouse_view_says_so_instead_of_failing() -> None:
    page = render_report(
        report_data(
            stages=[],
            gaps=pd.DataFrame(),
            quality=pd.DataFrame(),
            ranker=pd.DataFrame(),
            evaluation=pd.DataFrame(),
            evaluation_run=None,
            images={},
        )
    )
    assert "Nothing published yet" in page and "Every list is full" in page and "No evaluation yet" in page
    assert "pseudonyms (privacy.pseudonymise is on)" in render_report(report_data(pseudonymised=True))


def test_a_stage_record_round_trips_and_a_missing_one_is_none(tmp_path: Path) -> None:
    run = Run.start()
    result = StageResult("similarity", {"item_similarity": 4}, {"behavioural": {"baskets": 10}, "when": datetime.now()})
    result.seconds = 3.14159
    path = save_stage_record(str(tmp_path), run, result)
    assert path == tmp_path / "_reports" / "stage_runs" / run.run_id / "similarity.json"
    record = load_stage_record(str(tmp_path), run.run_id, "similarity")
    assert record is not None and record["seconds"] == 3.1 and record["published"] == {"item_similarity": 4}
    assert record["metrics"]["behavioural"] == {"baskets": 10} and isinstance(record["metrics"]["when"], str)
    assert load_stage_record(str(tmp_path), run.run_id, "candidates") is None
    json.loads(path.read_text())  # plain JSON, readable without the package


def test_sample_keys_is_a_fixed_spread_sample(spark: SparkSession) -> None:
    lists = spark.createDataFrame(
        [(f"a{i:03d}", r) for i in range(200) for r in (1, 2)], "anchor_item_id string, rank int"
    )
    first = insights.sample_keys(lists, "anchor_item_id", 5, "seed-1")
    assert len(set(first)) == 5 and first == insights.sample_keys(lists, "anchor_item_id", 5, "seed-1")
    assert first != [f"a{i:03d}" for i in range(5)]  # not simply the first ids
    assert first != insights.sample_keys(lists, "anchor_item_id", 5, "seed-2")


def test_report_before_any_run_is_an_input_error(spark: SparkSession, tmp_path: Path, capsys) -> None:
    settings = [*TEST_OVERRIDES, f"lakehouse.root={tmp_path / 'lh'}"]
    assert cli.main(["report", *[a for s in settings for a in ("--set", s)]]) == cli.EXIT_INPUT_ERROR
    assert "no published item_cross_sell" in capsys.readouterr().err


@pytest.mark.parametrize("list_type", ["item", "user"])
def test_source_counts_share_per_list_type(spark: SparkSession, list_type: str) -> None:
    rows = spark.createDataFrame([("neighbour",), ("neighbour",), ("popular",)], "source string")
    other = spark.createDataFrame([("popular",)], "source string")
    item, user = (rows, other) if list_type == "item" else (other, rows)
    counted = insights.source_counts(item, user).toPandas().set_index(["list_type", "source"])
    assert counted.loc[(list_type, "neighbour"), "slots"] == 2
    assert counted.loc[(list_type, "neighbour"), "share_of_slots"] == pytest.approx(2 / 3)
    assert counted.xs(list_type)["share_of_slots"].sum() == pytest.approx(1.0)


def test_forget_deletes_the_run_report_pages_that_show_a_forgotten_user(tmp_path: Path) -> None:
    from crosssell_spark.ops.forget import remove_run_reports

    runs = tmp_path / "_reports" / "runs"
    pages = {
        "r1": "<h3>User 9f2c41</h3>",  # the user's list
        "r2": "<td>9f2c41</td>",  # a short-list row keyed by the user
        "r3": "<h3>User 9f2c41aa</h3><td>x9f2c41</td><td>9f2c41-b</td>",  # other ids that contain it
    }
    for run_id, html in pages.items():
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "report.html").write_text(html)
    assert remove_run_reports(str(tmp_path), ["U0000042", "9f2c41"]) == ["r1", "r2"]
    assert [p.parent.name for p in runs.glob("*/report.html")] == ["r3"]
    assert remove_run_reports(str(tmp_path / "nothing-yet"), ["9f2c41"]) == []
