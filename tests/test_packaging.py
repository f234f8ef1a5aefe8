"""The install files agree with each other and with the Python package."""
import tomllib
from pathlib import Path

import yaml

import tlcourse

ROOT = Path(__file__).parents[1]


def test_environment_yml_pins_the_same_versions_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip_section) == pyproject
    assert all("==" in requirement for requirement in pyproject)


def test_no_notebook_cell_hides_a_figure_with_a_trailing_semicolon():
    """nbval does not honour IPython's trailing ';': the returned Figure's repr shows next to
    the inline figure and the cell's outputs no longer match. Bind it to a name instead."""
    import nbformat
    paths = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.source.strip():
                last = cell.source.rstrip().splitlines()[-1]
                assert not last.rstrip().endswith(";"), f"{path.name}: {last}"


# --------------------------------------------------------------------------- the lock

def _lock(name: str = "requirements-lock.txt") -> dict:
    """A requirements file as {name: version} for this platform (markers evaluated here)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line.split(" --hash")[0])
            if requirement.marker is None or requirement.marker.evaluate():
                (spec,) = requirement.specifier
                assert spec.operator == "==", line
                pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_every_pin_of_pyproject_and_environment_yml_is_the_locked_version():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            assert lock[canonicalize_name(requirement.name)] == spec.version, (
                f"{line} but the lock has {lock.get(canonicalize_name(requirement.name))}: run make lock")


def test_the_installed_environment_is_the_lock():
    """What `make install` installed is exactly the lock and the weights-only packages
    installed without their dependencies: nothing missing, nothing newer, nothing extra (the
    course itself, installed editable, aside)."""
    from importlib import metadata
    from packaging.utils import canonicalize_name
    lock = _lock() | _lock("requirements-nodeps.txt")
    from packaging.version import Version
    # public versions: a CPU-index torch (2.14.1+cpu) is the locked 2.14.1 too
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version).public for d in metadata.distributions()}
    installed = {name: v for name, v in installed.items() if name not in ("tlcourse", "pip", "setuptools", "wheel")}
    lock = {name: v for name, v in lock.items() if name not in ("pip", "setuptools", "wheel")}
    assert {n: v for n, v in installed.items() if lock.get(n) != v} == {}, "installed but not as locked"
    assert sorted(set(lock) - set(installed)) == [], "locked but not installed"


def test_the_lock_serves_other_platforms_with_markers_not_guesses():
    """Packages only some platforms need are marked, so pip skips them elsewhere."""
    from packaging.requirements import Requirement
    lines = [Requirement(line) for line in (ROOT / "requirements-lock.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    marked = {r.name: str(r.marker) for r in lines if r.marker is not None}
    assert "sys_platform == \"linux\"" in marked["nvidia-cublas"]
    assert "win32" in marked["colorama"] and "darwin" in marked["appnope"]
    torch = [r for r in lines if r.name == "torch"]
    assert len(torch) == 2 and all("darwin" in str(r.marker) for r in torch)


def test_the_weights_only_packages_stay_out_of_the_lock():
    """requirements-nodeps.txt's packages pin an old torch: in the lock, pip would try to honour it."""
    nodeps = _lock("requirements-nodeps.txt")
    assert nodeps and not set(nodeps) & set(_lock())
    assert all("--hash=sha256:" in line for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#"))
