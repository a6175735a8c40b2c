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

# the whole DVC DAG on the embedded default, every stage an MLflow run under one parent
run: setup
	$(BIN)/voxflow repro

# Debian's Chromium for the browser tests (tests/listen/test_browser.py); never `playwright
# install`, which downloads a browser of its own. Needs root; where it cannot be installed the
# browser tests skip (and fail under CI=true, whose .ci/run installs it first).
/usr/bin/chromium:
	-apt-get update -qq && apt-get install -y -qq chromium

test: setup /usr/bin/chromium
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) data/corpora data/manifests
