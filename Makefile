# cnndsl — set-up and everyday commands.
#
#   make demo   create the virtualenv, install cnndsl, check + report + IR of the bundled ResNet-50
#   make test   create the virtualenv, install cnndsl with its test extras, run the default test suite
#
# Both work from a clean clone on a fresh machine (Python >= 3.10; packages come from pip's
# configured index). Installs are remembered by a stamp file keyed on a hash of pyproject.toml,
# so a second run skips pip entirely; edit pyproject.toml (or `make clean-venv`) to reinstall.
#
# Knobs: VENV=.venv (where the virtualenv lives), PYTHON=python3.11 (interpreter that creates it),
#        PYTEST_ARGS="-n 2" (extra pytest arguments), NET=resnet50 (network the demo shows).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3 || command -v python)
NET ?= resnet50
PYTEST_ARGS ?= -n 2
DEMO_OUT ?= out/demo

VPY := $(VENV)/bin/python
CNNDSL := $(VENV)/bin/cnndsl
# Stamp files are keyed on the content of pyproject.toml: any edit there forces a reinstall.
PYPROJECT_HASH := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP_BASE := $(VENV)/.cnndsl-base-$(PYPROJECT_HASH)
STAMP_TEST := $(VENV)/.cnndsl-test-$(PYPROJECT_HASH)

# Test dependencies. torch 2.13.0 is the CPU build on local disk; keep the pin.
TEST_EXTRAS := dev,onnx,tvm
TORCH_PIN := torch==2.13.0
# .cnn sources kept in `cnndsl fmt`'s layout (tests/fuzz/corpus keeps its reproducers verbatim)
FMT_PATHS := architectures tests/elaborate/examples

.PHONY: help demo demo-compile test test-all check-aarch64 fuzz lint wheel venv install install-test clean clean-venv

help:
	@echo "make demo      set up and run check + report + IR summary of the bundled $(NET)"
	@echo "make test      set up and run the default test suite (slow tests deselected)"
	@echo "make demo-compile  also compile $(NET) to ONNX and PyTorch and run the ONNX model (test extras)"
	@echo "make test-all  the whole test suite, slow tests included"
	@echo "make check-aarch64  cross-compile small, resnet18, mobilenet_v2 for aarch64, run them under qemu (root once: apt)"
	@echo "make fuzz      a 30-minute fuzz campaign (FUZZ_MINUTES=...), failing inputs in fuzz-failures/"
	@echo "make lint      ruff, and cnndsl fmt --check over the library and the example corpus"
	@echo "make fmt       format the library and the example corpus with cnndsl fmt"
	@echo "make wheel     build the wheel into dist/"
	@echo "make clean     remove build outputs; make clean-venv also removes $(VENV)"

# --- virtualenv ------------------------------------------------------------------------
# Reuse $(VENV) when its interpreter runs and has pip; otherwise (missing, or a broken
# copy from another machine) create it from scratch.
venv:
	@if ! "$(VPY)" -c "import pip" >/dev/null 2>&1; then \
	  echo "creating virtualenv $(VENV) with $(PYTHON)"; \
	  rm -rf "$(VENV)"; \
	  "$(PYTHON)" -m venv "$(VENV)"; \
	fi

$(STAMP_BASE): | venv
	"$(VPY)" -m pip install --quiet --upgrade pip "setuptools>=68" wheel
	"$(VPY)" -m pip install --quiet -e .
	rm -f $(VENV)/.cnndsl-base-*
	touch "$@"

$(STAMP_TEST): | venv
	"$(VPY)" -m pip install --quiet --upgrade pip "setuptools>=68" wheel
	"$(VPY)" -m pip install --quiet -e ".[$(TEST_EXTRAS)]" "$(TORCH_PIN)"
	rm -f $(VENV)/.cnndsl-test-* $(VENV)/.cnndsl-base-*
	touch "$@" "$(STAMP_BASE)"

install: $(STAMP_BASE)
install-test: $(STAMP_TEST)

# --- the two set-up commands -----------------------------------------------------------
demo: install
	@mkdir -p "$(DEMO_OUT)"
	@echo "== cnndsl check $(NET)"
	"$(CNNDSL)" check $(NET)
	@echo "== cnndsl report $(NET)"
	"$(CNNDSL)" report $(NET)
	@echo "== cnndsl ir $(NET) --format text (first 40 lines; full text in $(DEMO_OUT)/$(NET).ir.txt)"
	"$(CNNDSL)" ir $(NET) --format text > "$(DEMO_OUT)/$(NET).ir.txt"
	@head -n 40 "$(DEMO_OUT)/$(NET).ir.txt"
	@echo "... $$(wc -l < "$(DEMO_OUT)/$(NET).ir.txt") lines in all"

# The back half of the pipeline on the same network: needs the onnx/torch extras.
demo-compile: install-test
	@mkdir -p "$(DEMO_OUT)"
	"$(CNNDSL)" compile $(NET) --target onnx -o "$(DEMO_OUT)/$(NET).onnx"
	"$(CNNDSL)" compile $(NET) --target pytorch -o "$(DEMO_OUT)/$(NET).py"
	"$(VPY)" -c "import numpy as np; np.save('$(DEMO_OUT)/x.npy', np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype('float32'))"
	"$(CNNDSL)" run "$(DEMO_OUT)/$(NET).onnx" --input "$(DEMO_OUT)/x.npy" -o "$(DEMO_OUT)/y.npy"

test: install-test
	"$(VPY)" -m pytest $(PYTEST_ARGS)

test-all: install-test
	"$(VPY)" -m pytest $(PYTEST_ARGS) -m ""

# The llvm target cross-compiled for aarch64 (NEON) and run under qemu-aarch64 against the float64
# interpreter; the first run installs qemu-user, gcc-aarch64-linux-gnu and an arm64 Python + TVM runtime
# (apt-get as root, then ~/.cache/cnndsl/aarch64). AARCH64_NETS="small resnet18" picks networks.
AARCH64_NETS ?= small resnet18 mobilenet_v2
check-aarch64: install-test
	"$(VPY)" scripts/check_aarch64.py $(AARCH64_NETS)

# A long fuzz campaign (tests/fuzz/campaign.py): FUZZ_MINUTES of cases under a memory limit;
# failing inputs are saved to fuzz-failures/ and the exit status is 1.
FUZZ_MINUTES ?= 30
fuzz: install-test
	"$(VPY)" tests/fuzz/campaign.py --minutes $(FUZZ_MINUTES) --out fuzz-failures

lint: install-test
	"$(VENV)/bin/ruff" check cnndsl backends tests bench scripts
	"$(CNNDSL)" fmt --check $(FMT_PATHS)

fmt: install
	"$(CNNDSL)" fmt $(FMT_PATHS)

wheel: install-test
	"$(VPY)" -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf build dist out/demo .pytest_cache *.egg-info

clean-venv: clean
	rm -rf "$(VENV)"
