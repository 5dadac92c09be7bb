# Two commands do everything on a fresh machine:
#   make demo   - install, start embedded PostgreSQL + Redis, a Celery worker, seed and serve the shop
#   make test   - install and run the whole test suite and build the docs
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ADDR ?= 127.0.0.1:8000

.PHONY: demo test screenshots install benchmarks benchmark-latency clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The demo catalogue: the photos committed in shop/demo_photos/, unless SOURCE=<folder of photos> is given.
demo: install
	$(BIN)/python manage.py demo --addr $(ADDR) $(if $(SOURCE),--source $(SOURCE))

# The main suite, then visual_search.contrib.oscar against django-oscar under its own settings and database,
# then the docs site (a broken link or a page missing from mkdocs.yml's nav fails it).
test: install
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest tests/contrib/oscar --ds tests.contrib.oscar.settings
	$(BIN)/mkdocs build --strict --site-dir .site

# tests/browser install Debian's Chromium when it is missing; this also writes their screenshots to docs/images.
screenshots: install
	VISUAL_SEARCH_SCREENSHOTS=docs/images $(BIN)/python -m pytest tests/browser

benchmarks: install
	$(BIN)/python benchmarks/encoder.py
	$(BIN)/python benchmarks/retrieval.py

# About 15 minutes on 2 idle cores (100,000 products from real clothing-small vectors); see docs/benchmarks.md.
benchmark-latency: install
	$(BIN)/python benchmarks/search_latency.py

clean:
	rm -rf $(VENV) .data
