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


def test_public_api_is_explicit():
    for name in tlcourse.__all__:
        assert hasattr(tlcourse, name), name


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
