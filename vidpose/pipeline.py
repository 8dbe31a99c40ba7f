"""Pose estimation on real video in one call: people found and tracked, then every person's pose.

    import vidpose
    video = vidpose.Pipeline()("my_video.mp4")            # a vidpose Video: frames, people, keypoints
    vidpose.Pipeline(model="blazepose_heavy").predict("my_video.mp4", out="preds.json", render="out.mp4")

The same pipeline is ``vidpose predict VIDEO --out preds.json [--render out.mp4] [--model NAME]``:

1. **People.** Without a box file, MoveNet-MultiPose (``vidpose/models/movenet.py``) finds people,
   and the pose-guided tracker (``vidpose/tracking/tracker.py``) follows them: each person's
   keypoints in frame t give their region in frame t+1, the detector runs every ``detect_every``
   frames or when a track is lost, and ids are kept across crossings. ``small_people`` runs the
   detector at 768 instead of 512 (more small people found, about 3x slower). Where a track's own
   measurement of a frame is weak (a blurred frame hides the person from the detector, or gives
   a low score or a sudden jump), its box comes from the track's neighbouring frames
   (``boxes_in_time``: ``offline`` interpolates, ``causal`` predicts at constant velocity;
   ``vidpose/tracking/boxes.py``). A box file (``boxes``: PoseWarper/DCPose layout or
   PoseTrack18, vidpose's own output too) replaces this step: its boxes are used as given, less
   those off the frame (``load_video_boxes``).
2. **Poses.** The chosen model (``SHIPPED``, ``vidpose models``; the default, ``DEFAULT_MODEL``, is
   the naive temporal head on the real BlazePose backbone) runs over every box with the
   sliding-window feature cache of ``vidpose/engine/video.py``, frame by frame as people are tracked
   (``track_and_predict``). Where the tracker's pass found a person with the pose model, the head
   reads that same crop and its features (``crop_boxes="region"``): one backbone pass per person
   and frame. ``runtime="onnx"`` runs that pass in ONNX Runtime (``engine/export.py``).
3. **Output.** PoseTrack18 JSON with track ids and each person's box, and optionally a rendered
   video at the source's frame rate. Outputs are checked before any work (``check_outputs``):
   an input is never written, an existing file only with ``overwrite``.

The video is a path (a file or a folder of numbered frames), a (T, H, W, 3) uint8 RGB array or a
list of (H, W, 3) frames (``ACCEPTED``).

A folder of videos (``predict_folder``) runs every video into a folder of outputs, resumably, and
under ``torchrun`` shards the videos over the processes.

Everything the models need comes from ``vidpose assets fetch`` (registry packages, checksummed);
nothing here touches the network.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from vidpose.data.annotations import Frame, Person, Video, save_posetrack
from vidpose.data.frames import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ArrayFrames, FrameRange, FrameSource,
                                  open_frames)
from vidpose.data.streams import FrameBuffer, open_stream
from vidpose.engine.config import load_config
from vidpose.engine.distributed import barrier, init_distributed
from vidpose.engine.export import onnx_frame_features
from vidpose.engine.video import RENDER_FPS, VideoPredictor, predictions_video, render_video
from vidpose.tracking import (CausalBoxes, PoseModelRegions, PoseTracker, VideoBoxes, boxes_in_time, decided_after,
                              frame_boxes, load_video_boxes, people_tracker, track_people)
from vidpose.errors import VidposeError
from vidpose.resources import package_path

log = logging.getLogger(__name__)

#: offline boxes in time: the longest gap interpolated (``boxes_in_time``'s ``max_gap``), and how
#: often, in frames, the interleaved pass decides the boxes of the frames tracked far enough ahead
#: (``Pipeline.track_and_predict``)
BOX_MAX_GAP = 10
DECIDE_EVERY = 8


@dataclass(frozen=True)
class ShippedModel:
    """A model vidpose ships: a config and, where the weights are not all in an asset, a
    checkpoint under ``vidpose/weights/``."""

    config: str  # a shipped config (vidpose/configs; resources.locate)
    weights: str | None
    kind: str  # "single-frame" or "temporal"
    backbone: str
    keypoints: str
    note: str = ""


SHIPPED: dict[str, ShippedModel] = {
    "blazepose": ShippedModel("configs/real/blazepose_full.yaml", None, "single-frame", "BlazePose GHUM full (real)",
                              "PoseTrack 17 slots", "MediaPipe's full landmark model, top-down on 256x256 crops"),
    "blazepose_lite": ShippedModel("configs/real/blazepose_lite.yaml", None, "single-frame",
                                   "BlazePose GHUM lite (real)", "PoseTrack 17 slots", "fastest"),
    "blazepose_heavy": ShippedModel("configs/real/blazepose_heavy.yaml", None, "single-frame",
                                    "BlazePose GHUM heavy (real)", "PoseTrack 17 slots", "most accurate, ~4x full's time"),
    # temporal heads trained on the frozen BlazePose full backbone from RealData's pseudo labels
    # (vidpose realdata build; vidpose train configs/real/NAME.yaml; vidpose realdata export NAME):
    # weights/real/NAME.pt holds the head only, the backbone loads from its asset
    "naive_temporal_blazepose": ShippedModel("configs/real/naive_temporal_blazepose.yaml",
                                             "weights/real/naive_temporal_blazepose.pt", "temporal",
                                             "BlazePose GHUM full + naive temporal", "PoseTrack 17 slots",
                                             "baseline: the 5-frame window's features averaged"),
    "tdmi_blazepose": ShippedModel("configs/real/tdmi_blazepose.yaml", "weights/real/tdmi_blazepose.pt", "temporal",
                                   "BlazePose GHUM full + TDMI head", "PoseTrack 17 slots",
                                   "TDMI (CVPR 2023) on 5 frames, delta 2"),
    "glpose_blazepose": ShippedModel("configs/real/glpose_blazepose.yaml", "weights/real/glpose_blazepose.pt",
                                     "temporal", "BlazePose GHUM full + GLPose head", "PoseTrack 17 slots",
                                     "GLPose (ACM TOMM 2022): 5 local frames + 8 global proposals"),
    "tdmi_st_blazepose": ShippedModel("configs/real/tdmi_st_blazepose.yaml", "weights/real/tdmi_st_blazepose.pt",
                                      "temporal", "BlazePose GHUM full + TDMI-ST head", "PoseTrack 17 slots",
                                      "TDMI-ST (TDMI Sec. 4.2): the clip's maps in place of the key frame's"),
    "naive_temporal_causal_blazepose": ShippedModel(
        "configs/real/naive_temporal_causal_blazepose.yaml", "weights/real/naive_temporal_causal_blazepose.pt",
        "temporal", "BlazePose GHUM full + naive temporal, causal", "PoseTrack 17 slots",
        "live use (--causal): the naive head trained on frames t-4..t"),
    "jmpose_blazepose": ShippedModel("configs/real/jmpose_blazepose.yaml", "weights/real/jmpose_blazepose.pt",
                                     "temporal", "BlazePose GHUM full + JM-Pose head", "PoseTrack 17 slots",
                                     "JM-Pose (ACM MM 2024) on 5 frames, delta 2"),
    "sdtc_blazepose": ShippedModel("configs/real/sdtc_blazepose.yaml", "weights/real/sdtc_blazepose.pt",
                                   "temporal", "BlazePose GHUM full + SDTC head", "PoseTrack 17 slots",
                                   "SDTC (Feng et al.) over 4x4-cell tokens of the feature map, 5 frames"),
    # the predecessors every paper compares against (issue 40)
    "fami_pose_blazepose": ShippedModel("configs/real/fami_pose_blazepose.yaml", "weights/real/fami_pose_blazepose.pt",
                                        "temporal", "BlazePose GHUM full + FAMI-Pose head", "PoseTrack 17 slots",
                                        "FAMI-Pose (CVPR 2022): global and local alignment, 5 frames"),
    "dcpose_blazepose": ShippedModel("configs/real/dcpose_blazepose.yaml", "weights/real/dcpose_blazepose.pt",
                                     "temporal", "BlazePose GHUM full + DCPose head", "PoseTrack 17 slots",
                                     "DCPose (CVPR 2021): PTM, PRF and PCN over t-1, t, t+1"),
    "dcpose_no_pcn_blazepose": ShippedModel("configs/real/dcpose_no_pcn_blazepose.yaml",
                                            "weights/real/dcpose_no_pcn_blazepose.pt", "temporal",
                                            "BlazePose GHUM full + DCPose head without PCN", "PoseTrack 17 slots",
                                            "DCPose's PTM and PRF without the correction network: 2x the cost"),
    "posewarper_blazepose": ShippedModel("configs/real/posewarper_blazepose.yaml",
                                         "weights/real/posewarper_blazepose.pt", "temporal",
                                         "BlazePose GHUM full + PoseWarper head", "PoseTrack 17 slots",
                                         "PoseWarper (NeurIPS 2019): heatmaps warped at 5 dilations, 5 frames"),
}
#: what `vidpose predict` runs without --model (issue 39: the most accurate on degraded frames without
#: a real loss on clean ones): the naive temporal head. On held-out real video it leads every seed
#: paper's head on degraded frames and costs 1.09x the single frame per frame; on clean frames it trails
#: the single frame (fast ankles). The DCPose head scores higher on clean and degraded frames, but
#: the pipeline runs 2.5-3.7x slower with it (README, "On real video"; benchmarks/predecessors.md).
DEFAULT_MODEL = "naive_temporal_blazepose"
#: what `vidpose predict --causal` runs without --model: a window of past frames only
CAUSAL_MODEL = "naive_temporal_causal_blazepose"
#: the shipped temporal head the demo's real panel shows: the best on degraded real frames
#: (benchmarks/results/realvideo.json); None: none shipped
TEMPORAL_MODEL: str | None = "naive_temporal_blazepose"


class ModelError(VidposeError, ValueError):
    """An unknown shipped model, or one whose files are missing."""


def shipped(name: str) -> ShippedModel:
    if name not in SHIPPED:
        raise ModelError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED)} (see `vidpose models`)")
    return SHIPPED[name]


#: settings a checkpoint fixes: the network and the crops it was trained on
FIXED_BY_CHECKPOINT = ("model", "data.input_size", "data.heatmap_size", "data.aspect_ratio", "data.enlarge",
                       "data.offsets")


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def choose_model(name: str | None, config: str | os.PathLike | dict | None = None,
                 checkpoint: str | os.PathLike | None = None, causal: bool = False) -> str | None:
    """The shipped model to load: ``name``, or the default (``CAUSAL_MODEL`` for live use,
    ``DEFAULT_MODEL`` otherwise); None for a custom model (``config`` and/or ``checkpoint``). A
    shipped name together with a custom model is an error, not a silent choice of one."""
    from vidpose.errors import ConfigError

    if config is None and checkpoint is None:
        return name or (CAUSAL_MODEL if causal else DEFAULT_MODEL)
    if name is not None:
        raise ConfigError(f"give a shipped model (--model {name}) or your own (--config/--checkpoint), not both")
    return None


def load_model(name: str | None = None, config: str | os.PathLike | dict | None = None,
               checkpoint: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = (),
               device: torch.device | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A shipped model by name, or a custom ``config`` (file or dict) and/or ``checkpoint``;
    returns (model, config). A checkpoint carries the config it was trained with: without
    ``config`` that one is used, and a model or input setting that contradicts it is an error."""
    from vidpose.engine.config import apply_overrides
    from vidpose.errors import ConfigError
    from vidpose.engine.tester import load_trained
    from vidpose.engine.checkpoint import load_checkpoint
    from vidpose.models.registry import build_model

    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stored = None
    if checkpoint is not None and config is None and name is None:
        stored = load_checkpoint(checkpoint).get("config")
        if not stored:
            raise ConfigError(f"{checkpoint}: holds no config; give the one it was trained with (--config)")
        config = stored
    if config is None:
        spec = shipped(name or DEFAULT_MODEL)
        config = package_path(spec.config)
        checkpoint = checkpoint or (package_path(spec.weights) if spec.weights else None)
    cfg = apply_overrides(config, overrides, "the checkpoint's config") if isinstance(config, dict) \
        else load_config(config, overrides)
    if checkpoint is None:  # every weight must come from the backbone's asset
        model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
        untrained = randomly_initialised(model, cfg)
        if untrained:
            raise ConfigError(f"{config if not isinstance(config, dict) else 'the config'}: model "
                              f"{cfg['model'].get('name')!r} has {len(untrained)} weights that no asset gives "
                              f"(e.g. {untrained[0]}), so without --checkpoint it would run untrained; give the "
                              "checkpoint trained with this config (vidpose train)")
        return model.to(device).eval(), cfg
    trained = stored or load_checkpoint(checkpoint).get("config")
    if trained:
        loading = ("pretrained", "pretrained_skip_head")
        # the naive head averages its window's features: no weight depends on where the frames are
        free = ("data.offsets",) if _get(trained, "model.name") == "naive_temporal" else ()
        clash = [key for key in FIXED_BY_CHECKPOINT if key not in free
                 if _strip(_get(trained, key), loading) != _strip(_get(cfg, key), loading)
                 and _get(trained, key) is not None]
        if clash:
            raise ConfigError(f"{checkpoint} was trained with other settings than asked for: "
                              + "; ".join(f"{k}: trained {_get(trained, k)!r}, asked {_get(cfg, k)!r}" for k in clash)
                              + ". Drop those overrides (the checkpoint's config is used by default)")
    return load_trained(cfg, checkpoint, device), cfg


def randomly_initialised(model: torch.nn.Module, cfg: dict[str, Any]) -> list[str]:
    """The weights of ``model`` that building it again under another random seed changes: those
    that come from random initialisation rather than from an asset (BlazePose's file). Empty
    when the config's model is fully defined by its assets."""
    from vidpose.models.registry import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch.initial_seed() + 1)
        again = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"])).state_dict()
    built = model.state_dict()
    return [k for k, v in built.items() if v.is_floating_point() and not torch.equal(v, again[k])]


def _strip(value: Any, keys: tuple[str, ...]) -> Any:
    return {k: v for k, v in value.items() if k not in keys} if isinstance(value, dict) else value


#: what ``Pipeline`` accepts as a video
ACCEPTED = ("a path (str or os.PathLike) of a video file or a folder of numbered frames, a (T, H, W, 3) uint8 "
            "RGB array, or a list of (H, W, 3) uint8 RGB arrays")


def open_video(video: Any) -> FrameSource:
    """The frames of what ``Pipeline`` was given (``ACCEPTED``); anything else is a VidposeError
    saying what is accepted."""
    if isinstance(video, FrameSource):
        return video
    if isinstance(video, (str, os.PathLike)):
        return open_frames(video)
    if isinstance(video, np.ndarray) or (isinstance(video, (list, tuple)) and video
                                         and all(isinstance(f, np.ndarray) for f in video)):
        return ArrayFrames(list(video) if isinstance(video, tuple) else video, "frames")
    raise VidposeError(f"cannot read a video from {type(video).__name__}; give {ACCEPTED}")


def video_name(video: Any) -> str:
    """The name of the video in the output: the file's or folder's stem, else ``frames``."""
    return Path(video).stem if isinstance(video, (str, os.PathLike)) else "frames"


def check_frames(frames: Any) -> tuple[int, int | None] | None:
    """``frames`` = (start, stop), two integers (stop may be None), checked before any work."""
    ok = frames is None or (isinstance(frames, (tuple, list)) and len(frames) == 2
                            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in frames[:1])
                            and (frames[1] is None or isinstance(frames[1], (int, np.integer))
                                 and not isinstance(frames[1], bool)))
    if not ok:
        raise VidposeError(f"frames must be (start, stop), two integers (stop may be None), got {frames!r}")
    if frames is not None and (frames[0] < 0 or (frames[1] is not None and frames[1] <= frames[0])):
        raise VidposeError(f"frames {frames[0]}:{frames[1]} is empty or negative; give 0 <= start < stop")
    return None if frames is None else (int(frames[0]), None if frames[1] is None else int(frames[1]))


def check_outputs(out: str | os.PathLike | None, render: str | os.PathLike | None, inputs: list[Any],
                  overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would be lost or destroy something: an output that
    is also an input (``inputs``: the video, box file, config, checkpoint) or the other output, an
    existing file without ``overwrite``, a folder, a render of a type that cannot be written, a
    folder that cannot be written to."""
    from vidpose.data.frames import RENDER_EXTENSIONS

    given = {_resolved(p): str(p) for p in inputs if isinstance(p, (str, os.PathLike))}
    if out is not None and render is not None and _resolved(out) == _resolved(render):
        raise VidposeError(f"--render {render}: is also --out; give two different files")
    if render is not None and Path(render).suffix.lower() not in RENDER_EXTENSIONS:
        raise VidposeError(f"--render {render}: cannot write a video of type {Path(render).suffix or '(none)'!r}; "
                           f"use one of {', '.join(RENDER_EXTENSIONS)}")
    for option, path in (("--out", out), ("--render", render)):
        if path is None:
            continue
        if _resolved(path) in given:
            raise VidposeError(f"{option} {path}: is an input ({given[_resolved(path)]}); writing it would destroy it. "
                               "Give another output file")
        if Path(path).is_dir():
            raise VidposeError(f"{option} {path}: is a folder; give a file name")
        if Path(path).exists() and not overwrite:
            raise VidposeError(f"{option} {path}: already exists; pass --overwrite to replace it "
                               "(overwrite=True in Python)")
        _check_writable(option, Path(path))


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _check_writable(option: str, path: Path) -> None:
    """The nearest existing folder above ``path`` must be a writable folder."""
    parent = path.expanduser().absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise VidposeError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VidposeError(f"{option} {path}: cannot write in {parent} (permission denied)")


class Pipeline:
    """People, then poses, on a video file or a folder of numbered frames (module docstring)."""

    def __init__(self, model: str | None = None, config: str | os.PathLike | dict | None = None,
                 checkpoint: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = (),
                 detect_every: int = 10, small_people: bool = False, min_box_score: float = 0.2,
                 cache: bool = True, window_boxes: str = "own", global_cache_size: int = 256,
                 device: torch.device | None = None, boxes_in_time: str = "offline", causal: bool = False,
                 region_model: str | None = None, crop_boxes: str = "region", runtime: str = "torch"):
        if runtime not in ("torch", "onnx"):
            raise VidposeError(f"runtime (--runtime) must be torch or onnx, got {runtime!r}")
        if boxes_in_time not in ("offline", "causal", "off"):
            raise VidposeError(f"boxes_in_time must be offline, causal or off, got {boxes_in_time!r}")
        if crop_boxes not in ("region", "measured"):
            raise VidposeError(f"crop_boxes (--crop-boxes) must be region or measured, got {crop_boxes!r}")
        self.crop_boxes = crop_boxes
        # the pose model in the tracker's regions: as accurate offline and 1.5x as fast; live, MoveNet
        # (the measurements: docs/results.md, "Boxes and speed")
        region_model = region_model or ("movenet" if causal else "pose")
        if region_model not in ("movenet", "pose"):
            raise VidposeError(f"region_model (--region-model) must be movenet or pose, got {region_model!r}")
        self.region_model = region_model
        if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
            raise VidposeError(f"detect_every (--detect-every) must be a whole number of frames >= 1, "
                               f"got {detect_every!r}")
        if isinstance(global_cache_size, bool) or not isinstance(global_cache_size, int) or global_cache_size < 0:
            raise VidposeError(f"global_cache_size (--global-cache) must be a whole number >= 0, "
                               f"got {global_cache_size!r}")
        self.boxes_in_time = "causal" if causal and boxes_in_time == "offline" else boxes_in_time
        name = choose_model(model, config, checkpoint, causal)
        if runtime == "onnx" and device is None:
            device = torch.device("cpu")  # ONNX Runtime runs the backbone on the CPU, so the head stays there too
        self.model, self.cfg = load_model(name, config, checkpoint, overrides, device)
        self.name = name or Path(str(checkpoint or config)).stem
        if region_model == "pose" and not hasattr(getattr(self.model, "backbone", None), "head"):
            raise VidposeError(f"--region-model pose: {self.name} has no backbone heatmap head to find people with")
        self.detect_every, self.small_people, self.min_box_score = detect_every, small_people, min_box_score
        self.predictor = VideoPredictor(self.model, self.cfg, cache=cache, window_boxes=window_boxes,
                                        global_cache_size=global_cache_size)
        self.causal = causal
        self.stream_boxes: VideoBoxes | None = None  # the boxes of the last stream
        self.stream_fps = None
        if causal and self.predictor.future_frames():
            raise VidposeError(f"{self.name} reads frames after the one it predicts ("
                               + ", ".join(self.predictor.future_frames()) + "), so it cannot run causally; use "
                               f"{CAUSAL_MODEL} or a head trained with past offsets (data.offsets: [-4, -3, -2, -1])")
        # the backbone's per-crop pass in ONNX Runtime (engine/export.py), for the tracker's regions and the head
        self.frame_features = onnx_frame_features(self.model, self.cfg, self.name) if runtime == "onnx" else None
        if self.frame_features is not None:
            self.predictor.frame_features = self.frame_features
        self.timings: dict[str, float] = {}

    def stream(self, source: str | os.PathLike, progress: bool = False
               ) -> Iterator[tuple[int, np.ndarray, list[tuple[np.ndarray, np.ndarray, int]]]]:
        """Live and causal: for each frame of ``source`` (a camera index such as ``"0"``, a stream
        URL, a video file or a frame folder, read front to back) as it arrives, yield (t, frame,
        people), people being (keypoints (17, 2), scores (17,), track id). The output for frame t
        reads frames up to t only: the tracker runs frame by frame, weak boxes come from the
        track's past (``CausalBoxes``), and the model's window lies in the past (``causal=True``
        checks it)."""
        from tqdm import tqdm

        if not self.causal:
            raise VidposeError("Pipeline.stream is the live mode: make the pipeline with causal=True")
        frames = open_stream(source)
        buffer = FrameBuffer(keep=self.predictor.clip.span + 2, name=str(source))
        tracker = self.tracker(share=True)
        filler = CausalBoxes() if self.boxes_in_time == "causal" else None
        boxes, by_track, cache = VideoBoxes([], [], []), [], {}
        self.stream_boxes, self.stream_fps = boxes, frames.fps  # each person's box, for the output's bbox
        for frame in tqdm(frames, desc="live", unit="frame", disable=not progress):
            t = buffer.append(frame)
            self._decide_at_once(self._track_frame(tracker, frame, t, cache), filler, boxes, by_track)
            yield t, frame, self.predictor.predict_frame(buffer, boxes, t, cache, by_track)

    def predict_live(self, source: str | os.PathLike, out: str | os.PathLike | None = None,
                     render: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
        """``stream`` over all of ``source``, writing ``render`` frame by frame as results come
        (at the source's frame rate, else 25 frames/s), then the PoseTrack18 file ``out``;
        returns the timings."""
        from vidpose.data.draw import draw_frame
        from vidpose.data.frames import write_video

        began = time.perf_counter()
        results: list[list[tuple[np.ndarray, np.ndarray, int]]] = []

        def drawn() -> Iterator[np.ndarray]:
            for t, frame, people in self.stream(source, progress):
                results.append(people)
                persons = [Person.predicted(xy, scores, track_id=track) for xy, scores, track in people]
                yield draw_frame(frame, Frame(f"live/{t:06d}.jpg", t, True, persons), min_score=0.2)

        if render is not None:
            frames = drawn()
            first = next(frames, None)  # the stream opens on the first frame, and tells its rate
            if first is not None:
                write_video(render, itertools.chain([first], frames), float(self.stream_fps or RENDER_FPS))
        else:
            for _ in drawn():
                pass
        name = Path(str(source)).stem or "stream"
        self._video = predictions_video(name, results, len(results), boxes=self.stream_boxes)
        if out is not None:
            save_posetrack(self._video, out)
        total = time.perf_counter() - began
        self.timings = {"frames": len(results), "boxes": sum(len(r) for r in results), "total_s": round(total, 2),
                        "fps": round(len(results) / max(total, 1e-9), 2)}
        return self.timings

    def tracker(self, share: bool = False) -> PoseTracker:
        """The people tracker: MoveNet for whole frames; for the per-person regions between them
        MoveNet too (``region_model="movenet"``) or the pose model's own backbone and head
        (``"pose"``, ``tracking/pose_regions.py``). With the pose model and ``crop_boxes="region"``,
        a person found in a region carries that region's crop box (``VideoBoxes.crops``: the
        temporal head crops it), and with ``share`` the region pass keeps the crop's features for
        the temporal head (``_share_features``)."""
        tracker = people_tracker(self.detect_every, self.small_people)
        if self.region_model == "pose":
            tracker.detector = PoseModelRegions(tracker.detector, self.model, self.predictor.clip, tracker.roi_scale,
                                                tracker.keypoint_threshold,
                                                keep_features=share and self.crop_boxes == "region"
                                                and self.predictor.cache_enabled,
                                                report_crops=self.crop_boxes == "region",
                                                frame_features=self.frame_features)
        return tracker

    def _track_frame(self, tracker: PoseTracker, frame: np.ndarray, f: int, cache: dict, warn: bool = True
                     ) -> tuple[np.ndarray, ...]:
        """Frame f through the tracker: its boxes, scores, track ids and crop boxes as found; the
        region pass's features go into the head's ``cache``."""
        step = frame_boxes(tracker.update(frame, warn=warn), tracker.crops)
        self._share_features(tracker, f, cache)
        return step

    @staticmethod
    def _decide_at_once(step: tuple[np.ndarray, ...], filler: CausalBoxes | None, decided: VideoBoxes,
                        by_track: list[dict[int, int]]) -> None:
        """A frame's decided boxes appended to ``decided``, with its track-id index: ``step`` as it
        is (decided already, or ``boxes_in_time`` off), else ``filler``'s (from the track's past)."""
        step = filler.update(*step) if filler is not None else step
        decided.append(*step)
        by_track.append({int(track): k for k, track in enumerate(step[2])})

    def _share_features(self, tracker: PoseTracker, f: int, cache: dict) -> None:
        """Frame f's region crops, computed by the tracker's pose pass, into the temporal head's
        feature cache under the keys its own crops of the same boxes have: one backbone pass per
        person and frame."""
        if isinstance(tracker.detector, PoseModelRegions) and tracker.detector.keep_features:
            for box, feats, crop in tracker.detector.take_features():
                cache[self.predictor.crop_key(f, box, False)] = {**feats, "_crop": crop}

    def interleaves(self) -> bool:
        """Whether offline tracking and pose estimation run frame by frame together (all but GLPose
        reading global proposals from the whole video, which needs every frame's boxes first)."""
        return not (getattr(self.model, "use_global", False) and self.predictor.clip.global_mode != "streaming")

    def track_and_predict(self, source: FrameSource, progress: bool) -> tuple[VideoBoxes, list[list]]:
        """Offline tracking and pose estimation in one pass over the frames (``interleaves``).

        Each frame's boxes are decided as soon as the frames their ``boxes_in_time`` reads are
        tracked (offline: ``decided_after(BOX_MAX_GAP)`` frames later, from those frames alone;
        causal: at once; off: as found), so they are the boxes a whole-video decision gives; a
        frame's pose once its window's boxes are decided. The feature cache then holds a few
        dozen frames whatever the video's length, and the region pass's features are still there
        when the head needs them."""
        from tqdm import tqdm

        n = len(source)
        tracker = self.tracker(share=True)
        found, decided = VideoBoxes([], [], []), VideoBoxes([], [], [])
        by_track: list[dict[int, int]] = []
        cache: dict[tuple, dict[str, torch.Tensor]] = {}
        results: list[list] = []
        future = max((o for o in self.predictor.clip.offsets if o > 0), default=0)
        reach = decided_after(BOX_MAX_GAP)
        filler = CausalBoxes() if self.boxes_in_time == "causal" else None
        self.predictor.reset_stats()
        people_s = poses_s = 0.0
        for f in tqdm(range(n), desc="predict", unit="frame", disable=not progress):
            began = time.perf_counter()
            step = self._track_frame(tracker, source.read(f), f, cache, warn=False)
            if self.boxes_in_time != "offline":
                self._decide_at_once(step, filler, decided, by_track)
            else:
                found.append(*step)
                last = n - 1 if f == n - 1 else f - reach
                if last >= len(decided.boxes) and (f == n - 1 or f % DECIDE_EVERY == 0):
                    first = max(0, len(decided.boxes) - reach)  # the earliest frame the decision reads
                    tail = VideoBoxes(found.boxes[first:], found.scores[first:], found.tracks[first:],
                                      crops=found.crops[first:])
                    placed = boxes_in_time(tail, "offline", max_gap=BOX_MAX_GAP, quiet=True)
                    for g in range(len(decided.boxes) - first, last + 1 - first):
                        step = placed.boxes[g], placed.scores[g], placed.tracks[g], placed.crops[g]
                        self._decide_at_once(step, None, decided, by_track)
            middle = time.perf_counter()
            while len(results) < n and (len(results) + future < len(decided.boxes) or len(decided.boxes) == n):
                results.append(self.predictor.predict_frame(source, decided, len(results), cache, by_track))
            people_s += middle - began
            poses_s += time.perf_counter() - middle
        tracker.report()
        self.timings = {"people_s": round(people_s, 2), "poses_s": round(poses_s, 2),
                        "region_crops": getattr(tracker.detector, "crops", 0)}
        return decided, results

    def boxes(self, source: FrameSource, boxes: str | os.PathLike | None = None, progress: bool = False) -> VideoBoxes:
        if boxes is not None:
            return load_video_boxes(boxes, source, self.min_box_score)
        return boxes_in_time(track_people(source, progress=progress, tracker=self.tracker()), self.boxes_in_time,
                             max_gap=BOX_MAX_GAP)

    def __call__(self, video: Any, boxes: str | os.PathLike | None = None,
                 progress: bool = False, frames: tuple[int, int | None] | None = None) -> Video:
        """Predictions for every frame of ``video`` (``ACCEPTED``: a path, an array or a list of
        frames; a ``Video``; ``timings`` holds the stages). ``frames`` = (start, stop) keeps that
        part of the video, renumbered from 0; a box file's frames are still the whole video's."""
        frames = check_frames(frames)
        source = open_video(video)
        if frames is not None:
            source = FrameRange(source, *frames)
        began = time.perf_counter()
        if boxes is None and self.interleaves():
            found, results = self.track_and_predict(source, progress)
            stages = self.timings
        else:
            found = self.boxes(source, boxes, progress)
            people = time.perf_counter()
            anyone = any(len(b) for b in found.boxes)
            results = self.predictor.predict(source, found, progress) if anyone else [[] for _ in range(len(source))]
            stages = {"people_s": round(people - began, 2), "poses_s": round(time.perf_counter() - people, 2)}
        self._elapsed = time.perf_counter() - began
        n_boxes = int(sum(len(b) for b in found.boxes))
        if n_boxes == 0:
            log.warning("%s: no person found in %d frames%s", source.path, len(source),
                        "" if boxes else " (try small_people=True / --small-people for small people)")
        names = [source.frame_name(f) for f in range(len(source))]
        self._source = source
        self._video = predictions_video(video_name(video), results, len(source), found, names)
        region_cropped = int(sum(np.isfinite(c).all(1).sum() for c in found.crops))  # features from the tracker
        self.timings = {"frames": len(source), "boxes": n_boxes, "region_cropped": region_cropped, **stages,
                        "total_s": round(self._elapsed, 2), **self.predictor.stats}
        return self._video

    def predict(self, video: Any, out: str | os.PathLike | None = None,
                render: str | os.PathLike | None = None, boxes: str | os.PathLike | None = None,
                progress: bool = True, frames: tuple[int, int | None] | None = None,
                overwrite: bool = False) -> dict[str, Any]:
        """Run on ``video``, write ``out`` (PoseTrack18 JSON) and ``render`` (a video, at the
        source's frame rate; 25 frames/s for frames without one); returns the per-stage timings.
        The outputs are checked first (``check_outputs``): an existing file needs ``overwrite``."""
        check_outputs(out, render, [video, boxes], overwrite)
        result = self(video, boxes, progress, frames)
        if out is not None:
            save_posetrack(result, out)
        if render is not None:
            began = time.perf_counter()
            render_video(render, self._source, result)
            self.timings["render_s"] = round(time.perf_counter() - began, 2)
        frames = max(self.timings["frames"], 1)
        self.timings["fps"] = round(frames / max(self._elapsed, 1e-6), 2)
        log.info("%s (%s): %d frames, %d boxes; people %.1f s, poses %.1f s%s, %.2f frames/s", self._source.path,
                 self.name, frames, self.timings["boxes"], self.timings["people_s"], self.timings["poses_s"],
                 f", render {self.timings['render_s']:.1f} s" if render else "", self.timings["fps"])
        return self.timings


def is_video_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of videos (video files or frame folders inside it) rather than
    one video's folder of numbered frames."""
    path = Path(path)
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    if any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in entries):
        return False
    return any(p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS or p.is_dir() for p in entries)


def videos_in(folder: str | os.PathLike) -> list[Path]:
    """The videos of a folder, sorted by name: its video files and its sub-folders of frames
    (hidden entries left out)."""
    found = [p for p in sorted(Path(folder).iterdir()) if not p.name.startswith(".") and (
        (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or p.is_dir())]
    names = [p.stem if p.is_file() else p.name for p in found]
    twins = sorted({n for n in names if names.count(n) > 1})
    if twins:
        raise VidposeError(f"{folder}: several videos would write the same output ({', '.join(twins)}: a file and a "
                           "folder, or two files, share the name); rename one")
    return found


def predict_folder(pipeline: Pipeline, folder: str | os.PathLike, out_dir: str | os.PathLike,
                   render_dir: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Every video of ``folder`` (``videos_in``) into ``out_dir/<name>.json`` (and
    ``render_dir/<name>.mp4``). Resumable: a video whose JSON exists is done and skipped (the JSON
    is written last, under a temporary name renamed into place); a video not done is predicted
    again, replacing the render a stopped run may have left. Under ``torchrun`` each process
    takes every world-th video (``engine/distributed.py``); rank 0 shows the one progress bar. A
    video that fails is logged and counted, and the others go on. Returns this process's counts
    and the failures {video: message}."""
    from tqdm import tqdm

    rank, world, _ = init_distributed()
    outputs = {Path(d).resolve() for d in (out_dir, render_dir) if d is not None}
    videos = [v for v in videos_in(folder) if v.resolve() not in outputs]  # outputs kept inside the folder
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if render_dir is not None:
        Path(render_dir).mkdir(parents=True, exist_ok=True)
    mine = videos[rank::world]
    counts: dict[str, Any] = {"videos": len(videos), "this_process": len(mine), "done": 0, "skipped": 0,
                              "failed": {}, "rank": rank, "world": world}
    for video in tqdm(mine, desc="videos", unit="video", disable=not progress or rank != 0):
        name = video.stem if video.is_file() else video.name
        out = out_dir / f"{name}.json"
        if out.exists():
            counts["skipped"] += 1
            continue
        partial = out_dir / f".{name}.partial.json"
        try:  # a video not done yet: its partial JSON and render are this command's own, left by a stopped run
            pipeline.predict(video, partial, render=None if render_dir is None else Path(render_dir) / f"{name}.mp4",
                             progress=False, overwrite=True)
        except VidposeError as err:
            log.error("%s: %s", video, err)
            counts["failed"][str(video)] = str(err)
            continue
        os.replace(partial, out)
        counts["done"] += 1
    barrier()
    return counts
