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
LIBRARY := $(wildcard tlcourse/*.py)

# One thread policy for notebooks and tests alike (stored outputs reproduce only
# under the thread count that made them). Unattended runs hide progress bars,
# which nbval cannot replay.
export TLCOURSE_THREADS ?= 2
NOBAR := TLCOURSE_PROGRESS=0

.PHONY: help install run notebooks test test-unit test-notebooks guide benchmark lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with the pinned course stack (pip, the machine's own pip config)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip compiles bytecode at install time (this matters where PYTHONDONTWRITEBYTECODE is set:
	# without .pyc files `import torch` takes several times longer).
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]' 2> >(grep -v "is ignored: it is neither" >&2)
	touch $@

run: $(OUT)/results.csv  ## execute every notebook with papermill (MODE=offline) and write runs/MODE/results.csv

$(OUT)/results.csv: $(EXECUTED)
	$(BIN)/python -m tlcourse.run --collect $(OUT)

# Notebooks run one at a time: two torch processes on two cores stall each other.
.NOTPARALLEL:
$(OUT)/%.ipynb: notebooks/%.ipynb $(LIBRARY) $(STAMP)
	$(NOBAR) $(BIN)/python -m tlcourse.run --mode $(MODE) --out $(OUT) $<

notebooks: $(STAMP)  ## regenerate the committed notebook outputs (offline papermill run, in place)
	$(NOBAR) $(BIN)/python -m tlcourse.run --inplace $(NOTEBOOKS)

test: test-unit test-notebooks  ## unit tests, then papermill + nbval on every notebook

test-unit: $(STAMP)  ## fast tests of the library and of the notebooks' recorded claims
	$(BIN)/python -m pytest -q

test-notebooks: run  ## papermill (make run): figures as committed? then nbval against the committed outputs
	$(BIN)/python -m tlcourse.run --compare $(OUT) $(NOTEBOOKS)
	$(NOBAR) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout 600 $(NOTEBOOKS)

guide: run  ## the instructor guide's timing table from this machine's make run (kept in docs/timings.csv)
	cp $(OUT)/results.csv docs/timings.csv
	$(BIN)/python -m tlcourse.guide docs/timings.csv docs/instructor_guide.md

benchmark: $(STAMP)  ## the README's benchmarks: ELPV's published protocol (~30 min), then throughput (~3 min)
	$(BIN)/python benchmarks/elpv_deitsch.py
	$(BIN)/python benchmarks/throughput.py

lab: $(STAMP)  ## open JupyterLab on the course with its kernel
	$(BIN)/jupyter lab notebooks

clean:  ## remove executed copies (keeps .venv and the dataset cache)
	rm -rf runs
