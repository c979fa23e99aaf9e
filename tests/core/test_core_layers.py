"""The layer contract (``[tool.importlinter]`` in pyproject.toml): the tree keeps it, and a forbidden import breaks it.

Each breaking case plants one import in a copy of the package and runs ``lint-imports``
on the copy, as ``.ci/run`` runs it on the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
_LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
# The three cycles issue 16 broke; each pair must never import each other both ways again.
BROKEN_CYCLES = [
    ("agentrec.audit.paired_evaluation", "agentrec.audit.pair_workers"),
    ("agentrec.sim.choice", "agentrec.sim.llm_choice"),
    ("agentrec.sim.report", "agentrec.sim.run"),
]


def lint_imports(root: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``agentrec`` package in ``root`` with its pyproject.toml (one contract, or all)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", _LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"]
    if contract is not None:
        command += ["--contract", contract]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml, free to break."""
    shutil.copytree(REPO / "agentrec", tmp_path / "agentrec", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, code: str) -> None:
    """Append ``code`` to ``module`` (a dotted name) in the copy at ``root``."""
    path = root / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# A function-level import, which the contract must see as well as a module-level one.
LATE = "def _planted() -> None:\n    import {imported}  # noqa: F401\n"

BREAKING_IMPORTS = [
    # (module given the import, the import, the id of the contract that must break)
    ("agentrec.recsys.ease", "import agentrec.llm  # noqa: F401", "no-llm-below"),
    ("agentrec.eval.metrics", LATE.format(imported="agentrec.llm.usage"), "no-llm-below"),
    ("agentrec.core.paths", LATE.format(imported="agentrec.llm.usage"), "layers"),
    ("agentrec.core.worker_pool", LATE.format(imported="agentrec.recsys.threads"), "layers"),
    ("agentrec.agent.loop", LATE.format(imported="agentrec.sim.events"), "agent-below-its-users"),
    ("agentrec.sim.events", LATE.format(imported="agentrec.audit.catalog"), "layers"),
]


@pytest.mark.parametrize(("module", "code", "contract"), BREAKING_IMPORTS, ids=[case[0] for case in BREAKING_IMPORTS])
def test_a_forbidden_import_breaks_the_contract(package_copy: Path, module: str, code: str, contract: str) -> None:
    assert lint_imports(package_copy, contract).returncode == 0  # the copy keeps it until the import is planted
    plant(package_copy, module, code)
    result = lint_imports(package_copy, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout and module in result.stdout


_GRAPHS: list[grimp.ImportGraph] = []


def _imports(importer: str, imported: str) -> bool:
    """Whether ``importer`` reaches ``imported`` through any chain of imports in this tree."""
    if not _GRAPHS:
        _GRAPHS.append(grimp.build_graph("agentrec", cache_dir=None))
    return bool(_GRAPHS[0].chain_exists(importer, imported))


@pytest.mark.parametrize(("one", "other"), BROKEN_CYCLES)
def test_the_three_cycles_stay_broken(one: str, other: str) -> None:
    # Function-level and TYPE_CHECKING imports count: grimp sees every import statement.
    assert not (_imports(one, other) and _imports(other, one)), f"{one} and {other} import each other again"


@pytest.mark.parametrize(("one", "other"), BROKEN_CYCLES)
def test_an_import_back_reopens_a_cycle_and_breaks_the_contract(package_copy: Path, one: str, other: str) -> None:
    # Import back against the direction that exists today, from inside a function.
    importer, imported = (other, one) if _imports(one, other) else (one, other)
    plant(package_copy, importer, LATE.format(imported=imported))
    result = lint_imports(package_copy, "no-cycles")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"No cycles are allowed in {importer.rpartition('.')[0]}" in result.stdout
