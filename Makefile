# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the virtual environment when it is missing and run the same data
# step (Fashion-MNIST), so `make test` runs the real-data tests too.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.raysha-installed
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
# root with apt: Debian packages are installed; otherwise the step says what to run
CAN_APT := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo yes)

.PHONY: demo test test-fast test-ray-bounds data bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    if [ "$(CAN_APT)" = yes ]; then apt-get update -qq && $(APT) python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	    else echo "cannot create $(VENV): install Python's venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1; fi; }
	$(PY) -m pip install -q --upgrade pip
	# torch from this machine's disk: do not change these pins (see README)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Fashion-MNIST, shared by demo and test: already there -> nothing; root with apt ->
# Debian's dataset-fashion-mnist; else torchvision's download; else say what to run.
FOUND := from raysha.workloads.fashion_mnist import locate; import sys; f = locate(); print('Fashion-MNIST:', f[0] if f else 'not found'); sys.exit(f is None)
data: $(STAMP)
	@$(PY) -c "$(FOUND)" || { \
	    if [ "$(CAN_APT)" = yes ]; then \
	        apt-get update -qq && $(APT) dataset-fashion-mnist >/dev/null && $(PY) -c "$(FOUND)"; \
	    else false; fi; } || \
	$(PY) -c "from raysha.workloads.fashion_mnist import _download; print('Fashion-MNIST:', _download()[0])" || { \
	    echo "Fashion-MNIST is missing and could not be installed or downloaded. Run one of:"; \
	    echo "  sudo apt-get install dataset-fashion-mnist        # Debian/Ubuntu"; \
	    echo "  export RAYSHA_DATA=/folder/with/fashion-mnist     # the four idx files (.gz or not)"; \
	    exit 1; }

demo: data
	$(VENV)/bin/raysha demo --out demo-results

test: data
	$(PY) -m pytest -q -ra

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not ray and not slow"

# The Ray range in pyproject.toml, tested at both ends: a throw-away venv per bound
# runs the Ray runtime and job-submission tests (no torch: the LeNet tests skip there).
# RAY_BOUNDS overrides the versions. Not part of `make test`, to keep CI short.
RAY_BOUNDS ?= 2.56.0 2.60.0
RAY_BOUND_TESTS ?= tests/test_runtime.py tests/test_job_submit.py
test-ray-bounds: data
	@for v in $(RAY_BOUNDS); do \
	    echo "== Ray $$v"; \
	    rm -rf .venv-ray-$$v && $(PYTHON) -m venv .venv-ray-$$v && \
	    .venv-ray-$$v/bin/pip install -q -e . pytest pytest-timeout pyyaml "ray[default]==$$v" && \
	    .venv-ray-$$v/bin/python -c "import ray; assert ray.__version__ == '$$v', ray.__version__" && \
	    .venv-ray-$$v/bin/python -m pytest -q -p no:cacheprovider $(RAY_BOUND_TESTS) || exit 1; \
	done

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .venv-ray-* demo-results .pytest_cache
