# Two entry points (see README): `make report` runs the main job, `make test` the whole suite.
# Both create the virtual environment and install what is missing; with nothing missing the
# install step is skipped (its stamp is newer than pyproject.toml).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: report test lint

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

report: $(STAMP)
	$(VENV)/bin/sparsa report

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
