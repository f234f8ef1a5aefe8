# The course's commands. `make help` lists them. Every target installs what it
# needs into .venv on first use, and is quick when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODE ?= offline
OUT := runs/$(MODE)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%,$(OUT)/%,$(NOTEBOOKS))
# Worked solutions to each notebook's exercises: executed and tested like the notebooks.
SOLUTIONS := $(sort $(wildcard solutions/[0-9][0-9]_*.ipynb))
SOLVED := $(patsubst solutions/%,$(OUT)/solutions/%,$(SOLUTIONS))
LIBRARY := $(wildcard tlcourse/*.py tlcourse/*/*.py)

# One thread policy for notebooks and tests alike (stored outputs reproduce only
# under the thread count that made them). Unattended runs hide progress bars,
# which nbval cannot replay.
export TLCOURSE_THREADS ?= 2
# One precision policy likewise (tlcourse/runtime.py; README, "Precision"): the committed
# outputs are made with `auto` (bfloat16 where this CPU computes it natively and it measured faster).
export TLCOURSE_PRECISION ?= auto
NOBAR := TLCOURSE_PROGRESS=0

# The whole stack at the versions that produced the committed outputs (requirements-lock.txt,
# written by `make lock`). LOCK=none installs only pyproject.toml's direct pins: the fallback
# for a platform the lock cannot serve.
LOCK ?= requirements-lock.txt

.PHONY: help install lock check-machine run notebooks evidence test test-unit test-notebooks test-browser browser book guide benchmark lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with the locked course stack (uv, else pip; the sources of the machine's pip config)

$(STAMP): pyproject.toml requirements-lock.txt requirements-nodeps.txt tools/install.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# uv where it can be had (runs/uv), else pip; both compile bytecode at install time
	# (where PYTHONDONTWRITEBYTECODE is set, without .pyc files `import torch` takes several times longer).
	$(PYTHON) tools/install.py $(BIN)/python $(LOCK)
	touch $@

# After changing pyproject.toml's pins: `make install LOCK=none` (pip moves what the new pins need),
# regenerate the outputs (make notebooks), then `make lock` freezes that environment. It does not
# depend on install, which would first put the old lock back.
lock:  ## rewrite requirements-lock.txt from .venv as it is (after new pins: make install LOCK=none, make notebooks)
	test -x $(BIN)/python || { echo "make lock: no .venv; run make install first"; exit 1; }
	$(PYTHON) tools/lock.py $(BIN)/python

# Exit 3 (another kind of processor or torch build) is not an error: the notebooks still run, and
# test-notebooks skips only the digit-for-digit comparison; with STRICT=1 it is an error too.
# A setting that differs is always an error.
check-machine: $(STAMP)  ## can this machine reproduce the committed outputs (precision, threads, CPU, torch)?
	@$(BIN)/python -m tlcourse.maintain.run --check-machine $(NOTEBOOKS) $(SOLUTIONS) || [ $$? -eq 3 -a -z "$(STRICT)" ]

run: $(OUT)/results.csv $(SOLVED)  ## execute every notebook, then the solutions, with papermill (MODE=offline); writes runs/MODE/results.csv

$(OUT)/results.csv: $(EXECUTED)
	$(BIN)/python -m tlcourse.maintain.run --collect $(OUT)

# Notebooks run one at a time: two torch processes on two cores stall each other.
.NOTPARALLEL:
$(OUT)/%.ipynb: notebooks/%.ipynb $(LIBRARY) $(STAMP)
	$(NOBAR) $(BIN)/python -m tlcourse.maintain.run --mode $(MODE) --out $(OUT) $<

# Solutions read the caches the notebooks fill, so they run after them.
$(OUT)/solutions/%.ipynb: solutions/%.ipynb $(LIBRARY) $(STAMP) | $(OUT)/results.csv
	$(NOBAR) $(BIN)/python -m tlcourse.maintain.run --mode $(MODE) --out $(OUT)/solutions $<

notebooks: $(STAMP)  ## regenerate the committed notebook and solution outputs (offline papermill run, in place)
	$(NOBAR) $(BIN)/python -m tlcourse.maintain.run --inplace $(NOTEBOOKS) $(SOLUTIONS)

# Not part of make test (it takes about 50 minutes); the tests read the files it writes. The
# default run of each notebook is the committed notebook, executed in place.
evidence: $(STAMP)  ## every notebook five times, one seed (or seed set) each, one at a time: evidence/*.csv; NOTEBOOKS="02 05" for some
	$(NOBAR) $(BIN)/python -m tlcourse.maintain.evidence $(NOTEBOOKS)

test: check-machine test-unit test-notebooks test-browser  ## unit tests, papermill + nbval on every notebook, then the browser test

test-unit: $(STAMP)  ## fast tests of the library and of the notebooks' recorded claims
	$(BIN)/python -m pytest -q

test-notebooks: check-machine run  ## papermill (make run): figures as committed? then nbval against the committed outputs
	@if $(BIN)/python -m tlcourse.maintain.run --check-machine --quiet $(NOTEBOOKS) $(SOLUTIONS); then \
		$(BIN)/python -m tlcourse.maintain.run --compare $(OUT) $(NOTEBOOKS) && \
		$(NOBAR) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
			--nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout 600 $(NOTEBOOKS) $(SOLUTIONS); \
	else echo "test-notebooks: every notebook and solution ran without error (make run); on this machine their" \
		"outputs are not compared with the committed ones digit for digit (make check-machine says why)"; fi

test-browser: $(STAMP) browser book  ## in headless Chromium: JupyterLab runs notebook 00 (screenshot in runs/browser/), then every page of the website
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser tests/test_browser.py tests/test_book.py

book: $(STAMP)  ## the course as a website in runs/book (README first, then the executed notebooks, solutions and guide; nothing re-run)
	$(BIN)/sphinx-build -q -W --keep-going -c book -b html . runs/book
	@echo "make book: open runs/book/index.html"

# Debian's Chromium and ChromeDriver (a test tool's own browser download cannot work offline).
# Where apt cannot run, the browser test is skipped and says why.
browser:  ## install Debian's chromium and chromium-driver for the browser test (apt, as root or with sudo)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
		echo "make browser: neither root nor sudo: Chromium not installed, the browser test will skip"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "make browser: no apt-get: the browser test will skip"; exit 0; fi; \
	echo "make browser: installing Debian's chromium and chromium-driver"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver \
		>/dev/null || echo "make browser: apt-get failed: the browser test will skip"

guide: run  ## the instructor guide's timing table from this machine's make run (kept in docs/timings.csv)
	cp $(OUT)/results.csv docs/timings.csv
	$(BIN)/python -m tlcourse.maintain.guide docs/timings.csv docs/instructor_guide.md

# One at a time (two torch jobs side by side stall each other). The ELPV runs are saved one by one
# and skipped when saved, so a stopped `make benchmark` goes on where it stopped.
benchmark: $(STAMP)  ## the README's benchmarks: backbones (~25 min), ELPV's screen and five splits (hours; resumable), throughput (~3 min)
	$(BIN)/python benchmarks/backbones.py
	$(BIN)/python benchmarks/elpv_deitsch.py screen
	$(BIN)/python benchmarks/elpv_deitsch.py run
	$(BIN)/python benchmarks/elpv_deitsch.py summary
	$(BIN)/python benchmarks/throughput.py

# From the repository root, so notebooks/ and solutions/ link to each other. The environment's
# own `python3` kernel wins over one a learner may have in their home folder (tests/test_lab.py).
# Jupyter refuses to run as root (a container's usual user) unless told. LAB_ARGS: more options.
lab: $(STAMP)  ## open JupyterLab on the course with its kernel
	JUPYTER_PREFER_ENV_PATH=$${JUPYTER_PREFER_ENV_PATH:-1} \
		$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

clean:  ## remove executed copies (keeps .venv and the dataset cache)
	rm -rf runs
