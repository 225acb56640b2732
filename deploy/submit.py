"""The spark-submit command lines of every job: one builder for dist/submit.sh, docs/cluster.md and the tests.

Standard library only, so the Airflow environment can import it too. The argument order is the one
Airflow's SparkSubmitHook produces (`--master`, `--conf`s, `--files`, `--py-files`, `--archives`,
`--packages`, `--name`, `--deploy-mode`, application, arguments), so a DAG task and a hand-typed
submission are the same command.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

PACKAGE = "crosssell_spark"
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"  # delta-spark 4.4.0 built for Spark 4.1 / Scala 2.13
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
ENV_ALIAS = "environment"  # --archives <env>.tar.gz#environment: unpacked as ./environment on every executor

# stage -> thin entry point under jobs/
JOBS = {
    "clean": "clean.py",
    "train-interest": "train_interest.py",
    "similarity": "similarity.py",
    "train-ranker": "train_ranker.py",
    "candidates": "candidates.py",
    "run-all": "run_all.py",
    "maintain": "maintain.py",
    "evaluate": "evaluate.py",
    "stream": "stream.py",
    "forget": "forget.py",
}
# the jobs that take --run-date
SCHEDULED_JOBS = ("clean", "train-interest", "similarity", "train-ranker", "candidates", "run-all", "maintain")


def wheel_name(version: str) -> str:
    return f"{PACKAGE}-{version}-py3-none-any.whl"


def zip_name(version: str) -> str:
    return f"{PACKAGE}-{version}.zip"


def env_name(version: str) -> str:
    return f"crosssell_env-{version}.tar.gz"


@dataclass(frozen=True)
class SubmitSettings:
    """Where the artefacts live and which cluster runs them.

    Attributes:
        master: Spark master URL (spark://host:7077, yarn, k8s://...).
        home: folder holding dist/, conf/ and jobs/ on the machine that runs spark-submit.
        version: package version (names the artefacts in dist/).
        overlay: config overlay on top of conf/base.yaml (relative paths are under `home`).
        driver_python: Python of the driver in client mode (it needs the packed env's packages).
        deploy_mode: client (driver on the submitting machine) or cluster (YARN / Kubernetes).
    """

    master: str
    home: str
    version: str
    overlay: str = "conf/cluster.yaml"
    driver_python: str = "python3"
    deploy_mode: str = "client"

    def path(self, relative: str) -> str:
        """`relative` under `home`; absolute paths and shell variables ($VAR) are kept as they are."""
        return relative if relative.startswith(("/", "$")) else f"{self.home.rstrip('/')}/{relative}"

    @property
    def dist(self) -> str:
        return self.path("dist")

    @property
    def overlay_path(self) -> str:
        return self.path(self.overlay)


def spark_conf(settings: SubmitSettings) -> dict[str, str]:
    """`--conf` entries: Delta, and the Python of executors (packed env) and driver."""
    driver = settings.driver_python if settings.deploy_mode == "client" else f"./{ENV_ALIAS}/bin/python"
    return {
        **DELTA_CONF,
        "spark.pyspark.python": f"./{ENV_ALIAS}/bin/python",
        "spark.pyspark.driver.python": driver,
    }


def files(settings: SubmitSettings) -> str:
    """Config files shipped with --files: base.yaml and the overlay land side by side in the working dir."""
    return f"{settings.path('conf/base.yaml')},{settings.overlay_path}"


def py_files(settings: SubmitSettings) -> str:
    return f"{settings.dist}/{zip_name(settings.version)}"


def archives(settings: SubmitSettings) -> str:
    return f"{settings.dist}/{env_name(settings.version)}#{ENV_ALIAS}"


def app_name(stage: str) -> str:
    return f"crosssell-{stage}"


def application(settings: SubmitSettings, stage: str) -> str:
    return settings.path(f"jobs/{JOBS[stage]}")


def application_args(settings: SubmitSettings, run_date: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """Job arguments. In cluster mode the driver reads the --files copy of the overlay by its bare name."""
    overlay = settings.overlay_path if settings.deploy_mode == "client" else PurePosixPath(settings.overlay).name
    args = ["--conf", overlay]
    if run_date:
        args += ["--run-date", run_date]
    return [*args, *extra]


def submit_command(
    stage: str,
    settings: SubmitSettings,
    run_date: str | None,
    extra: tuple[str, ...] = (),
    binary: str = "spark-submit",
) -> list[str]:
    """The full spark-submit command of one stage (or run-all / maintain)."""
    if stage not in JOBS:
        raise ValueError(f"unknown job {stage!r}; known: {sorted(JOBS)}")
    command = [binary, "--master", settings.master]
    for key, value in spark_conf(settings).items():
        command += ["--conf", f"{key}={value}"]
    command += ["--files", files(settings), "--py-files", py_files(settings), "--archives", archives(settings)]
    command += ["--packages", DELTA_PACKAGE, "--name", app_name(stage), "--deploy-mode", settings.deploy_mode]
    return [*command, application(settings, stage), *application_args(settings, run_date, extra)]


def _quote(token: str) -> str:
    """Shell quoting that leaves ${VAR} references expandable (double quotes) in script templates."""
    return f'"{token}"' if "$" in token else shlex.quote(token)


def format_command(command: list[str], indent: str = "  ") -> str:
    """One option (with its value) per line, shell-quoted, joined with backslash continuations."""
    lines: list[str] = [_quote(command[0])]
    index = 1
    while index < len(command):
        token = command[index]
        if token.startswith("--") and index + 1 < len(command) and not command[index + 1].startswith("--"):
            lines.append(f"{_quote(token)} {_quote(command[index + 1])}")
            index += 2
        else:
            lines.append(_quote(token))
            index += 1
    return f" \\\n{indent}".join(lines)


def parse_commands(text: str) -> list[list[str]]:
    """Commands written by `format_command` (comments and blank lines skipped), split like a shell."""
    commands, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            commands.append(shlex.split(current))
            current = ""
    return commands


def document(settings: SubmitSettings, run_date: str) -> str:
    """Every scheduled job's command for one deployment, as docs/cluster.md shows them (`python -m deploy.submit`)."""
    return "\n\n".join(format_command(submit_command(job, settings, run_date)) for job in SCHEDULED_JOBS) + "\n"


README_EXAMPLE = SubmitSettings(
    master="spark://spark-master:7077",
    home="/opt/crosssell",
    version="0.1.0",
    driver_python="/opt/crosssell/env/bin/python",
)

if __name__ == "__main__":
    print(document(README_EXAMPLE, "2026-11-28"), end="")
