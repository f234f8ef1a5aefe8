"""`make lab` opens the course without "kernel not found": the notebooks name the kernel
`python3`, and JupyterLab started from the course's environment resolves that name to the
environment's own Python, even when the user has a `python3` kernel of their own elsewhere."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import JupyterLab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))


@pytest.fixture
def decoy_home(tmp_path):
    """A home folder whose user-level `python3` kernel points at a program that fails: what a
    learner's laptop may have from another Jupyter install."""
    spec = tmp_path / ".local" / "share" / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": ["/bin/false", "{connection_file}"], "display_name": "decoy", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / ".local" / "share")}


def test_every_notebook_names_the_python3_kernel():
    for path in NOTEBOOKS:
        spec = nbformat.read(path, as_version=4).metadata["kernelspec"]
        assert (spec["name"], spec["language"]) == ("python3", "python"), path.name


def test_the_environment_s_python3_kernel_wins_over_a_user_one_and_imports_the_course(decoy_home):
    code = """
import sys
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
print(KernelSpecManager().get_kernel_spec("python3").resource_dir)
manager, client = start_new_kernel(kernel_name="python3")
try:
    reply = client.execute_interactive("import sys, tlcourse; print(sys.prefix)", timeout=120,
                                       output_hook=lambda msg: print(msg["content"].get("text", ""), end=""))
    assert reply["content"]["status"] == "ok", reply["content"]
finally:
    manager.shutdown_kernel(now=True)
"""
    done = subprocess.run([sys.executable, "-c", code], env=decoy_home, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    resource_dir, prefix = done.stdout.split()[:2]
    assert Path(resource_dir).is_relative_to(sys.prefix), resource_dir
    assert Path(prefix) == Path(sys.prefix), prefix


def test_jupyterlab_opens_notebook_00_with_a_kernel_that_runs_the_course(decoy_home, tmp_path):
    """`make lab` (from the repository root), asked through its REST API to open notebook 00 the
    way the browser does: a session with the notebook's own kernel name. The kernel the server
    starts must be this environment's Python and import tlcourse."""
    from jupyter_client import BlockingKernelClient
    with JupyterLab(ROOT, decoy_home, tmp_path / "lab.log") as lab:
        specs = lab.api("kernelspecs")
        notebook = nbformat.read(ROOT / "notebooks" / "00_concepts.ipynb", as_version=4)
        name = notebook.metadata["kernelspec"]["name"]
        assert name in specs["kernelspecs"], f"kernel {name!r} not found: {list(specs['kernelspecs'])}"
        session = lab.api("sessions", {"path": "notebooks/00_concepts.ipynb", "type": "notebook",
                                       "kernel": {"name": name}}, "POST")
        runtime = Path(decoy_home["XDG_DATA_HOME"]) / "jupyter" / "runtime"
        connection = runtime / f"kernel-{session['kernel']['id']}.json"
        assert connection.exists(), sorted(p.name for p in runtime.glob("*"))
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            said = []
            reply = client.execute_interactive(
                "import sys, tlcourse; print(sys.prefix)", timeout=120,
                output_hook=lambda msg: said.append(msg["content"].get("text", "")))
        finally:
            client.stop_channels()
        assert reply["content"]["status"] == "ok", reply["content"]
        assert Path("".join(said).strip()) == Path(sys.prefix), "the kernel runs another environment"
        lab.api(f"sessions/{session['id']}", method="DELETE")
