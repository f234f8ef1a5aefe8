"""Full mode is one parameter away in every notebook: `mode = "full"` in the parameters cell
switches datasets, backbones and budgets. Without the internet, a notebook that needs a download
in full mode must stop at it within seconds with `tl.OfflineError`, never hang.

Notebooks 04 and 05 switch to larger offline data and budgets first (their full mode needs a GPU
for time, not the internet), so for them the switch itself is checked, not a run."""
import re
import socket
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))
DOWNLOAD_FIRST = ["00_concepts", "01_feature_extraction", "02_fine_tuning", "03_layerwise_fine_tuning",
                  "06_parameter_efficient"]


def parameters(path):
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(ROOT.glob("solutions/*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_mode_is_a_parameter_that_defaults_to_offline(path):
    assert re.search(r'^mode = "offline"', parameters(path), re.M), path


def _full_mode_block(path) -> str:
    # The notebook's own switch: the `if mode == "full":` line and the indented lines under it.
    for cell in nbformat.read(path, as_version=4).cells:
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith('if mode == "full":'):
                block = [line]
                for rest in lines[i + 1:]:
                    if not rest.startswith((" ", "\t")):
                        break
                    block.append(rest)
                return "\n".join(block)
    return ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_full_mode_changes_what_every_notebook_runs_on(path):
    """Executed with mode = "full", the notebook's parameters and its switch give other values
    (a larger dataset, another backbone) than offline; with mode = "offline" the switch changes nothing."""
    def values(mode):
        namespace: dict = {}
        exec(parameters(path), {}, namespace)
        namespace["mode"] = mode
        exec(_full_mode_block(path), {}, namespace)
        return {k: v for k, v in namespace.items() if k != "mode"}
    offline = {}
    exec(parameters(path), {}, offline)
    offline.pop("mode")
    assert values("offline") == offline
    changed = {k for k, v in values("full").items() if offline.get(k) != v}
    assert changed, f"{path.name}: mode = 'full' changes no parameter"


def _online() -> bool:
    try:
        socket.create_connection(("files.fast.ai", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("name", DOWNLOAD_FIRST)
def test_without_internet_full_mode_stops_at_its_first_download_with_a_clear_error(name, tmp_path):
    if _online():
        pytest.skip("this machine reaches the internet: full mode would download (make run MODE=full)")
    import papermill
    start = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(tmp_path / "full.ipynb"),
                                   parameters={"mode": "full"}, kernel_name="python3", progress_bar=False,
                                   execution_timeout=120, cwd=str(ROOT / "notebooks"))
    assert failed.value.ename == "OfflineError", (failed.value.ename, failed.value.evalue)
    assert "Offline, use" in failed.value.evalue
    assert time.perf_counter() - start < 120
