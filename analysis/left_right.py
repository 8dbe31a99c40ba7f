"""Whether a real head confuses left and right: its predictions on a RealData split, per left/right
pair, sorted by where the two predicted joints land.

    python analysis/left_right.py [--data data/realdata] [--split test]
        [--models blazepose dcpose_blazepose fami_pose_blazepose ...]   # shipped names, or NAME=CHECKPOINT
        [--out analysis/results/left_right.json]

For each pair (shoulders, elbows, wrists, hips, knees, ankles) and each pseudo-labelled person whose
two joints are both labelled and lie more than 0.5 head sizes apart (a head size as PCKh's), the two
predictions are:

- ``correct``: each within 0.5 head sizes of its own label (PCKh's hit);
- ``swapped``: each within 0.5 head sizes of the other side's label;
- ``collapsed``: both within 0.5 head sizes of the same label;
- ``other``: anything else (one or both elsewhere).

Each count is a fraction of the people counted. A head that tells left from right as the backbone
does has ``swapped`` and ``collapsed`` near the backbone's. The boxes are the split's tracker
boxes, predicted by benchmarks/realvideo.py's own functions (``VideoPredictor``, window boxes ``own``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from realvideo import load_split, model_of, predict_split  # noqa: E402  (benchmarks/realvideo.py)
from vidpose.bench import git_state  # noqa: E402
from vidpose.data.annotations import Video  # noqa: E402
from vidpose.data.schema import EVALUATED_JOINTS, FLIP_PAIRS, KEYPOINT_NAMES  # noqa: E402
from vidpose.engine.video import VideoPredictor  # noqa: E402
from vidpose.evaluation.pckh import PCKH_THRESHOLD, head_size  # noqa: E402

#: the evaluated left/right pairs (shoulder .. ankle; the ears are never annotated)
PAIRS = {KEYPOINT_NAMES[i].removeprefix("left_"): (i, j) for i, j in FLIP_PAIRS if i in EVALUATED_JOINTS}
OUTCOMES = ("correct", "swapped", "collapsed", "other")


def outcome(pred: np.ndarray, left: np.ndarray, right: np.ndarray, radius: float) -> str:
    """Where the predicted (left, right) pair ``pred`` (2, 2) lands against the two labels."""
    near = lambda a, b: float(np.hypot(*(a - b))) <= radius  # noqa: E731
    if near(pred[0], left) and near(pred[1], right):
        return "correct"
    if near(pred[0], right) and near(pred[1], left):
        return "swapped"
    if (near(pred[0], left) and near(pred[1], left)) or (near(pred[0], right) and near(pred[1], right)):
        return "collapsed"
    return "other"


def pair_outcomes(gt: list[Video], pred: list[Video]) -> dict[str, dict[str, Any]]:
    counts = {pair: dict.fromkeys(OUTCOMES, 0) for pair in PAIRS}
    for g, p in zip(gt, pred):
        for f, frame in enumerate(g.frames):
            if not frame.is_labeled:
                continue
            by_track = {q.track_id: q.keypoints[:, :2] for q in p.frames[f].people}
            for person in frame.people:
                size, xy = head_size(person), by_track.get(person.track_id)
                if size is None or xy is None:
                    continue
                radius = PCKH_THRESHOLD * size
                for pair, (i, j) in PAIRS.items():
                    kp = person.keypoints
                    if kp[i, 2] <= 0 or kp[j, 2] <= 0 or np.hypot(*(kp[i, :2] - kp[j, :2])) <= radius:
                        continue
                    counts[pair][outcome(np.asarray(xy)[[i, j]], kp[i, :2], kp[j, :2], radius)] += 1
    out = {}
    for pair, c in counts.items():
        n = sum(c.values())
        out[pair] = {"people": n, **{k: round(v / n, 4) if n else None for k, v in c.items()}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "realdata")
    parser.add_argument("--split", default="test")
    parser.add_argument("--models", nargs="+", default=["blazepose", "dcpose_blazepose", "fami_pose_blazepose"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "left_right.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    annotations = args.data / "annotations" / args.split
    if not annotations.is_dir():
        print(f"error: {annotations} is absent; build RealData: vidpose realdata build --out {args.data}",
              file=sys.stderr)
        return 2
    gt = load_split(args.data, args.split)
    commit, dirty = git_state(ROOT)
    report: dict[str, Any] = {"command": "python analysis/left_right.py " + " ".join(argv if argv is not None
                                                                                    else sys.argv[1:]),
                              "commit": commit, "tracked_files_modified": dirty, "split": args.split,
                              "radius": f"{PCKH_THRESHOLD} head sizes", "models": {}}
    for spec in args.models:
        name, model, cfg = model_of(spec)
        began = time.perf_counter()
        pred = predict_split(VideoPredictor(model, cfg), args.data, args.split, gt)
        report["models"][name] = {"checkpoint": spec.partition("=")[2] or None, "pairs": pair_outcomes(gt, pred),
                                  "seconds": round(time.perf_counter() - began, 1)}
        print(name, json.dumps(report["models"][name]["pairs"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
