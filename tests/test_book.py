"""The course as a website (`make book`, book/conf.py): every page, read in Debian's headless
Chromium from a localhost server, as a reader would meet it.

For each page (the README as front page, every notebook and solution, the docs): it loads with
its title; every link inside the site leads to a page that exists, and to the section its anchor
names (the README's links to notebooks, solutions and guide sections included); it shows, loaded,
as many images as its source has (a notebook's image outputs and the pictures in its Markdown);
and a Markdown page shows each of its tables as an HTML table. `make test-browser` builds the
site first; the test says so if it is missing.
"""
import functools
import http.server
import json
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_browser import _browser

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "runs" / "book"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]+\)")
TABLE_RULE = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$", re.M)


def sources() -> dict[str, Path]:
    """Page (relative HTML path) -> its source, in the site's order."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("book_conf", ROOT / "book" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    pages = {"README.html": ROOT / "README.md"}
    for page in conf.pages(ROOT):
        source = next(ROOT.glob(page + ".*"))
        pages[page + ".html"] = source
    return pages


def expected_images(source: Path) -> int:
    if source.suffix == ".md":
        return len(MARKDOWN_IMAGE.findall(source.read_text()))
    cells = json.loads(source.read_text())["cells"]
    outputs = sum(any(t in out.get("data", {}) for t in IMAGE_TYPES)
                  for cell in cells for out in cell.get("outputs", []))
    pictures = sum(len(MARKDOWN_IMAGE.findall("".join(c["source"]))) for c in cells if c["cell_type"] == "markdown")
    return outputs + pictures


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name in ("id", "name") and value)


@functools.lru_cache(maxsize=None)
def ids_of(page: Path) -> frozenset:
    parser = _Ids()
    parser.feed(page.read_text())
    return frozenset(parser.ids)


@pytest.fixture(scope="module")
def server():
    if not (SITE / "README.html").exists():
        pytest.fail(f"{SITE} holds no built site: run `make book` (make test-browser does it first).")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):   # a missing file shows as a failed check, not as log noise
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def driver(server, tmp_path_factory):
    browser = _browser(tmp_path_factory.mktemp("profile"))
    yield browser
    browser.quit()


def test_the_front_page_is_the_readme(server, driver):
    driver.get(server)
    assert driver.current_url.endswith("README.html")
    assert "Transfer learning, measured" in driver.title


@pytest.mark.parametrize("page", list(sources()))
def test_every_page_loads_links_shows_its_images_and_tables(page, server, driver):
    from selenium.webdriver.common.by import By
    source = sources()[page]
    driver.get(server + page)
    assert driver.title and "404" not in driver.title, f"{page} did not load"
    article = driver.find_element(By.CSS_SELECTOR, "article")

    broken = []
    for href in {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href]")}:
        parts = urlsplit(href)
        if not href.startswith(server) or parts.path.endswith("/_sources/"):
            continue                                      # outside the site (none is fetched here)
        target = SITE / unquote(parts.path[len(urlsplit(server).path):] or "index.html")
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            broken.append(f"{href} (no such file)")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
            broken.append(f"{href} (no #{parts.fragment} on that page)")
    assert broken == [], f"{page}: links inside the site that lead nowhere: {broken}"

    images = article.find_elements(By.CSS_SELECTOR, "img")
    loaded = driver.execute_script("return arguments[0].filter(i => i.complete && i.naturalWidth > 0).length", images)
    assert len(images) == expected_images(source), f"{page}: {len(images)} images, its source has {expected_images(source)}"
    assert loaded == len(images), f"{page}: {len(images) - loaded} images did not load"

    if source.suffix == ".md":
        tables = len(article.find_elements(By.CSS_SELECTOR, "table"))
        assert tables == len(TABLE_RULE.findall(source.read_text())), f"{page}: tables not rendered as tables"
