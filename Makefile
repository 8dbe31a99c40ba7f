# vidpose: `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup demo test bench-eval clean

setup: $(STAMP)

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; then the package.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/vidpose demo --out runs/demo

test: setup
	$(BIN)/python -m pytest -n 2 -q

bench-eval: setup
	$(BIN)/python benchmarks/eval_speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .hypothesis
