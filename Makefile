# One task runner for people and CI. `make run` serves; `make test` tests; `make check` lints.
VENV ?= .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
# Empty by default, so that RAG_HOST and RAG_PORT (or their defaults) apply: `make run PORT=9000`
# and `RAG_PORT=9000 make run` both work.
HOST ?=
PORT ?=
# More pytest arguments for `make test` and `make test-fast`: `make test PYTEST_ARGS="-k eval"`.
PYTEST_ARGS ?=
# pytest-xdist's processes for `make test`: two cores, one module each at a time (a module's
# fixtures are made once). `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0,$(TEST_WORKERS)), -n $(TEST_WORKERS) --dist loadfile)

.PHONY: install install-dev browser handbook documents run test test-fast check clean

# The service alone: its runtime dependencies (no torch, no test tools).
$(VENV)/.installed-run: pyproject.toml
	@echo "rag: installing the service into $(VENV) (about 1 minute the first time)"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Everything the tests need on top: sentence-transformers with a CPU torch, LangChain, Ray Data,
# Playwright, the test and lint tools.
$(VENV)/.installed-dev: $(VENV)/.installed-run
	@echo "rag: installing the test tools and a CPU build of torch (about 3 minutes the first time)"
	# The CPU build of torch first (from the local wheel), or pip resolves a CUDA build of GBs.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[st,eval,langchain,ray,e5,test]"
	touch $@

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

# Debian packages the tests use, installed when one of the paths they install is missing:
# $(call debian,<paths they install>,<packages>,<why>)
define debian
	@missing=; for path in $(1); do [ -e $$path ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "rag: installing Debian's $(2) for $(3) (about 1 minute)"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2); \
		else \
			echo "rag: $(3) need Debian's $(2): sudo apt-get install $(2)"; \
			exit 1; \
		fi; \
	fi
endef

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
browser:
	$(call debian,$(CHROMIUM),chromium,the browser tests)

# eval/bench_scale.py's haystack is the Debian Administrator's Handbook in French and English.
handbook:
	$(call debian,/usr/share/doc/debian-handbook/html/fr-FR,debian-handbook,eval/bench_scale.py and its test)

# The document tests make real PDF and Word files with LibreOffice, scan them with poppler and
# img2pdf, and read scans with Tesseract.
TESSDATA := /usr/share/tesseract-ocr/5/tessdata
documents:
	$(call debian,/usr/bin/soffice /usr/bin/pdftoppm /usr/bin/img2pdf $(TESSDATA)/fra.traineddata \
		$(TESSDATA)/eng.traineddata,libreoffice-writer-nogui poppler-utils img2pdf tesseract-ocr-fra \
		tesseract-ocr-eng,the document tests)

# Serves the HTTP API; builds index/ from corpus/ first when it is missing.
run: install
	@echo 'the rag command is $(VENV)/bin/rag (or: source $(VENV)/bin/activate, then rag --help)'
	$(RAG) serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: install-dev browser handbook documents
	HF_HUB_OFFLINE=1 $(PY) -m pytest$(XDIST)$(if $(PYTEST_ARGS), $(PYTEST_ARGS))

# The tests that start no server, browser or Ray cluster: about 2 minutes.
test-fast: install-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest$(XDIST) -m "not slow"$(if $(PYTEST_ARGS), $(PYTEST_ARGS))

check: install-dev
	$(VENV)/bin/ruff check rag tests
	$(VENV)/bin/ruff format --check rag tests
	$(VENV)/bin/mypy rag
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache .hypothesis .schemathesis
