# One entry point for tooling; CI (.ci/run) calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# the suite on every CPU (pytest-xdist); PYTEST_WORKERS=0 runs it in one process
PYTEST_WORKERS ?= auto

.PHONY: venv install test test-sqlite lint types docs demo bench clean constraints catalogues messages print-check

$(BIN)/resv: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(BIN)/resv

venv install: $(BIN)/resv catalogues

## catalogues: compile the Japanese message catalogues (resv_cli/locale/ja/*.po -> resv.mo)
MO := resv_cli/locale/ja/LC_MESSAGES/resv.mo
catalogues: $(MO)
$(MO): $(wildcard resv_cli/locale/ja/*.po) scripts/catalogues.py | $(BIN)/resv
	$(BIN)/python scripts/catalogues.py compile

## messages: add new user-facing strings of the code to the .po files (then translate them)
messages: $(BIN)/resv
	$(BIN)/python scripts/catalogues.py update

## test: the whole suite on SQLite and on a throwaway PostgreSQL (required under CI=true)
test: $(BIN)/resv $(MO)
	$(BIN)/lint-imports
	scripts/with-postgres.sh $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## test-sqlite: quick run without PostgreSQL
test-sqlite: $(BIN)/resv $(MO)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --backend sqlite $(PYTEST_ARGS)

lint: $(BIN)/resv
	$(BIN)/ruff check resv_cli commands tests bench
	$(BIN)/lint-imports

types: $(BIN)/resv
	$(BIN)/python -m pip install -q -c constraints.txt mypy
	$(BIN)/mypy resv_cli commands

## docs: regenerate docs/cli-reference.md and schema.sql from the code
docs: $(BIN)/resv
	$(BIN)/python -m resv_cli.commands.docgen > docs/cli-reference.md
	$(BIN)/resv db schema --dialect postgresql > schema.sql

## demo: the main job end to end on a SQLite file, outputs under demo-out/
demo: $(BIN)/resv $(MO)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

## bench: benchmarks as ratios against baselines measured in the same run
bench: $(BIN)/resv $(MO)
	scripts/with-postgres.sh $(BIN)/python bench/run_all.py

## print-check: a demo monthly report printed through LibreOffice headless: PDF and page
## images in $(PRINT_DIR)/ (DOCS_IMG=docs/img also refreshes the monitor guide's pictures)
PRINT_DIR ?= print-check
print-check: $(BIN)/resv $(MO)
	PYTHON=$(BIN)/python bash scripts/print_check.sh $(PRINT_DIR)

## constraints: re-pin constraints.txt to what the venv holds (after changing dependencies)
constraints: $(BIN)/resv
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^-e\|^resv\|^pip=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf build dist *.egg-info demo-out .pytest_cache
