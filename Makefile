# Two entry points: `make run` (the demo, the main job) and `make test` (the whole suite; CI runs it).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt requirements-lambda.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck unit build bench golden browser clean

$(STAMP): requirements-dev.txt requirements-lambda.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

## the main job: build, deploy into an embedded AWS emulator, make a mess, run every family once, report
run: $(STAMP)
	$(BIN)/python -m automations demo

## the whole test suite: lint, type check, tests (CI runs exactly this through .ci/run)
test: $(STAMP) lint typecheck browser
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

## headless Chromium for the html report's browser test, installed where we can (root with apt-get, as in CI);
## elsewhere that test is skipped and says why
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
	  >/dev/null 2>&1 || echo "note: no chromium here: the html report's browser test is skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

build: $(STAMP)
	$(BIN)/python build.py

## regenerate tests/golden/files (rendered templates + manifest) after a deliberate change; commit the diff
golden: $(STAMP)
	$(BIN)/python -m tests.golden

bench: $(STAMP)
	$(BIN)/python bench/build_time.py

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache
