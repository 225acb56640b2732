"""The package's layering holds: the import-linter contracts of pyproject.toml, and no private names across modules."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = "crosssell_spark"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `project`, with that project's pyproject.toml.

    It runs in `project`, whose folder comes first on the import path, so a copy of the package
    there is checked rather than the installed one.
    """
    command = [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache", "--no-logo"]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=300, check=False)


def private_imports(source: str, module: str) -> list[str]:
    """`from <package module> import _name` in `source`: a private name taken from another module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = node.module or ""
        if node.level == 0 and target.split(".")[0] != PACKAGE:
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{module}:{node.lineno} imports {alias.name} from {'.' * node.level}{target}")
    return found


def test_import_contracts_are_kept() -> None:
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken", "reported"),
    [
        (  # the base reaching up into I/O
            "schemas.py",
            "from crosssell_spark import lakehouse",
            "Layers: each imports only the layers below it",
            "crosssell_spark.schemas -> crosssell_spark.lakehouse",
        ),
        (  # one stage reaching into another's internals
            "interest/als.py",
            "from crosssell_spark.similarity.minhash import fit_minhash",
            "A stage never imports another stage: it reads that stage's published tables",
            "crosssell_spark.interest.als -> crosssell_spark.similarity.minhash",
        ),
        (
            "lakehouse.py",
            "from crosssell_spark.quality import gate",
            "Delta I/O knows nothing of the quality gate",
            "crosssell_spark.lakehouse -> crosssell_spark.quality.gate",
        ),
    ],
)
def test_a_planted_forbidden_import_is_reported(
    tmp_path: Path, module: str, planted: str, broken: str, reported: str
) -> None:
    shutil.copytree(PROJECT_ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / PACKAGE / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{planted}  # planted\n")
    planted_line = len((tmp_path / PACKAGE / module).read_text(encoding="utf-8").splitlines())

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    assert f"{broken} BROKEN" in result.stdout, result.stdout
    assert f"{reported} (l.{planted_line})" in result.stdout, result.stdout  # the copy's line, not the package's


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [
        hit
        for path in sorted((PROJECT_ROOT / PACKAGE).rglob("*.py"))
        for hit in private_imports(path.read_text(encoding="utf-8"), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert not found, "make the name public in a module meant for sharing:\n" + "\n".join(found)


def test_private_imports_finds_one() -> None:
    source = "from crosssell_spark.cleaning.stage import CLEAN, _counts\nfrom pandas import _libs\n"
    assert private_imports(source, "m.py") == ["m.py:1 imports _counts from crosssell_spark.cleaning.stage"]
