"""Run inside the Airflow venv: load jobs/airflow with a real DagBag and report what Airflow sees, as JSON.

    .venv-airflow/bin/python tests/airflow/inspect_dags.py DAG_FOLDER DS REPORT.json

For every DAG: schedule, catchup, retries, and for every task its upstream/downstream ids and the
spark-submit command the provider's SparkSubmitHook builds after Airflow rendered the task's
templates for logical date DS (Variables and the connection come from AIRFLOW_VAR_* and
AIRFLOW_CONN_* in the environment). tests/airflow/test_dag.py asserts on this report.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any


def _context(task: Any, ds: str) -> dict[str, Any]:
    """The part of a task's template context these DAGs use (ds, var, params), built by Airflow's own classes."""
    from airflow.sdk.execution_time.context import VariableAccessor

    logical_date = datetime.fromisoformat(ds).replace(tzinfo=timezone.utc)  # noqa: UP017 (3.11 both ways)
    return {
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "logical_date": logical_date,
        "var": {"value": VariableAccessor(deserialize_json=False), "json": VariableAccessor(deserialize_json=True)},
        "params": task.params,
        "dag": task.dag,
        "task": task,
    }


def main(folder: str, ds: str) -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=folder, include_examples=False)
    report: dict[str, Any] = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in sorted(bag.dags.items()):
        tasks = {}
        for task in dag.tasks:
            task.render_template_fields(_context(task, ds))
            hook = task._get_hook()
            tasks[task.task_id] = {
                "operator": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "retries": task.retries,
                "retry_delay_seconds": task.retry_delay.total_seconds(),
                "trigger_rule": getattr(task.trigger_rule, "value", str(task.trigger_rule)),
                "command": hook._build_spark_submit_command(task.application),
            }
        report["dags"][dag_id] = {
            "schedule": str(dag.timetable.summary),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tasks": tasks,
        }
    return report


if __name__ == "__main__":
    report = main(sys.argv[1], sys.argv[2])
    with open(sys.argv[3], "w") as out:  # not stdout: Airflow logs there
        json.dump(report, out, indent=2)
