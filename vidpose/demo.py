"""``vidpose demo``: the end-to-end path on an embedded toy video, until trained models land.

What it runs, honestly labelled: no network is trained yet. The "predictions" are the ground
truth sent through the real top-down path, so the demo checks the plumbing every method uses:

1. render a short multi-person stick-figure clip, write its frames in the PoseTrack layout,
   an H.264 video and a PoseTrack18 GT file;
2. read the GT with the annotation reader and the frames back from the *video file* (PyAV);
3. for every labeled person, cut a 5-frame top-down clip with one shared affine transform,
   encode the key frame's Gaussian heatmaps, decode them (argmax and DARK), map them back to
   image coordinates and write poseval-compatible prediction files;
4. score both with the evaluator (poseval semantics) and render the predictions as a video.
The codec round trip should score close to 100 AP; a lower number means a bug in the plumbing.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidpose.data.annotations import Frame, Person, Video, load_posetrack, save_posetrack, save_videos
from vidpose.data.clips import ClipConfig, clip_indices, make_clip
from vidpose.data.draw import draw_frame, save_rgb
from vidpose.data.frames import open_frames, write_video
from vidpose.data.heatmaps import decode, heatmap_to_image
from vidpose.data.schema import SKELETON
from vidpose.evaluation import evaluate_posetrack, format_table

log = logging.getLogger(__name__)

# A standing stick figure (x right, y down), in units of body height, PoseTrack slots.
_REST = np.array([
    [0.0, -0.42], [0.0, -0.33], [0.0, -0.52], [0, 0], [0, 0],
    [0.09, -0.30], [-0.09, -0.30], [0.12, -0.14], [-0.12, -0.14], [0.13, 0.0], [-0.13, 0.0],
    [0.06, 0.02], [-0.06, 0.02], [0.07, 0.24], [-0.07, 0.24], [0.07, 0.46], [-0.07, 0.46],
])


def _pose(height: float, center: np.ndarray, phase: float) -> np.ndarray:
    """A walking stick figure: arms and legs swing with ``phase``."""
    pts = _REST.copy()
    swing = 0.08 * np.sin(phase)
    pts[[7, 9], 0] += [swing, 2 * swing]
    pts[[8, 10], 0] -= [swing, 2 * swing]
    pts[[13, 15], 0] -= [swing, 2 * swing]
    pts[[14, 16], 0] += [swing, 2 * swing]
    kp = np.zeros((17, 3))
    kp[:, :2] = center + pts * height
    kp[:, 2] = 1
    kp[[3, 4]] = 0
    return kp


def render_toy_video(root: Path, name: str = "000001_demo_val", n_frames: int = 24, size=(320, 240), seed: int = 0
                     ) -> tuple[Path, Path]:
    """Write frames, an mp4 and a PoseTrack18 GT file. Returns (GT file, video file)."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = size
    background = cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    people = [dict(track=0, x=40.0, vx=5.0, y=150.0, height=150.0, color=(230, 80, 60)),
              dict(track=1, x=280.0, vx=-4.0, y=140.0, height=130.0, color=(60, 120, 230))]
    image_dir = root / "images" / "val" / name
    image_dir.mkdir(parents=True, exist_ok=True)
    images, frames = [], []
    for t in range(n_frames):
        image = background.copy()
        frame_people = []
        for p in people:
            kp = _pose(p["height"], np.array([p["x"] + p["vx"] * t, p["y"]]), 0.6 * t)
            for a, b in SKELETON:
                cv2.line(image, tuple(np.round(kp[a, :2]).astype(int)), tuple(np.round(kp[b, :2]).astype(int)),
                         p["color"], 4, cv2.LINE_AA)
            head_r = 0.07 * p["height"]
            head_c = (kp[0, :2] + kp[2, :2]) / 2
            cv2.circle(image, tuple(np.round(head_c).astype(int)), int(head_r), p["color"], -1, cv2.LINE_AA)
            head = np.array([head_c[0] - head_r, head_c[1] - head_r * 1.3, 2 * head_r, 2.6 * head_r])
            vis = kp[:, 2] > 0
            lo, hi = kp[vis, :2].min(0), kp[vis, :2].max(0)
            frame_people.append(Person(kp, track_id=p["track"], bbox=np.r_[lo - 5, hi - lo + 10], bbox_head=head))
        file_name = f"images/val/{name}/{t:06d}.jpg"
        cv2.imwrite(str(root / file_name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        labeled = t % 2 == 0  # like PoseTrack val, not every frame is labeled
        frames.append(Frame(file_name, 900000_0000 + t, labeled, frame_people if labeled else [],
                            width=w, height=h, raw={"vid_id": name.split("_")[0]}))
        images.append(image)
    gt_file = root / "annotations" / "val" / f"{name}.json"
    save_posetrack(Video(name, frames), gt_file)
    video_file = root / "videos" / f"{name}.mp4"
    write_video(video_file, images, fps=25)
    return gt_file, video_file


def codec_round_trip(gt: Video, video_file: Path, method: str, cfg: ClipConfig) -> tuple[Video, float]:
    """Predictions made by encoding each labeled person's GT heatmaps in a top-down clip read
    from the video file, then decoding them back to image coordinates. Also returns the mean
    distance in image pixels between decoded and GT joints."""
    source = open_frames(video_file)
    pred = gt.empty_like()
    errors = []
    for f, frame in enumerate(tqdm(gt.frames, desc=f"clips ({method})", leave=False)):
        for person in frame.people:
            frames = [source.read(i) for i in clip_indices(f, cfg.offsets, len(source))]
            sample = make_clip(frames, person.bbox, cfg, person.keypoints)
            coords, maxvals = decode(sample.heatmaps[None], method, blur_kernel=5)
            xy = heatmap_to_image(coords[0], sample.crop_to_image, cfg.stride)
            kp = np.concatenate([xy, np.ones((17, 1))], axis=1)
            kp[[3, 4]] = 0
            vis = person.visible
            errors.extend(np.linalg.norm(xy[vis] - person.keypoints[vis, :2], axis=1))
            pred.frames[f].people.append(Person(kp, track_id=person.track_id, bbox=person.bbox,
                                                scores=maxvals[0].astype(np.float64)))
    return pred, float(np.mean(errors))


def run_demo(out: str | Path = "runs/demo") -> dict:
    """Run the demo into ``out``; returns the evaluation results."""
    out = Path(out)
    start = time.time()
    data_root = out / "toy"
    gt_file, video_file = render_toy_video(data_root)
    print(f"[1/4] toy clip: {video_file} and GT {gt_file}")
    (gt,), summary = load_posetrack(gt_file)
    print(f"[2/4] read GT: {summary.videos} video, {summary.frames} frames, {summary.labeled_frames} labeled, "
          f"{summary.people} people")
    cfg = ClipConfig(input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)
    results = {}
    for method in ("argmax", "dark"):
        pred, error = codec_round_trip(gt, video_file, method, cfg)
        save_videos([pred], out / f"predictions_{method}")
        results[method] = evaluate_posetrack(gt_file, out / f"predictions_{method}" / gt_file.name)
        results[method]["mean_error_px"] = error
    print("[3/4] heatmap codec round trip, scored with the poseval-exact evaluator "
          "(no trained model yet: predictions are GT sent through crop -> heatmap -> decode):")
    print(format_table(results["argmax"]).splitlines()[0] + "  error(px)")
    for method, r in results.items():
        print(format_table(r, title=method).splitlines()[1] + f"  {r['mean_error_px']:9.3f}")
    source = open_frames(video_file)
    rendered = [draw_frame(source.read(i), pred.frames[i]) for i in range(len(source))]
    write_video(out / "demo_predictions.mp4", rendered, fps=25)
    save_rgb(str(out / "demo_frame.png"), rendered[len(rendered) // 2])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"[4/4] rendered {out / 'demo_predictions.mp4'} and {out / 'demo_frame.png'}; "
          f"results in {out / 'results.json'} ({time.time() - start:.1f} s)")
    return results
