"""The worked examples in ``notebooks/`` run top to bottom, on the small settings they ship with.

Each notebook runs in a fresh ``python3`` kernel (nbclient), started in ``notebooks/``
as Jupyter would start it. The kernel inherits this process's environment, so it
reads MovieLens from ``AGENTREC_DATA_HOME`` and writes into the session's private
state home; a guard cell checks the latter before anything else runs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# nbformat's functions carry no type hints, hence the two type: ignore comments below.

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# One cell may fit the models, train the fusion ranker and run the LLM, cold, on two busy cores.
CELL_TIMEOUT_S = 600

pytestmark = pytest.mark.slow


def guard_cell(state_home: Path) -> nbformat.NotebookNode:
    """A first cell that stops the run if the kernel would write into the user's real cache."""
    seen = "os.environ.get('AGENTREC_HOME')"
    source = f"import os\nassert {seen} == {str(state_home)!r}, {seen}"
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
    return cell


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("01_agent.ipynb", marks=pytest.mark.realdata),
        pytest.param("02_simulation.ipynb", marks=pytest.mark.realdata),
        "03_sts_audit.ipynb",  # catalogs/ is in the repository: no MovieLens needed
    ],
)
def test_notebook_runs_top_to_bottom(name: str, request: pytest.FixtureRequest, _private_state_home: Path) -> None:
    if request.node.get_closest_marker("realdata") is not None:
        request.getfixturevalue("ml100k")  # skips without MovieLens (fails with AGENTREC_REQUIRE_DATA=1)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    assert all(not cell.get("outputs") for cell in notebook.cells), f"{name} is committed with outputs"
    notebook.cells.insert(0, guard_cell(_private_state_home))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        # The installed python3 kernel spec, or without one ipykernel's own spec for this interpreter.
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first failing cell
