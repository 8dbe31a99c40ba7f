"""The ``vidpose`` command: one entry point with subcommands.

    vidpose demo                      end-to-end pipeline check on an embedded toy clip
    vidpose data inspect PATH         what a PoseTrack annotation file or folder contains
    vidpose data draw PATH ...        render the ground truth of one frame
    vidpose eval --gt GT --pred PRED  PoseTrack AP (and MOTA) with poseval's semantics
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

EPILOG = "Run 'vidpose COMMAND --help' for a command's options. Docs: README.md, docs/architecture.md."


def _cmd_demo(args: argparse.Namespace) -> int:
    from vidpose.demo import run_demo

    run_demo(args.out)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from vidpose.data.annotations import load_posetrack

    videos, summary = load_posetrack(args.path)
    print(summary.format())
    if args.videos:
        for v in videos:
            labeled = sum(f.is_labeled for f in v.frames)
            people = sum(len(f.people) for f in v.frames)
            print(f"  {v.name:<24} frames {len(v.frames):5d}  labeled {labeled:5d}  people {people:6d}")
    return 0


def _cmd_draw(args: argparse.Namespace) -> int:
    from vidpose.data.annotations import load_posetrack
    from vidpose.data.draw import draw_frame, save_rgb
    from vidpose.data.frames import read_image

    videos, _ = load_posetrack(args.path)
    if args.video:
        videos = [v for v in videos if v.name == args.video]
        if not videos:
            raise SystemExit(f"error: {args.path}: no video named {args.video!r}")
    video = videos[0]
    if not 0 <= args.frame < len(video.frames):
        raise SystemExit(f"error: {video.source}: frame {args.frame} out of range (0..{len(video.frames) - 1})")
    frame = video.frames[args.frame]
    root = Path(args.images) if args.images else _guess_root(Path(args.path))
    image = read_image(root / frame.file_name)
    save_rgb(args.out, draw_frame(image, frame))
    print(f"wrote {args.out}: {video.name} frame {args.frame} ({frame.file_name}), {len(frame.people)} people, "
          f"{len(frame.ignore_regions)} ignore regions")
    return 0


def _guess_root(path: Path) -> Path:
    """The dataset root (which holds images/) of an annotation path: the first parent with images/."""
    for parent in [path] + list(path.resolve().parents):
        if (parent / "images").is_dir():
            return parent
    return path.parent


def _cmd_eval(args: argparse.Namespace) -> int:
    from vidpose.evaluation import evaluate_posetrack, format_table

    result = evaluate_posetrack(args.gt, args.pred, mode=args.mode, mota=args.mota, workers=args.workers)
    print(f"{result['num_videos']} videos, {result['num_frames']} evaluated frames, "
          f"{result['num_gt_people']} GT and {result['num_pred_people']} predicted people ({args.mode})")
    print(format_table(result))
    if args.mota:
        m = result["MOTA"]
        names = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
        print("MOTA     " + " ".join(f"{m[n]:8.2f}" for n in names))
        print(f"MOTP {m['MOTP']:.2f}  precision {m['precision']:.2f}  recall {m['recall']:.2f}  "
              f"switches {m['switches']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidpose",
        description="Human pose estimation in video that uses time (TDMI, SDTC, JM-Pose, GLPose and baselines).",
        epilog=EPILOG,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="run the end-to-end demo on an embedded toy clip",
                       description="Render a toy clip, send its GT through the top-down clip path and the heatmap "
                                   "codec, score it with the evaluator and render a video. No download needed.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="inspect or draw PoseTrack annotations")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = dsub.add_parser("inspect", help="count videos, frames, labeled frames, people, joints, ignore regions",
                        description="Read a PoseTrack17/18/21 file or a folder of per-video files and print "
                                    "what it contains.")
    p.add_argument("path", help="annotation file or folder")
    p.add_argument("--videos", action="store_true", help="also list each video")
    p.set_defaults(func=_cmd_inspect)
    p = dsub.add_parser("draw", help="render the ground truth of one frame to an image",
                        description="Draw skeletons, head boxes, track ids and ignore regions of one frame.")
    p.add_argument("path", help="annotation file or folder")
    p.add_argument("--frame", type=int, default=0, help="frame position in the video (default 0)")
    p.add_argument("--video", help="video name when PATH holds several (default: the first)")
    p.add_argument("--images", help="dataset root holding images/ (default: found from PATH)")
    p.add_argument("--out", required=True, help="output image, e.g. frame.png")
    p.set_defaults(func=_cmd_draw)

    p = sub.add_parser("eval", help="PoseTrack AP (and MOTA) with the official poseval semantics",
                       description="Score predictions against GT exactly as poseval does. GT and PRED are each a "
                                   "folder of per-video files (matched by file name) or one file.")
    p.add_argument("--gt", required=True, help="GT file or folder")
    p.add_argument("--pred", required=True, help="prediction file or folder")
    p.add_argument("--mode", choices=["posetrack18", "posetrack21"], default="posetrack18",
                   help="frame selection and joint presence rules (default posetrack18 = poseval)")
    p.add_argument("--mota", action="store_true", help="also compute tracking MOTA (poseval semantics)")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that read the JSON files (default: all cores)")
    p.set_defaults(func=_cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from vidpose.data.annotations import AnnotationError
    from vidpose.data.frames import FrameError
    from vidpose.evaluation import EvaluationMismatch

    try:
        return args.func(args)
    except (AnnotationError, FrameError, EvaluationMismatch) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
