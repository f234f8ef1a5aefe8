"""The course as a website: Sphinx with MyST-NB, built from the committed, executed notebooks
without running them again (`make book`; the HTML goes to runs/book, which git ignores).

The front page is the README, with the notebooks, their solutions and the instructor guide in
order in the sidebar. Sources are read where they live (`sphinx-build -c book . runs/book`), so
the README's relative links to notebooks, solutions and guide anchors are the site's links too.
"""
from pathlib import Path

project = "Transfer learning, measured"
author = "the tlcourse authors"
copyright = "the tlcourse authors"
extensions = ["myst_nb"]
root_doc = "README"
include_patterns = ["README.md", "CREDITS.md", "notebooks/*.ipynb", "solutions/*.ipynb", "docs/*.md"]
exclude_patterns = ["runs", ".venv"]
nb_execution_mode = "off"          # the committed outputs are the course's outputs: never re-run here
myst_heading_anchors = 3           # the README links to the guide's sections by their anchors
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {"show_toc_level": 2}


def pages(root: Path) -> list[str]:
    """The sidebar's order: the notebooks, their solutions, the guide and the credits."""
    found = [f"notebooks/{p.stem}" for p in sorted(root.glob("notebooks/[0-9][0-9]_*.ipynb"))]
    found += [f"solutions/{p.stem}" for p in sorted(root.glob("solutions/[0-9][0-9]_*.ipynb"))]
    found += [f"docs/{p.stem}" for p in sorted(root.glob("docs/*.md"))]
    return found + (["CREDITS"] if (root / "CREDITS.md").exists() else [])


def _add_toctree(app, docname, source):
    # The README stays plain Markdown for GitHub; on the site it also holds the (hidden) table of
    # contents that orders the pages.
    if docname == root_doc:
        source[0] += "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(pages(Path(app.srcdir))) + "\n```\n"


def _front_page(app, exception):
    # A site opened at its folder shows index.html: send it to the README.
    if exception is None and app.builder.format == "html":
        Path(app.outdir, "index.html").write_text(
            '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=README.html">'
            '<title>Transfer learning, measured</title><a href="README.html">Transfer learning, measured</a>\n')


def setup(app):
    app.connect("source-read", _add_toctree)
    app.connect("build-finished", _front_page)
