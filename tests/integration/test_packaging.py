"""The wheel installs where a runtime already brings Spark (a cluster, Databricks) and needs no Spark of its own."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.minutes(1)]


def test_the_wheel_installs_without_deps_beside_a_runtime_spark_and_the_cli_runs(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(PROJECT_ROOT)],
        check=True,
    )
    wheel = next(dist.glob("crosssell_spark-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n) for n in archive.namelist() if n.endswith(".dist-info/METADATA")).decode()
    assert "Requires-Python: >=3.11\n" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    spark_side = [r for r in requires if re.match(r"Requires-Dist: (pyspark|delta-spark|opendp)\b", r)]
    assert len(spark_side) == 3 and all("extra ==" in r for r in spark_side)  # only through the local / dp extras
    assert any(r.startswith("Requires-Dist: great-expectations") and "extra" not in r for r in requires)

    # the runtime: a venv that sees this project's site-packages (pyspark among them), as a venv made
    # with --system-site-packages sees a cluster's; the package goes in with --no-deps, offline
    runtime = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", str(runtime)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(runtime), "platbase": str(runtime)}))
    (site / "runtime_spark.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = runtime / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)

    cli = runtime / "bin" / "crosssell"
    helped = subprocess.run([str(cli), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "show" in helped.stdout and "run-all" in helped.stdout
    code = "import crosssell_spark, pyspark; print(crosssell_spark.__file__); print(pyspark.__file__)"
    where = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.splitlines()
    assert where[0].startswith(str(site)) and not where[1].startswith(str(runtime))  # ours installed, Spark brought
