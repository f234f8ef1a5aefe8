"""The learner's path in a real browser: JupyterLab (what `make lab` starts) on localhost, driven
by Debian's headless Chromium through Selenium. Notebook 00 is opened, Run All Cells is chosen
from the command palette, and the test waits until every cell has run; then no cell may hold an
error and the figures must have rendered as images. A screenshot is kept in runs/browser/.

Chromium and ChromeDriver come from Debian (`make browser` installs them, as `make test` does);
where they cannot be installed the test is skipped and says why. Run it with `make test-browser`
(it runs notebook 00, about two minutes); `make test` runs it after the notebooks.
"""
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from conftest import JupyterLab

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_concepts.ipynb"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "runs" / "browser"
# Chromium's own background traffic finds no network here and would only add noise and delay.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]


def _browser(profile: Path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: `make browser` installs Debian's chromium and "
                    "chromium-driver (needs apt and root or sudo).")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (make install)")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def _settings(folder: Path) -> Path:
    """JupyterLab user settings for the test: every cell kept in the page (so all prompts can be
    read), and no news or update checks (no network here)."""
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}
                           }.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def _wait(condition, seconds: float, what: str, driver=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    if driver is not None:
        driver.save_screenshot(str(ARTIFACTS / "timeout.png"))
    pytest.fail(f"Timed out after {seconds:.0f} s waiting for {what}.")


def test_a_learner_runs_notebook_00_in_jupyterlab_and_sees_its_figures(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = _browser(tmp_path / "profile")
    # A copy without outputs: what the learner sees is what this run produced, and the course's
    # committed notebook is never saved over.
    lab_root = tmp_path / "course"
    lab_root.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, lab_root / NOTEBOOK.name)
    code_cells = sum(c.cell_type == "code" for c in notebook.cells)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(_settings(tmp_path / "settings"))}
    env.pop("TLCOURSE_PROGRESS", None)   # a learner sees the progress bars

    try:
        with JupyterLab(lab_root, env, tmp_path / "lab.log") as lab:
            driver.get(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
            cells = lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")
            _wait(lambda: len(cells()) == len(notebook.cells), 120, "the notebook to open", driver)
            _wait(lambda: lab.api("sessions") and all(
                lab.api(f"kernels/{s['kernel']['id']}")["execution_state"] == "idle" for s in lab.api("sessions")),
                120, "the kernel to start", driver)

            body = driver.find_element(By.TAG_NAME, "body")

            def run_all_item():
                """The palette's visible "Run All Cells" entry, opening the palette first. The palette's
                input exists in the page even while it is closed, and a key press sent before the app
                has focus opens nothing, so each attempt checks what is shown (a CI run once timed out)."""
                body.send_keys(Keys.ESCAPE)
                driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel").click()   # focus inside the app
                body.send_keys(Keys.CONTROL, Keys.SHIFT, "c")   # the command palette
                shown = [i for i in driver.find_elements(By.CSS_SELECTOR, ".lm-CommandPalette-input") if i.is_displayed()]
                if not shown:
                    return None
                shown[0].clear()
                shown[0].send_keys("Run All Cells")
                time.sleep(1)
                return [i for i in driver.find_elements(By.CSS_SELECTOR, ".lm-CommandPalette-item")
                        if i.is_displayed() and i.find_element(By.CSS_SELECTOR, ".lm-CommandPalette-itemLabel").text
                        == "Run All Cells"]
            _wait(run_all_item, 60, "'Run All Cells' in the command palette", driver)[0].click()

            def prompts():
                return [p.text for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]
            _wait(lambda: len(prompts()) == code_cells and all(p.strip("[]: ").isdigit() for p in prompts()),
                  900, "every cell to run", driver)

            images = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
            rendered = [i for i in images if driver.execute_script("return arguments[0].naturalWidth", i) > 0]
            if images:   # the screenshot shows the last figure, the data-efficiency curve
                driver.execute_script("arguments[0].scrollIntoView()", images[-1])
            driver.save_screenshot(str(ARTIFACTS / "00_concepts.png"))

            body.send_keys(Keys.CONTROL, "s")   # save, to read every output back from the file
            saved = lab_root / NOTEBOOK.name
            _wait(lambda: any(c.get("outputs") for c in nbformat.read(saved, as_version=4).cells), 60,
                  "the notebook to be saved", driver)
    finally:
        driver.quit()

    ran = nbformat.read(saved, as_version=4)
    errors = [(o.ename, o.evalue) for c in ran.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    figures = [o for c in ran.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    expected = sum("image/png" in o.get("data", {}) for c in nbformat.read(NOTEBOOK, as_version=4).cells
                   for o in c.get("outputs", []))
    assert len(figures) == expected >= 2, (len(figures), expected)
    assert len(rendered) >= expected, f"{len(rendered)} of {len(images)} images rendered in the page"
    shutil.copy(saved, ARTIFACTS / NOTEBOOK.name)
