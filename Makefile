# lipnb: two commands do everything on a fresh clone.
#   make reproduce   execute the stale notebooks, write results/ and the rendered .ipynb
#   make test        run the test suite (unit tests + notebook smoke runs), then the unit
#                    tests of lipnb's layers, penalties, constraints, norms, conv, bounds,
#                    attacks, training, data, models, GANs and metrics on JAX
# Both create .venv first when it is missing or stale.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
SEED ?= 0
# The suites `make test` runs a second time on Keras's JAX backend (TensorFlow-only tests skip themselves).
JAX_TESTS := tests/test_layers.py tests/test_penalties.py tests/test_constraints.py tests/test_norms.py \
             tests/test_conv.py tests/test_bounds.py tests/test_attacks.py tests/test_training.py \
             tests/test_data.py tests/test_models.py tests/test_gan.py tests/test_metrics.py tests/test_dcgan.py \
             tests/test_operators.py tests/test_certify.py tests/test_validation.py

# TensorFlow build: the CUDA one where nvidia-smi works, else the CPU one.
# Override with `make TF_PACKAGE=... <target>`; the version comes from constraints.txt.
ifeq ($(shell nvidia-smi >/dev/null 2>&1 && echo gpu),gpu)
TF_PACKAGE ?= tensorflow[and-cuda]
else
TF_PACKAGE ?= tensorflow-cpu
endif

# Keep Jupyter, IPython, Keras and matplotlib state out of the home folder.
STATE := $(CURDIR)/build/state
export JUPYTER_DATA_DIR := $(STATE)/jupyter-data
export JUPYTER_CONFIG_DIR := $(STATE)/jupyter-config
export JUPYTER_RUNTIME_DIR := $(STATE)/jupyter-runtime
export IPYTHONDIR := $(STATE)/ipython
export KERAS_HOME := $(STATE)/keras
export MPLCONFIGDIR := $(STATE)/matplotlib
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The stamp records what the venv was built from; any change rebuilds it.
STAMP := $(VENV)/.lipnb-stamp
STAMP_WANT := $(TF_PACKAGE) $(shell cat requirements.txt constraints.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(STAMP_WANT))
.PHONY: $(STAMP)
endif

# The site tests drive Debian's Chromium; install it where it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help venv browser reproduce render test test-torch bench lab clean

help:
	@echo "make reproduce [PROFILE=quick|smoke|full]   execute stale notebooks, write results/"
	@echo "make reproduce SEED=1 [PROFILE=...]         the same with another seed, into build/seed-1/"
	@echo "make render [PROFILE=...]                   build the static HTML site into build/site/"
	@echo "make test                                   run the tests"
	@echo "make test-torch                             the backend suites on PyTorch (installs torch into build/torch-site)"
	@echo "make bench                                  run the benchmarks, update the README tables"
	@echo "make lab                                    open the notebooks in JupyterLab (lipnb kernel, paired .py/.ipynb)"

venv: $(STAMP)

$(STAMP):
	@echo "== setting up $(VENV) with $(TF_PACKAGE)"
	@mkdir -p $(STATE)  # IPYTHONDIR and friends point here; the kernel install warns if it is missing
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -r requirements.txt "$(TF_PACKAGE)"
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name lipnb --display-name "Python (lipnb)" >/dev/null
	@echo "$(STAMP_WANT)" > $(STAMP)

reproduce: $(STAMP)
	@mkdir -p $(STATE)
	$(PY) tools/reproduce.py --profile $(PROFILE) --seed $(SEED)

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "== installing Debian's chromium and chromium-driver for the site tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

render: $(STAMP)
	@mkdir -p $(STATE)
	$(PY) tools/render_site.py --profile $(PROFILE)

test: $(STAMP) browser
	@mkdir -p $(STATE)
	$(PY) -m ruff check lipnb tools tests benchmarks notebooks
	$(PY) -m pytest -q --doctest-modules lipnb
	$(PY) -m pytest -q -n 2
	KERAS_BACKEND=jax $(PY) -m pytest -q -n 2 $(JAX_TESTS)

# PyTorch is an optional extra, kept out of the pinned environment (it is large): it goes
# into its own folder, with the small packages it needs that the environment lacks.
TORCH_SITE := build/torch-site
test-torch: $(STAMP)
	@mkdir -p $(STATE)
	@test -d $(TORCH_SITE)/torch || $(PY) -m pip install -q --no-deps --target $(TORCH_SITE) \
	  "torch>=2.4,<3" sympy mpmath networkx filelock fsspec
	KERAS_BACKEND=torch PYTHONPATH=$(TORCH_SITE) $(PY) -m pytest -q -n 2 $(JAX_TESTS) tests/test_backend.py

bench: $(STAMP)
	@mkdir -p $(STATE)
	$(PY) benchmarks/bench_foundation.py
	$(PY) benchmarks/bench_layers.py
	$(PY) benchmarks/bench_gan.py

lab: $(STAMP)
	@mkdir -p $(STATE)
	$(PY) -m jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf build
