# Entry points that work on a fresh machine (Linux, Python >= 3.9 with venv, make).
# Each target creates the virtual environment .venv (VENV) if it is missing, installs what
# it needs into it, and runs.  Nothing is installed outside it.
#
#   make run     install nbray with the jupyter extra, run the quick-start notebook
#                headless and print it with its results
#   make lab     the same install plus JupyterLab, then open notebooks/ interactively
#                (as root too: it passes --allow-root then, which jupyter lab wants)
#   make docs    install nbray with the jupyter extra plus Sphinx, MyST-NB and Furo, and build
#                docs/ into docs/_build/html with warnings as errors, executing the tutorials
#   make test    install nbray with the test and jupyter extras, run the whole test suite
#                (what CI runs, through .ci/run)
#   make bench   install nbray, run every benchmarks/*.py; output in benchmarks/results/
#
# Variables: PYTHON (interpreter that creates the venv), VENV, NOTEBOOK, PYTEST_ARGS,
# BENCH_ARGS.  `make clean` removes the venv and build leftovers.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
NOTEBOOK ?= notebooks/01-quickstart.ipynb
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help run lab docs test bench clean

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# nbconvert runs the notebook on the venv's python3 kernel (ipykernel) and prints it as
# Markdown: each cell's code, then its output as plain text.
run: $(BIN)/python
	$(PIP) install -e '.[jupyter]' nbconvert
	$(BIN)/jupyter nbconvert --to markdown --execute --stdout \
	    --NbConvertBase.display_data_priority=text/plain $(NOTEBOOK)

# jupyter lab refuses to run as root unless told --allow-root (containers often run as root).
lab: $(BIN)/python
	$(PIP) install -e '.[jupyter]' jupyterlab
	if [ "$$(id -u)" = 0 ]; then allow_root=--allow-root; else allow_root=; fi; \
	    $(BIN)/jupyter lab $$allow_root notebooks/

# The same build tests/docs/test_docs.py checks (the test extra pins the same tools); the
# tutorials are the notebooks of notebooks/, executed on the venv's python3 kernel.
docs: $(BIN)/python
	$(PIP) install -e '.[jupyter]' 'sphinx>=7' 'myst-nb>=1.0' 'furo>=2024.1'
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "built: docs/_build/html/index.html"

# pytest's exit status is make's: a failure, or no test collected (5), fails the target.
test: $(BIN)/python
	$(PIP) install -e '.[test,jupyter]'
	@# Browser tests drive Debian's chromium (a browser download cannot work here).
	@command -v chromium >/dev/null || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else echo "note: chromium is not installed; browser tests will be skipped"; fi; }
	@# The multi-node test with a real second address uses a network namespace (iproute2).
	@command -v ip >/dev/null || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; \
	    else echo "note: iproute2 is not installed; the network-namespace test will be skipped"; fi; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks compare with Ray where it is installed in the venv ($(BIN)/pip install ray).
bench: $(BIN)/python
	$(PIP) install -e .
	mkdir -p benchmarks/results
	for script in benchmarks/*.py; do \
	    name=$$(basename "$$script" .py); \
	    echo "== $$script"; \
	    $(BIN)/python "$$script" $(BENCH_ARGS) | tee "benchmarks/results/$$name.txt"; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache docs/_build
