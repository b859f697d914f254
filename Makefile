# One task runner for people and CI. `make run` serves; `make test` tests; `make check` lints.
VENV ?= .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test check clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first (from the local wheel), or pip resolves a CUDA build of GBs.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[st,eval,langchain,test]"
	touch $@

install: $(VENV)/.installed

# Serves the HTTP API; builds index/ from corpus/ first when it is missing.
run: install
	$(RAG) serve --host $(HOST) --port $(PORT)

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest

check: install
	$(VENV)/bin/ruff check rag tests
	$(VENV)/bin/ruff format --check rag tests
	$(VENV)/bin/mypy rag
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache
