"""The architecture is the import-linter contracts in pyproject.toml: they hold on this tree, and
they break, naming the import, when a lower wing reaches up, an edge wing imports torch, the
station imports pyarrow, or two modules import each other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter", reason="import-linter (the 'dev' extra) is not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under ``root`` with the contracts of ``root``/pyproject.toml."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": ""}, timeout=300)


def test_the_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_the_contracts_break_on_an_upward_import_torch_in_an_edge_wing_and_a_cycle(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "glacier_edge", copy / "glacier_edge", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    melt = copy / "glacier_edge" / "signals" / "melt.py"
    melt.write_text(melt.read_text() + "\nimport torch  # noqa\nfrom glacier_edge.edge import runtime  # noqa\n")
    graph = copy / "glacier_edge" / "signals" / "graph.py"
    graph.write_text(graph.read_text() + "\nfrom glacier_edge.signals import history  # noqa\n")
    history = copy / "glacier_edge" / "signals" / "history.py"
    history.write_text(history.read_text() + "\nfrom glacier_edge.signals import graph  # noqa\n")
    store = copy / "glacier_edge" / "station" / "store.py"
    store.write_text(store.read_text() + "\nimport pyarrow  # noqa\n")
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Contracts: 0 kept, 4 broken." in done.stdout
    assert "a lower wing never imports a higher one BROKEN" in done.stdout
    assert "glacier_edge.signals.melt -> glacier_edge.edge.runtime" in done.stdout
    assert "The edge wings never import the torch side (a station box has no torch) BROKEN" in done.stdout
    assert "glacier_edge.signals.melt -> torch" in done.stdout
    assert "No import cycles between the modules of any package BROKEN" in done.stdout
    assert "- .history -> .graph (1 import)" in done.stdout
    assert "Station and runner never import the archive's tools (ray, pyarrow) BROKEN" in done.stdout
    assert "glacier_edge.station.store -> pyarrow" in done.stdout
