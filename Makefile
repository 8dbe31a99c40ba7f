# vidpose: `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup demo test weights bench bench-eval bench-video clean

# the temporal model the demo compares with the single-frame baseline (weights/manifest.json)
DEMO_METHOD ?= glpose
BENCH_METHODS ?= single_frame single_frame_resnet single_frame_vit naive_temporal naive_temporal_vit tdmi tdmi_st \
  tdmi_no_rdm tdmi_no_mi sdtc sdtc_mlsme_add sdtc_plain_motion sdtc_flow_add jmpose jmpose_no_io jmpose_no_jmml \
  jmpose_flow glpose glpose_local_only glpose_no_enhancement

setup: $(STAMP)

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; then the package.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/vidpose demo --out demo_out

# retrain the demo's checkpoints (about 20 minutes on 2 cores) and export them to weights/
weights: setup
	$(BIN)/vidpose bench --methods single_frame $(DEMO_METHOD) --export-weights $(DEMO_METHOD)

# the whole comparison (results/<date>/table.md); resumes where it stopped
bench: setup
	$(BIN)/vidpose bench --methods $(BENCH_METHODS)

test: setup
	$(BIN)/python -m pytest -n 2 -q

bench-eval: setup
	$(BIN)/python benchmarks/eval_speed.py

bench-video: setup
	$(BIN)/python benchmarks/video_speed.py

clean:
	rm -rf $(VENV) runs demo_out build *.egg-info .pytest_cache .hypothesis
