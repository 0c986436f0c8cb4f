# Set-up and checks. `make demo` installs everything into .venv and runs the demo;
# `make test` installs the same and runs the test suite (CI runs exactly that).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The bundled model as ONNX in the checkout's models/, shared by every data dir made from
# this checkout: queries and builds never load torch, and the tests' servers start in a second.
MODEL_EXPORT := models/all-MiniLM-L6-v2-onnx/manifest.json

.PHONY: install browser demo test screenshots lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(MODEL_EXPORT): $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/copmatch --data-dir copmatch-data models export --out models

install: $(STAMP) $(MODEL_EXPORT)

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/copmatch --data-dir copmatch-data demo

# The browser tests drive Debian's chromium and chromium-driver (never a browser download).
# Installed here when missing and we are root; otherwise stop with the command to run.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium and chromium-driver for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium and chromium-driver. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y chromium chromium-driver"; \
	    exit 1; \
	  fi; \
	fi

test: install browser
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -n auto --dist loadgroup

# Re-take the pages' screenshots shown in the README (docs/screenshots/).
screenshots: install browser
	COPMATCH_SCREENSHOTS=docs/screenshots HF_HUB_OFFLINE=1 $(BIN)/pytest -q tests/web -k every_page

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) copmatch-data models/all-MiniLM-L6-v2-onnx
