"""Per-frame cost of video inference: a temporal model with and without the sliding-window
feature cache, against the single-frame model, in one run on the same video and boxes.

    python benchmarks/video_speed.py [--config naive_temporal_blazepose] [--single blazepose] [--repeat 5]
                                     [--set KEY=VALUE ...]
                                     [--video sports2d_demo] [--frames 60] [--out benchmarks/results/video_speed.json]
    python benchmarks/video_speed.py --synthtrack     # the tiny HRNet models on a SynthTrack video

By default the models are the real ones: the temporal head of ``--config`` (a shipped name from
``vidpose models``, or a config; a config without a trained head gets random head weights,
which cost the same; ``--set`` overrides keys of its config, e.g. ``model.dilations=[3]`` for a
DCPose head with one correction rate) on the frozen BlazePose backbone, against the single-frame BlazePose model,
on the first ``--frames`` frames of a real video (``--video``: an asset name or a file) with the
boxes and tracks of the pipeline's detector and tracker (computed once, shared by every model,
not timed). ``--synthtrack`` keeps the earlier setting: the tiny HRNet models of
configs/synthtrack on a SynthTrack train video with its GT boxes.

Each predictor runs once to warm up, then the predictors take turns for ``--repeat`` rounds and
each one's median is kept; the 1-minute load average is recorded before and after, and a load
above the core count is warned about (beside a training job this benchmark once printed
``cached/single=0.08``). Wall-clock ratios depend on the machine and its load; the GFLOPs ratios (per box and frame)
do not, and show where the cost goes. The last line reads ``cached/single=R1
uncached/single=R2``. Goal (issues 10 and 19): with delta = 2 the cached temporal model costs at
most 1.3x the single-frame model per frame.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from vidpose.data.annotations import load_posetrack
from vidpose.data.frames import open_frames
from vidpose.pipeline import DEFAULT_MODEL
from vidpose.engine.config import load_config
from vidpose.engine.video import VideoPredictor
from vidpose.tracking.boxes import VideoBoxes, link_tracks
from vidpose.models.registry import build_model


def video_and_boxes(root: Path) -> tuple[Path, VideoBoxes]:
    ann = sorted((root / "annotations" / "train").glob("*.json"))[0]  # train: every frame labeled
    (video,), _ = load_posetrack(ann)
    import numpy as np

    boxes = [np.array([p.bbox for p in f.people]).reshape(-1, 4) for f in video.frames]
    scores = [np.ones(len(b)) for b in boxes]
    folder = root / Path(video.frames[0].file_name).parent
    return folder, VideoBoxes(boxes, scores, link_tracks(boxes))


@torch.no_grad()
def gflops_per_frame(model, cfg) -> dict[str, float]:
    """Machine-independent cost per box and frame (multiply-accumulates): with the cache one
    backbone crop plus the clip head; without it 2*delta+1 backbone crops plus the head."""
    from torch.utils.flop_counter import FlopCounterMode

    from vidpose.models.layers import clip_features

    w, h = cfg["data"]["input_size"]
    frames = 1 + len(cfg["data"]["offsets"])
    x = torch.zeros(1, frames, 3, h, w)
    with FlopCounterMode(display=False) as one:
        model.frame_features(x[:, 0])
    feats = clip_features(model, x)
    with FlopCounterMode(display=False) as head:
        model.forward_features(feats, x, None)
    backbone, clip_head = one.get_total_flops() / 2e9, head.get_total_flops() / 2e9
    return {"backbone": backbone, "head": clip_head, "cached": backbone + clip_head,
            "uncached": frames * backbone + clip_head}


def interleaved_seconds(predictors: dict[str, VideoPredictor], source, boxes, repeat: int) -> dict[str, float]:
    """Median wall clock of each predictor over ``repeat`` rounds, the predictors taking turns within
    a round (a slow spell of the machine then touches every predictor alike), after one warm-up
    run each (the first calls per input shape are slow)."""
    for predictor in predictors.values():
        predictor.predict(source, boxes, progress=False)
    times: dict[str, list[float]] = {label: [] for label in predictors}
    for _ in range(repeat):
        for label, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict(source, boxes, progress=False)
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


def real_video_and_boxes(video: str, frames: int):
    """The first ``frames`` frames of a real video and the pipeline's tracked boxes on them."""
    from vidpose.assets import asset_path
    from vidpose.data.frames import FrameRange
    from vidpose.tracking import track_people

    path = Path(video) if Path(video).exists() else asset_path(video)
    source = open_frames(path)
    if frames and frames < len(source):
        source = FrameRange(source, 0, frames)
    return path, source, track_people(source)


def load(spec: str, overrides: list[str]):
    """(model, cfg) of a shipped name or a config file (random head where nothing is trained)."""
    from vidpose.pipeline import SHIPPED, load_model

    if spec in SHIPPED:
        return load_model(spec, overrides=overrides, device=torch.device("cpu"))
    cfg = load_config(spec, overrides)
    return build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"])).eval(), cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="temporal model: shipped name or config "
                        f"(default {DEFAULT_MODEL}, vidpose predict's; with --synthtrack configs/synthtrack/tdmi_tiny.yaml)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="overrides of the temporal model's config (with a shipped name, only those its "
                             "weights still fit)")
    parser.add_argument("--single", default=None, help="single-frame model: shipped name or config (default "
                        "blazepose; with --synthtrack configs/synthtrack/single_frame_hrnet_tiny.yaml)")
    parser.add_argument("--video", default="sports2d_demo", help="real video: asset name or file (default sports2d_demo)")
    parser.add_argument("--frames", type=int, default=60, help="first N frames of the real video (default 60)")
    parser.add_argument("--synthtrack", action="store_true", help="tiny HRNet models on a SynthTrack video")
    parser.add_argument("--data", help="with --synthtrack: a SynthTrack folder (default: generate the tiny preset)")
    parser.add_argument("--repeat", type=int, default=5, help="median of N interleaved runs (default 5)")
    parser.add_argument("--flops-only", action="store_true", help="skip the timing (GFLOPs ratios only)")
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/video_speed_real.json; "
                        "with --synthtrack benchmarks/results/video_speed.json)")
    args = parser.parse_args()
    synth = args.synthtrack
    args.config = args.config or ("configs/synthtrack/tdmi_tiny.yaml" if synth else DEFAULT_MODEL)
    args.single = args.single or ("configs/synthtrack/single_frame_hrnet_tiny.yaml" if synth else "blazepose")
    args.out = args.out or f"benchmarks/results/video_speed{'' if synth else '_real'}.json"
    models = (("single", args.single, []), ("temporal", args.config, args.overrides))  # --set: the temporal one's
    if args.flops_only:
        result = {}
        for name, spec, overrides in models:
            model, cfg = load(spec, overrides)
            result[name] = {k: round(v, 3) for k, v in gflops_per_frame(model, cfg).items()}
        ratios = {"cached/single": result["temporal"]["cached"] / result["single"]["cached"],
                  "uncached/single": result["temporal"]["uncached"] / result["single"]["cached"]}
        result.update(config=args.config, overrides=args.overrides, gflops_ratios={k: round(v, 3) for k, v in ratios.items()})
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        print(" ".join(f"{k}={v:.2f}" for k, v in ratios.items()) + " (GFLOPs)")
        return
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        if synth:
            root = Path(args.data) if args.data else Path(tmp) / "synth"
            if not args.data:
                from vidpose.synth.dataset import SynthConfig, generate

                generate(root, SynthConfig(preset="tiny", seed=0), progress=False)
            video, boxes = video_and_boxes(root)
            source = open_frames(video)
        else:
            video, source, boxes = real_video_and_boxes(args.video, args.frames)
        flops, predictors = {}, {}
        for name, spec, overrides in models:
            model, cfg = load(spec, ["test.flip=false"] + overrides)
            flops[name] = gflops_per_frame(model, cfg)
            runs = [("single", True)] if name == "single" else [("cached", True), ("uncached", False)]
            for label, cache in runs:
                predictors[label] = VideoPredictor(model, cfg, torch.device("cpu"), cache=cache)
        load_before = os.getloadavg()[0]
        timings = {label: t / len(source) for label, t in
                   interleaved_seconds(predictors, source, boxes, args.repeat).items()}
        load_after = os.getloadavg()[0]
        for label, predictor in predictors.items():
            timings[f"{label}_crops"] = predictor.stats["crops_computed"]  # of the last run
    ratios = {"cached/single": timings["cached"] / timings["single"],
              "uncached/single": timings["uncached"] / timings["single"]}
    result = {"command": "python benchmarks/video_speed.py " + " ".join(sys.argv[1:]),
              "config": args.config, "overrides": args.overrides, "single": args.single, "video": str(video) if synth else args.video,
              "frames": len(source), "boxes": int(sum(len(b) for b in boxes.boxes)),
              "ms_per_frame": {k: round(1000 * v, 2) for k, v in timings.items() if not k.endswith("crops")},
              "crops": {k[:-6]: v for k, v in timings.items() if k.endswith("crops")},
              "ratios": {k: round(v, 3) for k, v in ratios.items()},
              "gflops_per_box": {"single": round(flops["single"]["cached"], 4),
                                 "temporal_cached": round(flops["temporal"]["cached"], 4),
                                 "temporal_uncached": round(flops["temporal"]["uncached"], 4)},
              "gflops_ratios": {"cached/single": round(flops["temporal"]["cached"] / flops["single"]["cached"], 3),
                                "uncached/single": round(flops["temporal"]["uncached"] / flops["single"]["cached"], 3)},
              "repeat": args.repeat, "statistic": "median of interleaved runs after a warm-up run each",
              "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2),
                                    "cores": os.cpu_count()},
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"}
    if max(load_before, load_after) > (os.cpu_count() or 1) + 0.5:
        print(f"warning: the 1-minute load was {max(load_before, load_after):.1f} on {os.cpu_count()} cores: another "
              "job shares the machine and these timings are not to be trusted", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(" ".join(f"{k}={v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
