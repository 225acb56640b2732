"""The README's quickstart, verbatim: its two commands are `make run` and `make test` (what the
fresh-clone check and CI run), and every command of "Look at your results" runs as written, from a
folder laid out like the project after `make run` (its `.venv` and `conf/`, a lakehouse in
`./lakehouse`: a copy of the shared sample world's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, TEST_JVM_ENV, PipelineRun

pytestmark = [pytest.mark.integration, pytest.mark.minutes(2)]
README = PROJECT_ROOT / "README.md"
# the shared lakehouse minus what other tests may be writing into it meanwhile (test_evaluation)
COPY_IGNORE = shutil.ignore_patterns("_staging", "_checkpoints", "_evaluation", "evaluation", "_reports", "_gx")


def bash_blocks(section: str) -> list[str]:
    """The ```bash blocks of a README section (`## <section>`), dedented (blocks in a list are indented)."""
    body = README.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(b) for b in re.findall(r"^[ ]*```bash\n(.*?)^[ ]*```", body, re.M | re.S)]


def commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_two_commands_are_make_run_and_make_test() -> None:
    (block,) = bash_blocks("Two commands")
    assert [c.split("#")[0].strip() for c in commands(block)] == ["make run", "make test"]
    assert "make test-all" in (PROJECT_ROOT / ".ci" / "run").read_text()  # CI: make test, then the cluster tests
    assert re.search(r"^test-all: test test-cluster", (PROJECT_ROOT / "Makefile").read_text(), re.M)


def test_look_at_your_results_runs_verbatim(sample_pipeline: PipelineRun, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(sample_pipeline.lake.root, project / "lakehouse", ignore=COPY_IGNORE)
    for name in (".venv", "conf"):
        (project / name).symlink_to(PROJECT_ROOT / name)
    lines = [c for block in bash_blocks("Look at your results") for c in commands(block)]
    assert len(lines) >= 4, lines  # show --anchor, show --user, report, the export
    printed: list[tuple[str, str]] = []
    env = {**os.environ, **TEST_JVM_ENV}
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        printed.append((line, done.stdout))

    def output(*words: str) -> str:
        (out,) = [out for line, out in printed if all(w in line for w in words)]
        return out

    anchor_list, user_list = output("show", "--anchor"), output("show", "--user")
    assert anchor_list.startswith("item_cross_sell of anchor ") and len(anchor_list.splitlines()) > 3, anchor_list
    assert user_list.startswith("user_cross_sell of user ") and len(user_list.splitlines()) > 3, user_list
    page = Path(output("crosssell report").strip().splitlines()[-1].removeprefix("run report: file://"))
    assert page.is_file() and page.is_relative_to(project / "lakehouse" / "_reports" / "runs")
    first = json.loads(output("_exports"))  # one list from the serving export, pretty-printed
    assert first["items"] and all(i["reason"] and i["reason_codes"] for i in first["items"])


def test_make_evaluate_seed_judges_a_world_of_its_own() -> None:
    """`make evaluate SEED=n` generates, cleans and evaluates one lakehouse of seed n; without SEED it
    evaluates the `make run` lakehouse (a dry run of the Makefile: the real run takes minutes)."""

    def steps(*args: str) -> list[str]:
        done = subprocess.run(["make", "-n", "evaluate", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stdout.splitlines() if line.startswith(".venv/bin/crosssell ")]
        return [step.strip() for line in lines for step in line.split(" && ")]

    seeded = steps("SEED=7")
    assert [step.split()[1] for step in seeded] == ["generate", "clean", "evaluate"]
    world = ("--set sample.seed=7", "--set lakehouse.root=./lakehouse/world-7",
             "--set sample.path=./lakehouse/world-7/_landing/sample")  # fmt: skip
    assert all(setting in step for step in seeded for setting in world), seeded
    (plain,) = steps()
    assert plain.split()[1] == "evaluate" and "sample.seed" not in plain and "lakehouse.root" not in plain
