"""The Airflow DAGs, loaded by a real Airflow (its own venv) and compared with the documented spark-submit lines.

tests/airflow/inspect_dags.py runs in .venv-airflow (created by `make airflow-venv`, or here when
missing): a DagBag of jobs/airflow, each task's templates rendered for one logical date, and the
command the provider's SparkSubmitHook builds from them. The commands must be the ones docs/cluster.md
and dist/submit.sh document, built by deploy/submit.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy import submit

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_VENV = ROOT / ".venv-airflow"
DS = "2026-11-28"
README_SETTINGS = submit.README_EXAMPLE  # the README's example deployment (/opt/crosssell, spark://spark-master:7077)
NIGHTLY_STAGES = {"clean": "clean", "train_interest": "train-interest", "similarity": "similarity"}
NIGHTLY_STAGES |= {"train_ranker": "train-ranker", "candidates": "candidates"}


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """.venv-airflow's Python; `make airflow-venv` creates it once (pinned by jobs/airflow/constraints.txt)."""
    if not (AIRFLOW_VENV / ".installed").exists():
        subprocess.run(["make", "-s", "airflow-venv"], cwd=ROOT, check=True)
    return AIRFLOW_VENV / "bin" / "python"


def _inspect(airflow_python: Path, tmp: Path, variables: dict[str, str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYSPARK", "SPARK"))}
    env.update(
        AIRFLOW_HOME=str(tmp / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW_CONN_SPARK_DEFAULT=json.dumps({"conn_type": "spark", "host": "spark://spark-master", "port": 7077}),
        **{f"AIRFLOW_VAR_{key.upper()}": value for key, value in variables.items()},
    )
    report = tmp / "report.json"
    done = subprocess.run(
        [str(airflow_python), str(ROOT / "tests/airflow/inspect_dags.py"), str(ROOT / "jobs/airflow"), DS, str(report)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:] + done.stdout[-3000:]
    return dict(json.loads(report.read_text()))


@pytest.fixture(scope="module")
def report(airflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What Airflow sees with the README's Variables set."""
    variables = {"crosssell_home": "/opt/crosssell", "crosssell_driver_python": "/opt/crosssell/env/bin/python"}
    return _inspect(airflow_python, tmp_path_factory.mktemp("airflow"), variables)


def test_dagbag_imports_without_errors(report: dict[str, Any]) -> None:
    assert report["import_errors"] == {}
    assert set(report["dags"]) == {"crosssell_nightly", "crosssell_maintenance"}


def test_nightly_task_order(report: dict[str, Any]) -> None:
    dag = report["dags"]["crosssell_nightly"]
    tasks = dag["tasks"]
    assert set(tasks) == set(NIGHTLY_STAGES)
    assert tasks["clean"]["upstream"] == []
    assert tasks["clean"]["downstream"] == ["similarity", "train_interest"]
    assert tasks["train_interest"]["upstream"] == tasks["similarity"]["upstream"] == ["clean"]
    assert tasks["train_ranker"]["upstream"] == ["similarity", "train_interest"]
    assert tasks["candidates"]["upstream"] == ["train_ranker"]
    assert tasks["candidates"]["downstream"] == []
    # a failed stage (quality gate) stops everything after it
    assert {t["trigger_rule"] for t in tasks.values()} == {"all_success"}
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert all(t["retries"] == 2 and t["retry_delay_seconds"] == 600 for t in tasks.values())
    assert all(t["operator"] == "CrossSellSubmitOperator" for t in tasks.values())


def test_maintenance_is_a_weekly_dag(report: dict[str, Any]) -> None:
    dag = report["dags"]["crosssell_maintenance"]
    assert list(dag["tasks"]) == ["maintain"]
    assert dag["catchup"] is False
    assert "0 6 * * 0" in dag["schedule"] or "Sun" in dag["schedule"], dag["schedule"]


def test_rendered_commands_are_the_documented_ones(report: dict[str, Any]) -> None:
    """Each task's spark-submit line == deploy/submit.py's == docs/cluster.md's, for its example settings."""
    documented = _readme_commands()
    rendered = {**report["dags"]["crosssell_nightly"]["tasks"], **report["dags"]["crosssell_maintenance"]["tasks"]}
    for task_id, stage in {**NIGHTLY_STAGES, "maintain": "maintain"}.items():
        expected = submit.submit_command(stage, README_SETTINGS, DS)
        assert rendered[task_id]["command"] == expected, task_id
        assert documented[submit.app_name(stage)] == expected, f"docs/cluster.md line of {stage}"
    assert "--run-date" in expected and expected[expected.index("--run-date") + 1] == DS


def test_defaults_without_variables(airflow_python: Path, tmp_path: Path) -> None:
    """No Variables set: /opt/crosssell and python3, still the same line as deploy/submit.py builds."""
    tasks = _inspect(airflow_python, tmp_path, {})["dags"]["crosssell_nightly"]["tasks"]
    defaults = submit.SubmitSettings(master="spark://spark-master:7077", home="/opt/crosssell", version="0.1.0")
    assert tasks["clean"]["command"] == submit.submit_command("clean", defaults, DS)


def test_submit_script_prints_the_same_commands(report: dict[str, Any], tmp_path: Path) -> None:
    """dist/submit.sh (what `make package` writes; rebuilt here from the same builder) gives the same lines."""
    from deploy.package import write_submit_script

    script = write_submit_script(tmp_path, "0.1.0")
    env = {
        **os.environ, "DRY_RUN": "1", "SPARK_MASTER": README_SETTINGS.master, "CROSSSELL_HOME": README_SETTINGS.home,
        "CROSSSELL_CONF": README_SETTINGS.overlay_path, "DRIVER_PYTHON": README_SETTINGS.driver_python,
    }  # fmt: skip
    tasks = report["dags"]["crosssell_nightly"]["tasks"]
    for task_id, stage in NIGHTLY_STAGES.items():
        out = subprocess.run(
            ["bash", str(script), stage, "--run-date", DS], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert shlex.split(out) == tasks[task_id]["command"]
    dist_script = ROOT / "dist" / "submit.sh"
    if dist_script.exists():  # built by make package / make test-cluster: a stale copy must not drift
        assert dist_script.read_text() == script.read_text()


def _readme_commands() -> dict[str, list[str]]:
    """The spark-submit lines documented in docs/cluster.md, by --name."""
    text = (ROOT / "docs" / "cluster.md").read_text()
    block = re.search(r"<!-- submit-lines:start -->\n```bash\n(.*?)```\n<!-- submit-lines:end -->", text, re.S)
    assert block, "docs/cluster.md lacks the submit-lines block"
    commands = submit.parse_commands(block.group(1))
    return {c[c.index("--name") + 1]: c for c in commands}
