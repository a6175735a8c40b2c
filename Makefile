# Two entry points for a fresh machine with Python 3.11 and pip:
#   make run    set up .venv and run the main job on the embedded default
#   make test   set up .venv (and, as root, Debian's chromium) and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "voxflow needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# the whole DVC DAG on the embedded default, every stage an MLflow run under one parent; CORES=N
# runs stages at once on N cores, each taking its torch threads (README, "The pipeline: DVC
# locally")
CORES ?= 1
run: setup
	$(BIN)/voxflow repro --cores $(CORES)

# Debian's Chromium for the browser tests (tests/listen/test_browser.py); never `playwright
# install`, which downloads a browser of its own. Needs root; where it cannot be installed the
# browser tests skip (and fail under CI=true, whose .ci/run installs it first).
/usr/bin/chromium:
	-apt-get update -qq && apt-get install -y -qq chromium

# two workers (pytest-xdist), one test module at a time each, the longest end-to-end runs first
# (tests/conftest.py): most of a stage's start is single-threaded imports and DVC's bookkeeping,
# which the other worker overlaps; each worker computes on one torch thread
test: setup /usr/bin/chromium
	$(BIN)/pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=15

bench: setup
	$(BIN)/python benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) data/corpora data/manifests
