"""The analyst notebook runs end to end on the sample warehouse."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "analyst_tour.ipynb"


def test_the_analyst_notebook_runs_end_to_end(sample_warehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("DERMA_DATA_DIR", str(sample_warehouse.data_dir))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parents[1])}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs), "the chart was drawn"
