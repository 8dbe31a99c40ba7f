"""``vidpose demo``: real people first, then (``--synthtrack``) what temporal context buys.

Real video (``run_real_demo``, the default): the whole ``vidpose predict`` pipeline (detector,
tracker, the real BlazePose model) on the Sports2D demo video and on the first 150 frames of
OpenCV's ``vtest.avi`` (both fetched by ``vidpose assets fetch``), writing ``<video>.mp4``
(skeletons and track ids), ``<video>.json`` (PoseTrack18) and ``real_sheet.png`` (frames of both).

SynthTrack (``run_demo``, ``vidpose demo --synthtrack``):

1. Generate a ``small`` SynthTrack (unless it is there already).
2. Test the single-frame baseline and the temporal model whose small checkpoints are committed
   under ``vidpose/weights/`` (``weights/manifest.json`` names them and their configs; ``make weights``
   retrains them with ``vidpose bench``) on ``val_hard``, with GT boxes, and print both tables.
3. Write ``compare.mp4``: the video where the temporal model recovers the most joints, single
   frame (left) against temporal (right), ground truth in green, predictions in red / blue.
4. Write ``recovered.png``: degraded key frames where the temporal model finds joints
   (PCKh@0.5) that the single-frame model misses.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidpose.data.annotations import load_posetrack
from vidpose.data.frames import open_frames, write_video
from vidpose.data.schema import GROUP_NAMES, SKELETON
from vidpose.engine.config import load_config
from vidpose.engine.data import ensure_dataset
from vidpose.engine.tester import run_test
from vidpose.evaluation import format_table
from vidpose.evaluation.pckh import correct_joints
from vidpose.resources import locate

GT_COLOR, SINGLE_COLOR, TEMPORAL_COLOR = (40, 200, 40), (230, 40, 40), (40, 110, 255)
#: the 15 joints PoseTrack evaluates (slots 3 and 4 are unused)
EVALUATED = [j for j in range(17) if j not in (3, 4)]


def degradations(frame) -> list[str]:
    """The image degradations SynthTrack applied to a frame (people occluding each other is
    recorded too, but is not an image degradation)."""
    from vidpose.synth.scene import DEGRADATIONS

    return [d["type"] for d in (frame.raw or {}).get("degradations", []) if d.get("type") in DEGRADATIONS]


def load_manifest(path: str | Path = "weights/manifest.json") -> dict[str, Any]:
    path = locate(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no weights manifest; run `make weights` to train the demo checkpoints")
    manifest = json.loads(path.read_text())
    for role in ("single_frame", "temporal"):
        if role not in manifest:
            raise ValueError(f"{path}: the manifest needs a {role!r} entry with config and weights")
        for key in ("config", "weights"):
            file = path.parent.parent / manifest[role][key] if not Path(manifest[role][key]).is_absolute() \
                else Path(manifest[role][key])
            manifest[role][key] = str(file)
            if not file.is_file():
                raise FileNotFoundError(f"{file}: named by {path} but missing")
    return manifest


def paired_people(video, *predictions):
    """(frame index, frame, person index, GT person, each prediction's person) for every person
    of every labeled frame where each prediction lists one person per GT person, in GT order
    (what ``vidpose test`` writes with GT boxes)."""
    for f, frame in enumerate(video.frames):
        if not frame.is_labeled or any(len(pv.frames[f].people) != len(frame.people) for pv in predictions):
            continue
        for p, person in enumerate(frame.people):
            yield f, frame, p, person, [pv.frames[f].people[p] for pv in predictions]


def _draw(image: np.ndarray, kps: list[tuple[np.ndarray, tuple[int, int, int]]], scale: float = 1.0) -> np.ndarray:
    out = image.copy()
    for kp, color in kps:
        ok = kp[:, 2] > 0
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                cv2.line(out, tuple(np.round(kp[a, :2] * scale).astype(int)), tuple(np.round(kp[b, :2] * scale).astype(int)),
                         color, 1, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(np.round(kp[j, :2] * scale).astype(int)), 2, color, -1, cv2.LINE_AA)
    return out


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(out, (2, 2), (10 + w, 10 + h), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 6 + h), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


#: (name, asset, frame range) of the real videos the demo runs on
REAL_VIDEOS = (("sports2d", "sports2d_demo", None), ("vtest", "vtest", (0, 150)))


def run_real_demo(out: str | Path = "demo_out", model: str | None = None, progress: bool = True) -> dict:
    """The real-video part: predictions, rendered videos and a contact sheet in ``out``."""
    from vidpose.assets import asset_path
    from vidpose.data.draw import draw_frame
    from vidpose.pipeline import Pipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(model)
    rows, summary = [], {}
    for k, (name, asset, frames) in enumerate(REAL_VIDEOS, 1):
        path = asset_path(asset)
        print(f"[{k}/{len(REAL_VIDEOS) + 1}] {name}: {path.name}" + (f" frames {frames[0]}-{frames[1] - 1}" if frames else ""))
        timings = pipeline.predict(path, out / f"{name}.json", render=out / f"{name}.mp4", progress=progress,
                                   frames=frames, overwrite=True)  # the demo's own folder: a rerun replaces it
        summary[name] = timings
        video, source = pipeline._video, pipeline._source
        picks = np.linspace(0, len(source) - 1, 4).round().astype(int)
        tiles = []
        for f in picks:
            image = draw_frame(source.read(int(f)), video.frames[int(f)], min_score=0.2)
            scale = 360 / image.shape[0]
            tiles.append(_label(cv2.resize(image, (int(image.shape[1] * scale), 360)), f"{name} frame {f}"))
        rows.append(np.concatenate(tiles, 1))
        print(f"    {timings['frames']} frames, {timings['boxes']} people boxes, {timings['fps']:.2f} frames/s; "
              f"wrote {out / (name + '.mp4')} and {out / (name + '.json')}")
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], 0)
    cv2.imwrite(str(out / "real_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"[{len(REAL_VIDEOS) + 1}/{len(REAL_VIDEOS) + 1}] wrote {out / 'real_sheet.png'}")
    from vidpose.pipeline import TEMPORAL_MODEL

    if TEMPORAL_MODEL is not None:
        print(f"real temporal panel: {TEMPORAL_MODEL} against blazepose on Sports2D with a degradation burst")
        summary["temporal_panel"] = run_real_temporal_panel(out, TEMPORAL_MODEL, progress=progress)
    (out / "real_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


#: the real temporal panel: Sports2D frames 160-229 (RealData's held-out segment: the backlit flip
#: and the walker leaving), every third frame degraded with these kinds in turn, seeded
PANEL_FRAMES = (160, 230)
PANEL_KINDS = ("motion_blur", "defocus", "occluder")
PANEL_SEVERITY = 0.9


class DegradedFrames:
    """A frame source with some frames replaced (the demo's degradation burst)."""

    def __init__(self, source, replaced: dict[int, np.ndarray]):
        self.source, self.replaced, self.path = source, replaced, source.path

    def __len__(self) -> int:
        return len(self.source)

    def read(self, index: int) -> np.ndarray:
        return self.replaced[index] if index in self.replaced else self.source.read(index)


def degradation_burst(source, boxes, seed: int = 0) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Every third frame (f % 3 == 2, as RealData's test_hard) degraded with the shared module,
    the kinds of ``PANEL_KINDS`` in turn; occluders are texture patches cut from a frame 6 away."""
    from vidpose.data.degrade import degrade_real_frame, ragged_patch

    replaced, kinds = {}, {}
    n = len(source)
    as_float = lambda f: source.read(f).astype(np.float32) / 255.0  # noqa: E731
    for f in range(2, n, 3):
        if not len(boxes.boxes[f]):
            continue
        rng = np.random.default_rng([seed, f])
        kind = PANEL_KINDS[len(kinds) % len(PANEL_KINDS)]
        frame_boxes = [np.asarray(b, float) for b in boxes.boxes[f]]
        cutouts = None
        if kind == "occluder":
            far = f - 6 if f >= 6 else min(f + 6, n - 1)
            cutouts = [ragged_patch(as_float(far), rng, 0.45 * float(max(b[3] for b in frame_boxes)))]
        image, _, _ = degrade_real_frame(as_float(f), rng, frame_boxes, prev=as_float(f - 1) if f else None,
                                         nxt=as_float(f + 1) if f + 1 < n else None, cutouts=cutouts, kind=kind,
                                         severity=PANEL_SEVERITY)
        replaced[f] = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
        kinds[f] = kind
    return replaced, kinds


def run_real_temporal_panel(out: str | Path, temporal: str, single: str = "blazepose", progress: bool = True
                            ) -> dict[str, Any]:
    """``real_temporal_panel.png``: Sports2D frames with a degradation burst, the single-frame
    model (red) against the temporal one (blue) on the same boxes, the joints the temporal model
    recovers circled in green. A joint is *recovered* where the temporal prediction on the
    degraded frame lies within 0.5 head sizes of the single-frame prediction on the clean frame
    (the reference; PCKh's tolerance, head size from the person's box) and the single-frame
    prediction on the degraded frame does not. The four degraded frames with the most joints
    recovered (net of those lost) are shown (person and frame), then two frames of the undegraded
    video, both models run on it, where they disagree most: the real backlit flip (there the
    single-frame reference itself is unreliable, so nothing is circled)."""
    from vidpose.assets import asset_path
    from vidpose.data.frames import FrameRange
    from vidpose.engine.video import VideoPredictor
    from vidpose.pipeline import load_model, track_people

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean = FrameRange(open_frames(asset_path("sports2d_demo")), *PANEL_FRAMES)
    boxes = track_people(clean)
    replaced, kinds = degradation_burst(clean, boxes)
    if not replaced:
        raise ValueError(f"{clean.path}: nobody was tracked in frames {PANEL_FRAMES}; no panel to draw")
    burst = DegradedFrames(clean, replaced)
    runs = {}
    for role, name in (("single", single), ("temporal", temporal)):
        model, cfg = load_model(name)
        predictor = VideoPredictor(model, cfg)
        runs[role] = predictor.predict(burst, boxes, progress=progress)
        # on the undegraded video: the single-frame reference, and both models for the flip tiles
        runs[f"{role}_clean"] = predictor.predict(clean, boxes, progress=progress)
    picks = []
    for f in sorted(replaced):
        for k, box in enumerate(boxes.boxes[f]):
            ref, sf, tm = (runs[r][f][k][0] for r in ("single_clean", "single", "temporal"))  # ref: the clean frame
            tol = 0.5 * 0.6 * 0.25 * float(box[3]) * np.sqrt(2)  # a head box ~ a quarter of the body height
            near = lambda xy: np.hypot(*(xy - ref).T)[EVALUATED] <= tol  # noqa: E731
            recovered = near(tm) & ~near(sf)
            lost = near(sf) & ~near(tm)
            picks.append((int(recovered.sum()) - int(lost.sum()), f, k, np.asarray(EVALUATED)[recovered]))
    picks.sort(key=lambda t: (-t[0], t[1]))
    chosen = sorted(picks[:4], key=lambda t: t[1])
    # the real flip, on the undegraded video: where the two models disagree most, in body heights
    disagree = sorted(((float(np.median(np.hypot(*(runs["single_clean"][f][k][0]
                                                   - runs["temporal_clean"][f][k][0]).T)[EVALUATED]))
                        / max(float(boxes.boxes[f][k][3]), 1.0), f, k)
                       for f in range(len(clean)) for k in range(len(boxes.boxes[f]))), reverse=True)
    flips = []
    for _, f, k in disagree:
        if all(abs(f - g) > 5 for _, g, _, _ in flips):
            flips.append((0, f, k, np.zeros(0, int)))
        if len(flips) == 2:
            break
    tiles = []
    for _, f, k, recovered, on_clean in [(*c, False) for c in chosen] + [(*c, True) for c in flips]:
        x, y, w, h = boxes.boxes[f][k]
        pad = 0.25 * max(w, h)
        half = max(w / 2 + pad, 0.4 * (h + 2 * pad))  # at least 0.8 x as wide as high: room for the label
        x0, y0 = int(max(x + w / 2 - half, 0)), int(max(y - pad, 0))
        image = clean.read(f) if on_clean else burst.read(f)
        x1, y1 = int(min(x + w / 2 + half, image.shape[1])), int(min(y + h + pad, image.shape[0]))
        scale = 300 / max(y1 - y0, 1)
        row = []
        for role, color in (("single", SINGLE_COLOR), ("temporal", TEMPORAL_COLOR)):
            xy = runs[role + ("_clean" if on_clean else "")][f][k][0] - [x0, y0]
            kp = np.concatenate([xy, np.ones((17, 1))], 1)
            kp[[3, 4], 2] = 0
            crop = cv2.resize(image[y0:y1, x0:x1], (int((x1 - x0) * scale), 300))
            drawn = _draw(crop, [(kp, color)], scale)
            if role == "temporal":
                for j in recovered:
                    cv2.circle(drawn, tuple(np.round(xy[j] * scale).astype(int)), 9, GT_COLOR, 2, cv2.LINE_AA)
            what = "clean (real flip)" if on_clean else kinds[f]
            row.append(_label(drawn, f"{role} f{PANEL_FRAMES[0] + f} {what}"
                              + (f" +{len(recovered)}" if role == "temporal" and not on_clean else "")))
        tiles.append(np.concatenate(row, 1))
    width = max(t.shape[1] for t in tiles)
    sheet = np.concatenate([np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0)), constant_values=255)
                            for t in tiles], 0)
    path = out / "real_temporal_panel.png"
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not be written")
    summary = {"temporal": temporal, "single": single, "frames": list(PANEL_FRAMES), "degraded": len(replaced),
               "recovered_joints": int(sum(len(t[3]) for t in picks)),
               "net_recovered_joints": int(sum(t[0] for t in picks)), "panel": str(path)}
    print(f"    degraded {len(replaced)} frames: the temporal model recovers {summary['recovered_joints']} joints "
          f"(net of those it loses: {summary['net_recovered_joints']}); wrote {path}")
    return summary


def run_demo(out: str | Path = "demo_out", preset: str = "small", data_root: str | Path | None = None,
             manifest: str | Path = "weights/manifest.json", split: str = "val_hard", progress: bool = True) -> dict:
    """Run the demo into ``out``; returns both evaluation results and the comparison counts."""
    began = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = load_manifest(manifest)
    root = Path(data_root or f"data/synthtrack/{preset}")
    print(f"[1/4] SynthTrack {preset} in {root}" + (" (generating)" if not (root / "annotations").is_dir() else ""))
    results, preds, names = {}, {}, {}
    quiet = logging.getLogger("vidpose.engine")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the tables are printed below, once
    try:
        for role in ("single_frame", "temporal"):
            entry = models[role]
            cfg = load_config(entry["config"], [f"data.root={root}", f"data.synth_preset={preset}", "data.workers=0"])
            ensure_dataset(cfg["data"])
            results[role] = run_test(cfg, entry["weights"], out / role, split=split, progress=progress)
            names[role] = entry.get("method", cfg["model"]["name"])
            preds[role] = {v.name: v for v in load_posetrack(out / role / "predictions" / split)[0]}
    finally:
        quiet.setLevel(level)
    print(f"[2/4] AP on {split} ({results['single_frame']['num_frames']} labeled frames, GT boxes):")
    print(format_table(results["single_frame"], title=names["single_frame"]).splitlines()[0])
    for role in ("single_frame", "temporal"):
        print(format_table(results[role], title=names[role]).splitlines()[1])
    gt_videos, _ = load_posetrack(root / "annotations" / split)
    found = compare(gt_videos, preds, root, out)
    print(f"[3/4] joints (PCKh@0.5) on degraded frames: single frame {found['single_correct']}, temporal "
          f"{found['temporal_correct']} of {found['joints']}; recovered by the temporal model {found['recovered']}, "
          f"lost {found['lost']}")
    print(f"[4/4] wrote {out / 'compare.mp4'} and {out / 'recovered.png'} ({time.time() - began:.0f} s)")
    summary = {"results": {k: {g: v[g] for g in GROUP_NAMES} for k, v in results.items()}, "comparison": found}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def compare(gt_videos: list, preds: dict[str, dict], root: Path, out: Path) -> dict:
    """Per-joint correctness of both models on every labeled person; the video and the PNG."""
    counts = {"joints": 0, "single_correct": 0, "temporal_correct": 0, "recovered": 0, "lost": 0}
    best_video, best_gain, panels = None, None, []
    for video in gt_videos:
        single, temporal = preds["single_frame"].get(video.name), preds["temporal"].get(video.name)
        if single is None or temporal is None:
            continue
        gain = 0
        for f, frame, p, person, (single_person, temporal_person) in paired_people(video, single, temporal):
            a = correct_joints(single_person.keypoints, person)
            b = correct_joints(temporal_person.keypoints, person)
            recovered = b & ~a
            recovered[[3, 4]] = False
            person_gain = int(recovered.sum()) - int((a & ~b)[EVALUATED].sum())
            if degradations(frame):
                counts["joints"] += int((person.keypoints[EVALUATED, 2] > 0).sum())
                counts["single_correct"] += int(a[EVALUATED].sum())
                counts["temporal_correct"] += int(b[EVALUATED].sum())
                counts["recovered"] += int(recovered.sum())
                counts["lost"] += int((a & ~b)[EVALUATED].sum())
                if person_gain > 0:
                    panels.append((person_gain, video, f, p, recovered))
            gain += person_gain
        if best_gain is None or gain > best_gain:
            best_video, best_gain = video, gain
    if best_video is not None:
        write_video(out / "compare.mp4", _side_by_side(best_video, preds, root), fps=6)
    panels.sort(key=lambda x: -x[0])
    tiles = [_panel(video, f, p, recovered, preds, root) for _, video, f, p, recovered in panels[:8]]
    if not tiles and best_video is not None:  # nothing recovered: show the first labeled people anyway
        tiles = [_panel(best_video, f, 0, np.zeros(17, bool), preds, root)
                 for f, fr in enumerate(best_video.frames) if fr.is_labeled and fr.people][:2]
    if tiles:
        rows = [np.concatenate(tiles[i:i + 4] + [np.zeros_like(tiles[0])] * (4 - len(tiles[i:i + 4])), 1)
                for i in range(0, len(tiles), 4)]
        cv2.imwrite(str(out / "recovered.png"), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    return counts


def _images(video, root: Path):
    return open_frames(root / Path(video.frames[0].file_name).parent)


def _side(image, gt_frame, pred_frame, color, text, zoom: int = 2):
    """The frame enlarged ``zoom`` times with GT (green) and one model's predictions."""
    big = cv2.resize(image, (image.shape[1] * zoom, image.shape[0] * zoom), interpolation=cv2.INTER_LINEAR)
    kps = [(p.keypoints, GT_COLOR) for p in gt_frame.people] + [(p.keypoints, color) for p in pred_frame.people]
    return _label(_draw(big, kps, zoom), text)


def _side_by_side(video, preds, root: Path) -> list[np.ndarray]:
    source = _images(video, root)
    frames = []
    for f, frame in enumerate(video.frames):
        if not frame.is_labeled:
            continue
        image = source.read(f)
        words = ", ".join(degradations(frame))
        left = _side(image, frame, preds["single_frame"][video.name].frames[f], SINGLE_COLOR,
                     f"single frame (red), GT green; frame {f}: {words or 'clean'}")
        right = _side(image, frame, preds["temporal"][video.name].frames[f], TEMPORAL_COLOR, "temporal (blue), GT green")
        frames.append(np.concatenate([left, right], 1))
    return frames


def _panel(video, f: int, p: int, recovered: np.ndarray, preds, root: Path, size=(150, 200)) -> np.ndarray:
    """One person, zoomed: single frame (left) and temporal (right), the joints the temporal
    model recovers circled in yellow."""
    frame = video.frames[f]
    person = frame.people[p]
    image = _images(video, root).read(f)
    kp = person.keypoints[person.keypoints[:, 2] > 0, :2]
    x0, y0 = kp.min(0) if len(kp) else person.bbox[:2]
    x1, y1 = kp.max(0) if len(kp) else person.bbox[:2] + person.bbox[2:]
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, (y1 - y0) * 0.75) * 0.75 + 8
    box = np.array([cx - half, cy - half / 0.75, 2 * half, 2 * half / 0.75])
    scale = size[0] / box[2]
    words = ", ".join(degradations(frame))
    matrix = np.array([[scale, 0, -box[0] * scale], [0, scale, -box[1] * scale]])
    zoomed = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)
    shift = lambda k: np.c_[(k[:, :2] - box[:2]), k[:, 2:]]  # noqa: E731
    sides = []
    for role, color in (("single_frame", SINGLE_COLOR), ("temporal", TEMPORAL_COLOR)):
        pred = preds[role][video.name].frames[f].people[p].keypoints
        crop = _draw(zoomed, [(shift(person.keypoints), GT_COLOR), (shift(pred), color)], scale)
        if role == "temporal":
            for j in np.flatnonzero(recovered):
                cv2.circle(crop, tuple(np.round((pred[j, :2] - box[:2]) * scale).astype(int)), 6, (255, 220, 0), 1,
                           cv2.LINE_AA)
        sides.append(_label(crop, "single" if role == "single_frame" else f"temporal +{int(recovered.sum())}"))
    out = np.concatenate(sides, 1)
    cv2.putText(out, words[:40], (4, size[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return out
