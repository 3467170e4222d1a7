# Two entry points: `make run` (a batch into the local lake, then the top 10) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/python -m scripts run
	$(BIN)/python -m scripts rank --limit 10

test: $(VENV)/.test
	$(BIN)/ruff check scripts tests
	$(BIN)/ruff format --check scripts tests
	$(BIN)/python -m pytest -q

lint: $(VENV)/.test
	$(BIN)/ruff check --fix scripts tests
	$(BIN)/ruff format scripts tests

clean:
	rm -rf $(VENV) results/lake results/spool results/cache
