"""Where does a temporal model help? Per-joint PCKh@0.5 accuracy on clean and on degraded
labeled frames, for bench runs that were tested with GT boxes (their prediction files).

    python analysis/degraded_joints.py --runs runs/bench/standard --methods single_frame tdmi
                                         [--split val_hard] [--out analysis/results/degraded_joints.json]

A frame is "degraded" when SynthTrack applied an image degradation to it (motion blur, defocus,
occluder, noise, JPEG, lighting; people occluding each other do not count). The joints counted are the 15 evaluated ones with a GT annotation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vidpose.data.annotations import load_posetrack
from vidpose.demo import EVALUATED, correct_joints, degradations, paired_people


def accuracy(gt_dir: Path, pred_dir: Path) -> dict[str, dict[str, float]]:
    gt = {v.name: v for v in load_posetrack(gt_dir)[0]}
    pred = {v.name: v for v in load_posetrack(pred_dir)[0]}
    counts = {"clean": np.zeros(2), "degraded": np.zeros(2)}
    for name, video in gt.items():
        if name not in pred:
            continue
        for _, frame, _, person, (predicted,) in paired_people(video, pred[name]):
            kind = "degraded" if degradations(frame) else "clean"
            ok = correct_joints(predicted.keypoints, person.keypoints, person.bbox_head)
            counts[kind] += [ok[EVALUATED].sum(), (person.keypoints[EVALUATED, 2] > 0).sum()]
    return {k: {"correct": int(c[0]), "joints": int(c[1]), "pckh": round(100 * c[0] / max(c[1], 1), 2)}
            for k, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--data", default="data/synthtrack/standard")
    parser.add_argument("--methods", nargs="+", default=["single_frame", "naive_temporal", "tdmi"])
    parser.add_argument("--split", default="val_hard")
    parser.add_argument("--out", default="analysis/results/degraded_joints.json")
    args = parser.parse_args()
    gt_dir = Path(args.data) / "annotations" / args.split
    result = {m: accuracy(gt_dir, Path(args.runs) / m / "predictions" / args.split) for m in args.methods}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"split": args.split, "runs": args.runs, "methods": result}, indent=2))
    print(f"PCKh@0.5 on {args.split} (GT boxes): clean frames | degraded frames")
    for m, r in result.items():
        print(f"{m:<22} {r['clean']['pckh']:6.2f} ({r['clean']['joints']} joints) | "
              f"{r['degraded']['pckh']:6.2f} ({r['degraded']['joints']} joints)")


if __name__ == "__main__":
    main()
