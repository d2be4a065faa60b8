"""The example notebook runs top to bottom in a real kernel, and its plot cells give plotly figures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "backtest.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def test_example_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # the notebook's relative paths (../config, runs) resolve in a scratch copy, not in the repo
    (tmp_path / "examples").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "examples" / NOTEBOOK.name)
    for name in ("config", "data"):
        (tmp_path / name).symlink_to(REPO / name)
    nb = nbformat.read(tmp_path / "examples" / NOTEBOOK.name, as_version=4)
    env_path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel is a child process: it must import this tree
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "examples")}})
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 Jupyter kernel installed")
    try:
        client.execute()
    except RuntimeError as exc:  # "Kernel died before replying", "Kernel didn't respond": cannot start here
        if "kernel" in str(exc).lower() and client.kc is None:
            pytest.skip(f"the Jupyter kernel does not start: {exc}")
        raise
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if PLOTLY_MIME in o.get("data", {})]
    assert len(figures) == 3
    price = next(f for f in figures if "price, trades" in str(f["data"][PLOTLY_MIME]["layout"].get("title")))
    assert [t["type"] for t in price["data"][PLOTLY_MIME]["data"]].count("candlestick") == 1
    runs = list((tmp_path / "examples" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.html").is_file() and (runs[0] / "trades.csv").is_file()
    text = "".join(o.get("text", "") for o in outputs)
    live = list((tmp_path / "examples" / "live-runs").glob("demo-live-*"))  # the live demo cells
    assert len(live) == 1 and json.loads((live[0] / "summary.json").read_text())["bars"] >= 5
    assert "Sharpe 3.27" in text
