"""Where the time goes in the real-video pipeline (``vidpose predict VIDEO``, ``vidpose.Pipeline``),
per stage, on the registry videos; and the BlazePose full backbone in torch against LiteRT.

    OMP_NUM_THREADS=1 python benchmarks/realvideo_speed.py [--frames sports2d_demo=0 vtest=150]
        [--runs 2 2:passive 1] [--model blazepose] [--runtime torch|onnx] [--crops 50] [--repeats 3]
        [--out benchmarks/results/realvideo_speed.json]

Part 1, the pipeline. Each ``--runs`` entry is one configuration, run in a fresh process: the
torch thread count, and with ``:passive`` ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads sleep
instead of spinning while they wait; the policy is read when the process starts). The default
runs 2 threads (the machine's 2 cores) with the default policy and with PASSIVE, then 1 thread:
on cores shared with another busy job, 2 spinning OpenMP threads were measured 10-20x slower
than 1 thread, and PASSIVE removes that. Each video goes through the steps
of ``Pipeline.predict`` (``track_people``, ``VideoPredictor.predict``, ``save_posetrack``,
``render_video``) with the pipeline's defaults (MoveNet at 512, ``detect_every`` 10); a frame
limit (``--frames NAME=N``, 0 = all) cuts the source as ``vidpose predict --frames`` does
(``FrameRange``). Stages:

- ``detector``: wall clock inside MoveNet-MultiPose calls (whole-frame ``__call__`` and the
  tracker's per-person ``in_regions`` pass; each includes its letterbox and decoder); with
  ``--region-model pose`` the per-person pass is the pose model's (``PoseModelRegions.in_regions``:
  cropping, backbone and head, decoding);
- ``detector_load``: ``track_people`` builds its MoveNet from the TF.js file on every call;
- ``tracking``: the rest of ``track_people`` (frame decoding, linking, appearance histograms);
  ``decode`` gives the frame decoding inside it;
- ``backbone``: the temporal head's own ``frame_features`` calls (BlazePose encoder + heatmap
  head), with the time per crop. With ``--crop-boxes region`` (the default) the pipeline runs
  tracker and head interleaved (``Pipeline.track_and_predict``) and the head reuses the region
  pass's crops (``region_crops`` run, ``boxes_cropped_by_region`` reused; their backbone time is
  under ``detector``'s ``regions_s``), so only the other boxes (detector frames, boxes placed from
  time) cost a crop here;
- ``model_total``: all of ``VideoPredictor.predict`` (decoding frames again, cropping, backbone,
  heatmap decoding);
- ``write_json`` and ``render`` (drawing and H.264 encoding, decoding frames again);
- ``total`` = ``detector_load`` + people + model_total + write_json + render; ``fps`` = frames /
  total; ``fps_no_render`` = frames / (total - render), which is what ``Pipeline.timings["fps"]``
  reports (it excludes rendering).

Beside each video: ``physical_limit``, the frame rate of this design with nothing but one backbone
pass per person and frame (the measured backbone ms per crop x the people per frame), and per run
``goals``, issue 39's speed goals (Sports2D >= 15 frames/s without rendering and >= 12 with it,
``vtest.avi`` >= 6) met or missed. ``--summarise FILE`` recomputes both from the stored stages of an
existing results file (no timing).

``os.getloadavg()`` is recorded before and after every stage: another job (a training run) may
share the cores, and a 1-minute load above the core count means the wall clocks are inflated.

Part 2, per crop on 1 thread (torch and LiteRT): ``--crops`` real 256x256 crops, cut from the
tracked boxes of the first video exactly as ``VideoPredictor`` cuts them. Timed per crop at batch
1: ``torch_backbone`` (what the pipeline runs: ``frame_features``), ``torch_full_graph`` (every
output of the ``.tflite`` graph, the same work LiteRT does: landmarks, segmentation, world
landmarks), ``litert`` (``ai_edge_litert`` ``Interpreter``, ``num_threads=1``, its default
XNNPACK delegate; set_tensor + invoke) and ``onnx_backbone`` (``frame_features`` exported to ONNX
and run by ONNX Runtime: ``vidpose predict --runtime onnx``); also ``torch_backbone_batch32`` per crop.
``--runtime onnx`` runs part 1's pipelines on ONNX Runtime too. Each crop is
timed ``--repeats`` times; a crop's time is its minimum over the repeats, and the reported number
is the median over crops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.assets import asset_path  # noqa: E402
from vidpose.bench import git_state  # noqa: E402
from vidpose.data.annotations import save_posetrack  # noqa: E402
from vidpose.data.clips import make_clip, to_tensor  # noqa: E402
from vidpose.data.frames import FrameRange, open_frames  # noqa: E402
from vidpose.engine.video import predictions_video, render_video  # noqa: E402
from vidpose.errors import VidposeError  # noqa: E402
from vidpose.models import movenet  # noqa: E402
from vidpose.pipeline import DEFAULT_MODEL, Pipeline  # noqa: E402
from vidpose.tracking import PoseModelRegions, boxes_in_time, track_people  # noqa: E402

DEFAULT_FRAMES = ("sports2d_demo=0", "vtest=150")


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


class Timer:
    """Accumulated wall clock and call count of a wrapped function."""

    def __init__(self):
        self.seconds, self.calls = 0.0, 0

    def wrap(self, fn: Callable) -> Callable:
        def timed(*a, **k):
            began = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.perf_counter() - began
                self.calls += 1
        return timed


def limited_source(path: Path, frames: int):
    """The frame source the pipeline opens (``open_frames``), cut to its first ``frames`` as
    ``Pipeline(...)(video, frames=(0, N))`` / ``vidpose predict --frames`` cut it; and the file
    reader underneath (whose ``_read`` decodes)."""
    source = open_frames(path)
    if frames and frames < len(source):
        return FrameRange(source, 0, frames), source
    return source, source


def run_pipeline(pipeline: Pipeline, name: str, frames: int, tmp: Path) -> tuple[dict[str, Any], Any]:
    path = asset_path(name)
    source, reader = limited_source(path, frames)
    decode = Timer()
    reader._read = decode.wrap(reader._read)  # every frame decoded from the file
    det, regions, det_load, backbone = Timer(), Timer(), Timer(), Timer()
    cls = movenet.MoveNetMultiPose
    saved = {k: getattr(cls, k) for k in ("__call__", "in_regions", "__init__")}
    saved_pose = PoseModelRegions.in_regions
    stages: dict[str, Any] = {}
    loads: dict[str, Any] = {"start": load()}
    head_decode = [0.0]  # frame decoding inside the head's calls (its own crops), on the interleaved path
    predict_frame = pipeline.predictor.predict_frame

    def head_frame(*a, **k):
        before = decode.seconds
        try:
            return predict_frame(*a, **k)
        finally:
            head_decode[0] += decode.seconds - before

    pipeline.predictor.predict_frame = head_frame
    # the head's own backbone passes (the region pass's count under the detector's regions)
    head_features = pipeline.predictor.frame_features
    pipeline.predictor.frame_features = backbone.wrap(head_features)
    try:
        cls.__call__, cls.in_regions = det.wrap(saved["__call__"]), regions.wrap(saved["in_regions"])
        cls.__init__ = det_load.wrap(saved["__init__"])
        PoseModelRegions.in_regions = regions.wrap(saved_pose)
        began = time.perf_counter()
        if pipeline.interleaves():  # Pipeline.__call__'s path: tracker and head frame by frame
            found, results = pipeline.track_and_predict(source, progress=False)
            people_s, model_s = pipeline.timings["people_s"], pipeline.timings["poses_s"]
            people_s += time.perf_counter() - began - people_s - model_s  # the loop's own overhead
            decode_people = decode.seconds - head_decode[0]
        else:
            found = boxes_in_time(track_people(source, tracker=pipeline.tracker()), pipeline.boxes_in_time)
            people_s = time.perf_counter() - began
            decode_people = decode.seconds
            began = time.perf_counter()
            results = pipeline.predictor.predict(source, found, progress=False)
            model_s = time.perf_counter() - began
    finally:
        for k, v in saved.items():
            setattr(cls, k, v)
        PoseModelRegions.in_regions = saved_pose
        pipeline.predictor.frame_features = head_features
        del pipeline.predictor.predict_frame
    loads["after_model"] = load()
    stages["detector_load"] = {"s": round(det_load.seconds, 3)}
    stages["detector"] = {"s": round(det.seconds + regions.seconds, 3), "calls": det.calls + regions.calls,
                          "whole_frame_s": round(det.seconds, 3), "whole_frame_calls": det.calls,
                          "regions_s": round(regions.seconds, 3), "regions_calls": regions.calls}
    stages["tracking"] = {"s": round(people_s - det.seconds - regions.seconds - det_load.seconds, 3),
                          "decode_s": round(decode_people, 3)}
    crops = pipeline.predictor.stats["crops_computed"]
    stages["backbone"] = {"s": round(backbone.seconds, 3), "calls": backbone.calls, "crops": crops,
                          "ms_per_crop": round(1000 * backbone.seconds / max(crops, 1), 2),
                          "region_crops": pipeline.timings.get("region_crops") if pipeline.interleaves() else None,
                          "boxes_cropped_by_region": int(sum(np.isfinite(c).all(1).sum() for c in found.crops))}
    stages["model_total"] = {"s": round(model_s, 3), "decode_s": round(decode.seconds - decode_people, 3),
                             "ms_per_box": round(1000 * model_s / max(int(sum(len(b) for b in found.boxes)), 1), 2)}
    # (until commit 50bb206 ms_per_box divided by the head's crops, then about one per box)
    video = predictions_video(path.stem, results, len(source))
    began = time.perf_counter()
    save_posetrack(video, tmp / f"{name}.json")
    stages["write_json"] = {"s": round(time.perf_counter() - began, 3)}
    before_render = decode.seconds
    began = time.perf_counter()
    render_video(tmp / f"{name}.mp4", source, video)
    stages["render"] = {"s": round(time.perf_counter() - began, 3), "decode_s": round(decode.seconds - before_render, 3)}
    loads["after_render"] = load()
    n = len(source)
    total = people_s + model_s + stages["write_json"]["s"] + stages["render"]["s"]  # people_s holds detector_load
    for stage in stages.values():
        stage["ms_per_frame"] = round(1000 * stage["s"] / n, 1)
    tracks = sorted({int(t) for ts in found.tracks for t in ts})
    result = {"video": name, "file": path.name, "frames": n, "resolution": list(source.read(0).shape[1::-1]),
              "boxes": int(sum(len(b) for b in found.boxes)), "tracks": len(tracks),
              "median_box_wh": [round(float(v), 1) for v in np.median(np.concatenate(
                  [b[:, 2:] for b in found.boxes if len(b)] or [np.zeros((1, 2))]), axis=0)],
              "stages": stages, "total_s": round(total, 3), "fps": round(n / total, 2),
              "fps_no_render": round(n / (total - stages["render"]["s"]), 2), "loadavg": loads}
    return result, found


#: issue 39's goals with the default model on 2 cores: video -> {"fps" or "fps_no_render": at least}
GOALS = {"sports2d_demo": {"fps_no_render": 15.0, "fps": 12.0}, "vtest": {"fps_no_render": 6.0}}


def physical_limit(result: dict[str, Any]) -> dict[str, Any]:
    """One backbone pass per person and frame and nothing else, from a video's measured stages."""
    per_crop = result["stages"]["backbone"]["ms_per_crop"]
    people = result["boxes"] / max(result["frames"], 1)
    ms = per_crop * people
    return {"backbone_ms_per_crop": per_crop, "people_per_frame": round(people, 2), "ms_per_frame": round(ms, 1),
            "fps": round(1000 / ms, 1) if ms else None}


def goals(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of ``GOALS`` for the videos of a run: measured, goal, met, and the shortfall."""
    out = []
    for result in run["videos"]:
        for key, goal in GOALS.get(result["video"], {}).items():
            measured = result[key]
            out.append({"video": result["video"], "measure": key, "measured": measured, "goal": goal,
                        "met": measured >= goal, "short_by": round(max(goal - measured, 0.0), 2)})
    return out


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with ``physical_limit`` beside every video and ``goals`` in every run, and over
    the runs of the same thread count and policy, each video's median frame rates and the goals
    checked on them (``median_over_runs``)."""
    for run in report["runs"]:
        for result in run["videos"]:
            result["physical_limit"] = physical_limit(result)
        run["goals"] = goals(run)
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in report["runs"]:
        groups.setdefault(f"threads {run['threads']}, policy {run['omp_wait_policy'] or 'default'}", []).append(run)
    report["median_over_runs"] = {}
    for key, runs in groups.items():
        videos = [{"video": v["video"], "runs": len(runs),
                   **{m: round(float(np.median([r["videos"][k][m] for r in runs])), 2) for m in ("fps", "fps_no_render")}}
                  for k, v in enumerate(runs[0]["videos"])]
        report["median_over_runs"][key] = {"videos": videos, "goals": goals({"videos": videos})}
    return report


def crops_from(name: str, boxes, cfg_clip, count: int) -> np.ndarray:
    """``count`` crops (N, 256, 256, 3) uint8, evenly spread over the tracked boxes."""
    source = open_frames(asset_path(name))
    flat = [(f, b) for f, frame in enumerate(boxes.boxes) for b in frame]
    picks = np.linspace(0, len(flat) - 1, min(count, len(flat))).round().astype(int)
    return np.stack([make_clip([source.read(flat[i][0])], flat[i][1], cfg_clip).images[0] for i in picks])


def per_crop(fn: Callable[[int], Any], n: int, repeats: int, warmup: int = 3) -> dict[str, float]:
    for i in range(min(warmup, n)):
        fn(i)
    times = np.zeros((repeats, n))
    for r in range(repeats):
        for i in range(n):
            began = time.perf_counter()
            fn(i)
            times[r, i] = time.perf_counter() - began
    best = times.min(0) * 1000
    return {"median_ms": round(float(np.median(best)), 3), "mean_ms": round(float(best.mean()), 3),
            "p90_ms": round(float(np.percentile(best, 90)), 3), "median_of_each_repeat_ms":
                [round(float(np.median(t)) * 1000, 3) for t in times]}


@torch.no_grad()
def crop_timings(crops: np.ndarray, repeats: int) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter

    from vidpose.interchange.tflite import build_module, read_tflite, to_nchw
    from vidpose.models.blazepose import build_blazepose

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = asset_path("blazepose_full")
        n = len(crops)
        x = to_tensor(crops)  # ImageNet-normalised, as the pipeline feeds the backbone
        unit = crops.astype(np.float32) / 255.0
        backbone = build_blazepose("full").eval()
        from vidpose.models.baselines import SingleFrame

        model = SingleFrame(backbone).eval()
        full = build_module(read_tflite(path)).eval()
        xu = to_nchw(unit)
        it = Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
        index = it.get_input_details()[0]["index"]
        heat = [d["index"] for d in it.get_output_details() if tuple(d["shape"]) == (1, 64, 64, 39)][0]

        def litert(i):
            it.set_tensor(index, unit[i:i + 1])
            it.invoke()
            return it.get_tensor(heat)

        out: dict[str, Any] = {"crops": n, "repeats": repeats, "threads": 1, "loadavg_start": load()}
        out["torch_backbone"] = per_crop(lambda i: model.frame_features(x[i:i + 1]), n, repeats)
        out["loadavg_after_torch_backbone"] = load()
        out["litert"] = per_crop(litert, n, repeats)
        out["loadavg_after_litert"] = load()
        try:  # the same frame_features graph in ONNX Runtime (vidpose predict --runtime onnx)
            from vidpose.engine.export import onnx_frame_features

            with tempfile.TemporaryDirectory(prefix="realvideo_speed_onnx_") as folder:
                cfg = {"model": {"name": "single_frame", "backbone": {"name": "blazepose", "variant": "full"}},
                       "data": {"input_size": [256, 256], "heatmap_size": [64, 64]}}  # what the graph key reads
                onnx = onnx_frame_features(model, cfg, "blazepose_full", folder)
                out["onnx_backbone"] = per_crop(lambda i: onnx(x[i:i + 1]), n, repeats)
            out["loadavg_after_onnx_backbone"] = load()
        except VidposeError as error:  # ONNX Runtime not installed
            out["onnx_backbone"] = {"skipped": str(error)}
        out["torch_full_graph"] = per_crop(lambda i: full(xu[i:i + 1]), n, repeats)
        out["loadavg_after_torch_full_graph"] = load()
        batch = min(32, n)
        xb = x[:batch]
        model.frame_features(xb)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.frame_features(xb)
            times.append(time.perf_counter() - t0)
        out["torch_backbone_batch32"] = {"batch": batch, "per_crop_ms": round(1000 * min(times) / batch, 3),
                                         "batch_ms_each_repeat": [round(1000 * t, 1) for t in times]}
        out["loadavg_end"] = load()
        lt = out["litert"]["median_ms"]
        out["ratio_torch_backbone_over_litert"] = round(out["torch_backbone"]["median_ms"] / lt, 3)
        out["ratio_torch_full_graph_over_litert"] = round(out["torch_full_graph"]["median_ms"] / lt, 3)
        if "median_ms" in out["onnx_backbone"]:
            out["ratio_torch_backbone_over_onnx"] = round(out["torch_backbone"]["median_ms"]
                                                          / out["onnx_backbone"]["median_ms"], 3)
        # the same numbers on the same crop: a check that both runtimes saw the same input
        ref = litert(0)[0].transpose(2, 0, 1)
        ours = full(xu[:1])["Identity_3"][0].numpy()
        out["max_abs_heatmap_logit_difference_crop0"] = round(float(np.abs(ref - ours).max()), 6)
        import ai_edge_litert

        out["litert_version"] = getattr(ai_edge_litert, "__version__", None) or _dist_version("ai-edge-litert")
        return out
    finally:
        torch.set_num_threads(previous)


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def print_run(run: dict[str, Any]) -> None:
    print(f"== torch threads {run['threads']}, OMP_WAIT_POLICY={run['omp_wait_policy'] or '(unset)'}: model load "
          f"{run['model_load_s']} s, backbone warm-up {run['backbone_warmup_s']} s")
    for result in run["videos"]:
        s = result["stages"]
        print(f"{result['video']}: {result['frames']} frames {result['resolution'][0]}x{result['resolution'][1]}, "
              f"{result['boxes']} boxes, {result['tracks']} tracks; load {result['loadavg']}")
        for stage in ("detector_load", "detector", "tracking", "backbone", "model_total", "write_json", "render"):
            extra = ""
            if stage == "backbone":
                extra = f"  ({s[stage]['crops']} crops, {s[stage]['ms_per_crop']} ms/crop)"
            elif stage == "detector":
                extra = (f"  (whole frame: {s[stage]['whole_frame_calls']} calls {s[stage]['whole_frame_s']:.2f} s;"
                         f" regions: {s[stage]['regions_calls']} calls {s[stage]['regions_s']:.2f} s)")
            elif "decode_s" in s[stage]:
                extra = f"  (decode {s[stage]['decode_s']} s)"
            print(f"  {stage:<14}{s[stage]['s']:8.2f} s {s[stage]['ms_per_frame']:8.1f} ms/frame{extra}")
        print(f"  {'total':<14}{result['total_s']:8.2f} s   {result['fps']:.2f} frames/s "
              f"({result['fps_no_render']:.2f} without rendering)")
        if "physical_limit" in result:
            lim = result["physical_limit"]
            print(f"  physical limit: {lim['backbone_ms_per_crop']} ms/crop x {lim['people_per_frame']} people/frame = "
                  f"{lim['ms_per_frame']} ms/frame, {lim['fps']} frames/s")
    for g in run.get("goals", []):
        print(f"  goal {g['video']} {g['measure']} >= {g['goal']}: {g['measured']} "
              + ("met" if g["met"] else f"missed by {g['short_by']}"))


def child(args: argparse.Namespace, videos: list[tuple[str, int]]) -> int:
    """One pipeline configuration in a fresh process (the OpenMP wait policy is read at start)."""
    from vidpose.tracking.tracker import to_detection_entries

    torch.set_num_threads(args.threads)
    run: dict[str, Any] = {"threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                           "loadavg_start": load(), "videos": []}
    began = time.perf_counter()
    pipeline = Pipeline(args.model, device=torch.device("cpu"), region_model=args.region_model,
                        crop_boxes=args.crop_boxes, runtime=args.runtime)
    run["model_load_s"] = round(time.perf_counter() - began, 3)
    # the first calls of a fresh process build oneDNN kernels: done here, reported, not in the stages
    warm = time.perf_counter()
    with torch.no_grad():
        for n in (1, 2):
            pipeline.predictor.frame_features(torch.zeros(n, 3, 256, 256))
    run["backbone_warmup_s"] = round(time.perf_counter() - warm, 3)
    with tempfile.TemporaryDirectory(prefix="realvideo_speed_") as tmp:
        for k, (name, count) in enumerate(videos):
            result, found = run_pipeline(pipeline, name, count, Path(tmp))
            run["videos"].append(result)
            if k == 0 and args.boxes_out:  # the first video's boxes, for the per-crop timing
                people = [[(int(t), b, float(sc)) for b, sc, t in zip(bs, ss, ts)]
                          for bs, ss, ts in zip(found.boxes, found.scores, found.tracks)]
                Path(args.boxes_out).write_text(json.dumps(to_detection_entries(people)))
    run["loadavg_end"] = load()
    run["seconds"] = round(time.perf_counter() - began, 1)
    Path(args.child).write_text(json.dumps(run, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", nargs="+", default=list(DEFAULT_FRAMES), metavar="ASSET=N",
                        help="videos (registry assets) and how many frames of each (0 = all); default %(default)s")
    parser.add_argument("--runs", nargs="+", default=["2", "2:passive", "1"], metavar="THREADS[:passive]",
                        help="pipeline configurations, each in a fresh process: torch threads, and ':passive' for "
                             "OMP_WAIT_POLICY=PASSIVE (default %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"shipped model (default: {DEFAULT_MODEL}, the default "
                        "of vidpose predict)")
    parser.add_argument("--region-model", choices=("movenet", "pose"), default="pose",
                        help="what finds each tracked person between detector frames (vidpose predict --region-model; "
                             "default pose, the pipeline's)")
    parser.add_argument("--crop-boxes", choices=("region", "measured"), default="region",
                        help="with --region-model pose: the head crops the region the tracker's pass read and reuses "
                             "its features (region, the pipeline's default) or a box around what it found (measured)")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="the backbone's per-crop pass in PyTorch or ONNX Runtime (vidpose predict --runtime)")
    parser.add_argument("--crops", type=int, default=50, help="crops for the torch/LiteRT timing (0 = skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "realvideo_speed.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: write one run's JSON here
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--boxes-out", help=argparse.SUPPRESS)
    parser.add_argument("--summarise", type=Path, metavar="FILE",
                        help="recompute the physical limits and goals of an existing results file (no timing)")
    args = parser.parse_args(argv)
    if args.summarise:
        report = summarise(json.loads(args.summarise.read_text()))
        report["summarised_by"] = f"python benchmarks/realvideo_speed.py --summarise {args.summarise}"
        args.summarise.write_text(json.dumps(report, indent=2) + "\n")
        for run in report["runs"]:
            print_run(run)
        print(json.dumps(report["median_over_runs"], indent=1))
        return 0
    videos = []
    for item in args.frames:
        name, _, count = item.partition("=")
        videos.append((name, int(count or 0)))
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.child:
        return child(args, videos)
    commit, dirty = git_state(ROOT)
    # GNU nproc obeys OMP_NUM_THREADS, so ask it without that variable
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, env=clean).stdout.strip()
    report: dict[str, Any] = {
        "command": "python benchmarks/realvideo_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit, "tracked_files_modified": dirty,
        "machine": {"nproc": int(nproc) if nproc.isdigit() else nproc, "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "os_cpu_count": os.cpu_count(),
                    "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None},
        "loadavg_start": load(), "model": args.model, "region_model": args.region_model,
              "crop_boxes": args.crop_boxes, "runtime": args.runtime, "runs": []}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="realvideo_speed_runs_") as tmp:
        boxes_file = Path(tmp) / "boxes.json"
        for k, spec in enumerate(args.runs):
            threads, _, policy = spec.partition(":")
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if policy:
                if policy.lower() != "passive":
                    raise SystemExit(f"--runs {spec}: the only policy is 'passive'")
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            out = Path(tmp) / f"run{k}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--threads", threads,
                   "--model", args.model, "--region-model", args.region_model, "--crop-boxes", args.crop_boxes,
                   "--runtime", args.runtime, "--frames", *args.frames]
            if k == 0:
                cmd += ["--boxes-out", str(boxes_file)]
            subprocess.run(cmd, env=env, check=True)
            run = json.loads(out.read_text())
            summarise({"runs": [run]})  # its physical limits and goals, for the print below
            report["runs"].append(run)
            print_run(run)
        if args.crops and boxes_file.is_file():
            from vidpose.engine.config import load_config
            from vidpose.engine.data import clip_config
            from vidpose.tracking.boxes import load_video_boxes
            from vidpose.pipeline import shipped

            name, count = videos[0]
            source = open_frames(asset_path(name))
            if count and count < len(source):
                source = FrameRange(source, 0, count)
            found = load_video_boxes(boxes_file, source)
            cfg = load_config(shipped(args.model).config)
            crops = crops_from(name, found, clip_config(cfg["data"]), args.crops)
            report["per_crop"] = {"video": name, **crop_timings(crops, args.repeats)}
            p = report["per_crop"]
            print(f"per crop, 1 thread, {p['crops']} crops of {name}, median of per-crop minima over {p['repeats']} "
                  f"repeats: torch backbone {p['torch_backbone']['median_ms']} ms, torch full graph "
                  f"{p['torch_full_graph']['median_ms']} ms, LiteRT {p['litert']['median_ms']} ms; torch/LiteRT "
                  f"{p['ratio_torch_backbone_over_litert']} (backbone), {p['ratio_torch_full_graph_over_litert']} "
                  f"(full graph); torch backbone at batch 32: {p['torch_backbone_batch32']['per_crop_ms']}"
                  f" ms/crop; load {p['loadavg_start']} -> {p['loadavg_end']}")
    summarise(report)
    report["loadavg_end"] = load()
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
