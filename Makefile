# Entry points: `make run` (a batch into the local lake, then the top 10), `make test`, and
# `make bench` (sweeplake against its peers; needs the development requirements).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean lambda-package

# The project itself is installed editable: the `sweeplake` command runs this repository's files.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

$(VENV)/.dev: $(VENV)/.test requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/sweeplake run
	$(BIN)/sweeplake rank --limit 10

test: $(VENV)/.test
	$(BIN)/ruff check scripts tests bench
	$(BIN)/ruff format --check scripts tests bench
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: $(VENV)/.dev
	$(BIN)/python -m bench.bench

# The Lambda deployment package (deploy/lambda_package.py says what is in it, and why a zip).
# Its interpreter compiles the modules ahead: the runtime's Python, python3.12 (pyenv's if any).
LAMBDA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
LAMBDA_PACKAGE := build/sweeplake-lambda.zip
lambda-package: $(LAMBDA_PACKAGE)

$(LAMBDA_PACKAGE): $(VENV)/.runtime requirements-lambda.txt deploy/lambda_package.py \
		$(shell find scripts/sweeplake -type f \( -name '*.py' -o -name '*.json' -o -name '*.sql' \))
	$(BIN)/python deploy/lambda_package.py $@ --python $(LAMBDA_PYTHON)

lint: $(VENV)/.test
	$(BIN)/ruff check --fix scripts tests bench
	$(BIN)/ruff format scripts tests bench

clean:
	rm -rf $(VENV) *.egg-info results/lake results/spool results/cache build/sweeplake-lambda*
