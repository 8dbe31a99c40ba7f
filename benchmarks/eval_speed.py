"""Evaluator speed: a large synthetic GT/prediction pair, timed in-process and as a whole
`vidpose eval` process, and against the official poseval when it is installed.

    python benchmarks/eval_speed.py [--videos 50 --frames 100 --people 6] [--out benchmarks/results/eval_speed.json]

Predictions are the GT with Gaussian noise, random scores, missed joints, false-positive people
and shuffled order, so matching does real work. Every frame has two ignore polygons.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vidpose.data.annotations import Frame, Person, Video, save_videos
from vidpose.evaluation import evaluate_posetrack


def synthetic_pair(n_videos: int, n_frames: int, n_people: int, seed: int = 0) -> tuple[list[Video], list[Video]]:
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for v in range(n_videos):
        name = f"{900000 + v:06d}_mpii_test"
        gframes, pframes = [], []
        centers = rng.uniform(100, 1800, (n_people, 2))
        for f in range(n_frames):
            people, guesses = [], []
            for k in range(n_people):
                kp = np.zeros((17, 3))
                kp[:, :2] = centers[k] + rng.normal(0, 60, (17, 2)) + f
                kp[:, 2] = rng.random(17) > 0.15
                kp[[3, 4]] = 0
                kp[kp[:, 2] == 0, :2] = 0
                head = np.array([kp[2, 0] - 20, kp[2, 1] - 25, 40, 50])
                people.append(Person(kp, track_id=k, bbox_head=head))
                guess = kp.copy()
                guess[:, :2] += rng.normal(0, 8, (17, 2))
                guess[:, 2] = 1
                guess[[3, 4]] = 0
                guesses.append(Person(guess, track_id=k, scores=rng.random(17)))
            for extra in range(rng.integers(0, 3)):  # false-positive people
                fp = np.zeros((17, 3))
                fp[:, :2] = rng.uniform(0, 1900, 2) + rng.normal(0, 50, (17, 2))
                fp[:, 2] = 1
                guesses.append(Person(fp, track_id=n_people + extra, scores=rng.random(17) * 0.5))
            rng.shuffle(guesses)
            regions = [rng.uniform(0, 1900, 2) + np.array([[0, 0], [150, 0], [150, 120], [0, 120]]) for _ in range(2)]
            file_name = f"images/val/{name}/{f:06d}.jpg"
            labeled = f % 4 == 0
            gframes.append(Frame(file_name, (900000 + v) * 10000 + f, labeled, people if labeled else [], regions))
            pframes.append(Frame(file_name, (900000 + v) * 10000 + f, labeled, guesses))
        gts.append(Video(name, gframes))
        preds.append(Video(name, pframes))
    return gts, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "eval_speed.json"))
    args = parser.parse_args()

    gts, preds = synthetic_pair(args.videos, args.frames, args.people)
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, pred_dir = Path(tmp) / "gt", Path(tmp) / "pred"
        save_videos(gts, gt_dir)
        save_videos(preds, pred_dir)

        in_process = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = evaluate_posetrack(gt_dir, pred_dir)
            in_process.append(time.perf_counter() - t)
        cli = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vidpose.cli", "eval", "--gt", str(gt_dir), "--pred", str(pred_dir)],
                           check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
        poseval_s = None
        if importlib.util.find_spec("poseval") is not None:  # the official evaluator, if the user has it
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "poseval.evaluate", "--groundTruth", f"{gt_dir}/",
                            "--predictions", f"{pred_dir}/", "--evalPoseEstimation", "--outputDir", f"{tmp}/out"],
                           check=True, capture_output=True)
            poseval_s = time.perf_counter() - t

    record = {
        "videos": args.videos, "frames_per_video": args.frames, "people_per_frame": args.people,
        "evaluated_frames": result["num_frames"], "gt_people": result["num_gt_people"],
        "pred_people": result["num_pred_people"], "Total_AP": round(result["Total"], 3),
        "evaluate_posetrack_seconds_median": round(float(np.median(in_process)), 4),
        "vidpose_eval_process_seconds_median": round(float(np.median(cli)), 4),
        "official_poseval_seconds": None if poseval_s is None else round(poseval_s, 3),
        "official_poseval_note": "timed" if poseval_s is not None else "not installed here; not timed",
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "command": "python benchmarks/eval_speed.py " + " ".join(sys.argv[1:]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "repeats": args.repeats,
        "note": "time it on a quiet machine: any other job on the cores shows up directly",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
