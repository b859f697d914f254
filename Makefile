# One task runner for people and CI. `make run` serves; `make test` tests; `make check` lints.
VENV ?= .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
Q ?= Qui est le maire de Hangzhou ?

.PHONY: install run index test check clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first (from the local wheel), or pip resolves a CUDA build of GBs.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[st,test]"
	touch $@

install: $(VENV)/.installed

index/manifest.json:
	$(MAKE) install
	$(RAG) index

run: install index/manifest.json
	$(RAG) search "$(Q)"

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest

check: install
	$(VENV)/bin/ruff check rag tests
	$(VENV)/bin/ruff format --check rag tests
	$(VENV)/bin/mypy rag

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache
