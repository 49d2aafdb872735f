# Two commands do all the set-up: `make train` (the quick AlexNet run) and `make test`.
# Environments: .venv holds PyTorch, TensorFlow and JAX (numpy 2); .venv-mxnet holds MXNet
# (numpy 1.23, Python <= 3.11). Both are created on first use.

PYTHON ?= python3
VENV := .venv
MXVENV := .venv-mxnet
PY := $(VENV)/bin/python
MXPY := $(MXVENV)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check
# MXNet needs Python <= 3.11: take the first such interpreter found.
MXNET_PYTHON ?= $(shell for p in $(PYTHON) python3.11 python3.10; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info >= (3, 12))' \
	2>/dev/null && { echo $$p; break; }; done)

.PHONY: setup mxnet-env train test chapter notebooks notebooks-generate book clean
# A notebook run that fails leaves no executed copy that make would take as done.
.DELETE_ON_ERROR:

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints/ci.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints/ci.txt -e '.[torch,tensorflow,jax,tensorboard,test,book,docs]'
	@# The book's own d2l package, for the interop tests: without its pins (numpy==1.23.5...).
	$(PY) -m pip install $(PIP_FLAGS) --no-deps -c constraints/ci.txt d2l
	touch $@

mxnet-env: $(MXVENV)/.installed

$(MXVENV)/.installed: pyproject.toml constraints/mxnet.txt
	@if [ -z "$(MXNET_PYTHON)" ]; then \
		echo "MXNet 1.9.1 needs Python 3.11 or older (numpy<1.24); none found: set MXNET_PYTHON=/path/to/python3.11"; \
		exit 1; fi
	$(MXNET_PYTHON) -m venv $(MXVENV)
	$(MXPY) -m pip install $(PIP_FLAGS) -c constraints/mxnet.txt -e '.[mxnet,tensorboard,test,book]'
	$(MXPY) -m pip install $(PIP_FLAGS) --no-deps -c constraints/mxnet.txt d2l
	touch $@

# The main job: a short, real training of the chapter's AlexNet (PyTorch) on Fashion-MNIST at
# 224×224, a few minutes on 2 CPU cores. The full chapter run: see README. bf16 where the CPU
# computes it natively (AMX, AVX-512 BF16), fp32 where it would be emulated and far slower.
train: setup
	$(PY) -m d2l_alexnet.train --backend pytorch --epochs 2 --batch-size 32 --limit-train 4096 --limit-val 1024 \
		--precision $$($(PY) -c 'from d2l_alexnet.core.hardware import cpu_precision; print(cpu_precision())') \
		--out runs/quick

# The full chapter settings (10 epochs, all 60,000 images): hours on a CPU, minutes on a GPU.
chapter: setup
	$(PY) -m d2l_alexnet.train --backend pytorch --out runs/chapter

# Every suite, each backend in its own process (frameworks clash in one process).
test: setup
	@if [ -n "$(MXNET_PYTHON)" ]; then $(MAKE) --no-print-directory mxnet-env; fi
	$(PY) tools/run_tests.py --python $(PY) --mxnet-python "$(if $(MXNET_PYTHON),$(MXPY))"

# Execute every notebook in the reader's quick mode, each chapter notebook held to 0.4 validation
# accuracy (4× chance; measured 0.64-0.71); outputs are never written into notebooks/. make test
# runs them in the smoke mode instead, which only shows that every cell works.
notebooks: setup
	$(PY) tools/run_notebooks.py --backend pytorch tensorflow jax --min-val-acc 0.4
	@if [ -n "$(MXNET_PYTHON)" ]; then $(MAKE) --no-print-directory mxnet-env && \
		$(MXPY) tools/run_notebooks.py --python $(MXPY) --backend mxnet --min-val-acc 0.4; fi

# Rebuild the ten notebooks from the chapter's Markdown sources in chapter/.
notebooks-generate: setup
	$(PY) tools/build_notebooks.py

# The chapter as a web page, English and Indonesian, in build/book/html/{en,id}/index.html:
# every notebook executed (BOOK_MODE=auto: the quick run on a CPU, the chapter's full run on a
# GPU; smoke: the shortest run, for a fast build), then merged into one page with a tab per
# framework. Executed notebooks newer than their sources are reused. Without a Python <= 3.11
# the page has no MXNet tab.
BOOK_MODE ?= auto
BOOK_EXECUTED := build/book/executed/$(BOOK_MODE)
BOOK_SOURCES := $(wildcard notebooks/*.ipynb notebooks/id/*.ipynb)
ifeq ($(MXNET_PYTHON),)
BOOK_SOURCES := $(filter-out %alexnet-mxnet.ipynb,$(BOOK_SOURCES))
endif

book: $(patsubst notebooks/%,$(BOOK_EXECUTED)/%,$(BOOK_SOURCES)) | setup
	$(PY) tools/build_book.py --executed $(BOOK_EXECUTED) --out build/book

# The Python a notebook's kernel runs: MXNet's environment for the MXNet notebooks.
book_python = $(if $(findstring mxnet,$1),$(MXPY),$(PY))

$(BOOK_EXECUTED)/%.ipynb: notebooks/%.ipynb | setup
	$(if $(findstring mxnet,$*),$(MAKE) --no-print-directory mxnet-env)
	$(call book_python,$*) tools/run_notebooks.py --python $(call book_python,$*) \
		--mode $(BOOK_MODE) --executed-dir $(BOOK_EXECUTED) $<

clean:
	rm -rf $(VENV) $(MXVENV) runs build .pytest_cache
