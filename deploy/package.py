"""`make package`: the wheel, a --py-files zip, a packed venv for --archives and dist/submit.sh.

    .venv/bin/python -m deploy.package [--dist dist] [--with-pyspark]

The packed environment holds the package's third-party runtime dependencies at exactly the
versions of the project venv (the tested set), without pyspark and py4j: a cluster brings its
own Spark, and Spark puts its pyspark.zip / py4j zip on every Python worker's path. The package
itself travels separately as the small --py-files zip, so a code change does not rebuild the
environment (which is rebuilt only when its requirement list changes).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from deploy import submit

ROOT = Path(__file__).resolve().parents[1]
DIST_NAME = "crosssell-spark"
PROVIDED_BY_CLUSTER = {"pyspark", "py4j"}  # Spark's own Python client: on the cluster's PYTHONPATH
PY_FILES_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".sql", ".txt"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(exclude: set[str] = PROVIDED_BY_CLUSTER) -> dict[str, str]:
    """name -> installed version of every runtime dependency of the package (extras followed), minus `exclude`."""
    pinned: dict[str, str] = {}
    pending: list[tuple[str | None, frozenset[str]]] = [(None, frozenset())]
    while pending:
        name, extras = pending.pop()
        # the package's own list comes from pyproject.toml (installed metadata may predate an edit)
        requires = _project_dependencies() if name is None else metadata.distribution(name).requires
        for line in requires or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            key = _canonical(req.name)
            if key in exclude:
                continue
            visited = key in pinned
            pinned[key] = metadata.version(req.name)
            if not visited or req.extras:
                pending.append((req.name, frozenset(req.extras)))
    return dict(sorted(pinned.items()))


PACKED_EXTRAS = ("local", "dp", "semantic")  # the packed env carries what a local run has, minus PROVIDED_BY_CLUSTER


def _project_dependencies() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [*project["dependencies"], *(r for e in PACKED_EXTRAS for r in project["optional-dependencies"][e])]


def build_wheel(dist: Path) -> Path:
    version = metadata.version(DIST_NAME)
    for old in dist.glob("crosssell_spark-*.whl"):
        old.unlink()
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(ROOT)])
    return dist / submit.wheel_name(version)


def build_zip(dist: Path, version: str) -> Path:
    """The package as a --py-files zip (importable from the zip's root: crosssell_spark/...)."""
    target = dist / submit.zip_name(version)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / submit.PACKAGE).rglob("*")):
            if path.is_file() and path.suffix in PY_FILES_SUFFIXES and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(ROOT).as_posix())
    return target


def build_env(dist: Path, version: str, requirements: dict[str, str], work: Path) -> tuple[Path, bool]:
    """venv-pack a fresh venv holding `requirements`; reused when the requirement list is unchanged."""
    target = dist / submit.env_name(version)
    listing = dist / "env-requirements.txt"
    text = "".join(f"{name}=={ver}\n" for name, ver in requirements.items())
    if target.exists() and listing.exists() and listing.read_text() == text:
        return target, False
    venv = work / "pack-venv"
    _run([sys.executable, "-m", "venv", "--clear", str(venv)])
    (work / "pack-requirements.txt").write_text(text)
    _run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
          "-r", str(work / "pack-requirements.txt")])  # fmt: skip
    # pip itself is not needed on executors; setuptools stays (some packages import pkg_resources)
    _run([str(venv / "bin/python"), "-m", "pip", "uninstall", "--quiet", "--yes", "pip"])
    target.unlink(missing_ok=True)
    _run([str(Path(sys.executable).parent / "venv-pack"), "--prefix", str(venv), "--output", str(target), "--quiet"])
    listing.write_text(text)
    return target, True


def write_submit_script(dist: Path, version: str) -> Path:
    """dist/submit.sh: the exact spark-submit line of every job, with ${VAR} placeholders."""
    settings = submit.SubmitSettings(
        master="${SPARK_MASTER}", home="${CROSSSELL_HOME}", version=version,
        overlay="${CROSSSELL_CONF}", driver_python="${DRIVER_PYTHON}",
    )  # fmt: skip
    cases = []
    for job in submit.JOBS:
        command = submit.format_command(submit.submit_command(job, settings, None), indent="      ")
        cases.append(f"  {job})\n    cmd=({command})\n    ;;")
    script = SUBMIT_TEMPLATE.format(version=version, jobs=" | ".join(submit.JOBS), cases="\n".join(cases))
    target = dist / "submit.sh"
    target.write_text(script)
    target.chmod(0o755)
    return target


SUBMIT_TEMPLATE = """#!/usr/bin/env bash
# spark-submit lines of crosssell-spark {version}, written by `make package` (deploy/package.py).
# Usage: dist/submit.sh JOB [job args...], e.g. dist/submit.sh clean --run-date 2026-11-28
#   JOB: {jobs}
# Environment (default):
#   SPARK_MASTER    master URL (spark://127.0.0.1:7077)
#   CROSSSELL_HOME  folder holding dist/, conf/ and jobs/ (the folder above this script)
#   CROSSSELL_CONF  config overlay on top of conf/base.yaml ($CROSSSELL_HOME/conf/cluster.yaml)
#   DRIVER_PYTHON   the driver's Python in client mode, with the packed env's packages (python3)
#   DRY_RUN=1       print the command instead of running it
set -euo pipefail
job=${{1:?usage: submit.sh JOB [job args...]}}
shift
SPARK_MASTER=${{SPARK_MASTER:-spark://127.0.0.1:7077}}
CROSSSELL_HOME=${{CROSSSELL_HOME:-$(cd "$(dirname "${{BASH_SOURCE[0]}}")/.." && pwd)}}
CROSSSELL_CONF=${{CROSSSELL_CONF:-$CROSSSELL_HOME/conf/cluster.yaml}}
DRIVER_PYTHON=${{DRIVER_PYTHON:-python3}}
case "$job" in
{cases}
  *)
    echo "submit.sh: unknown job $job" >&2
    exit 2
    ;;
esac
cmd+=("$@")
if [[ "${{DRY_RUN:-}}" == 1 ]]; then
  printf '%q ' "${{cmd[@]}}"
  echo
else
  exec "${{cmd[@]}}"
fi
"""


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, cwd=ROOT)


def _mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def _tree_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(ROOT / "dist"))
    parser.add_argument("--work", default=str(ROOT / "build" / "package"), help="scratch folder for the pack venv")
    args = parser.parse_args(argv)
    dist, work = Path(args.dist), Path(args.work)
    dist.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    version = metadata.version(DIST_NAME)
    started = time.perf_counter()
    wheel = build_wheel(dist)
    py_zip = build_zip(dist, version)
    requirements = runtime_requirements()
    env, rebuilt = build_env(dist, version, requirements, work)
    script = write_submit_script(dist, version)
    manifest: dict[str, Any] = {
        "version": version,
        "wheel": {"file": wheel.name, "mib": round(_mib(wheel), 2)},
        "py_files": {"file": py_zip.name, "mib": round(_mib(py_zip), 2)},
        "env": {
            "file": env.name, "mib": round(_mib(env), 1), "packages": len(requirements),
            "excluded": sorted(PROVIDED_BY_CLUSTER), "rebuilt": rebuilt,
        },
        "submit": script.name,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    if rebuilt and (work / "pack-venv").exists():
        manifest["env"]["unpacked_mib"] = round(_tree_mib(work / "pack-venv"), 1)
    (dist / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for key in ("wheel", "py_files", "env"):
        print(f"{key:<9} dist/{manifest[key]['file']}  {manifest[key]['mib']} MiB")
    print(f"submit   dist/{script.name}  ({manifest['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
