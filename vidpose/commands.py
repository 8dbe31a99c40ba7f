"""What each ``vidpose`` subcommand does, one function per command: each takes the parsed
arguments (``vidpose/cli.py`` builds the parser) and returns the exit status. The work itself
lives in the package; a command reads its arguments, calls it, and prints the outcome."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def demo(args: argparse.Namespace) -> int:
    from vidpose.demo import run_demo, run_real_demo

    if args.synthtrack:
        run_demo(args.out, preset=args.preset, data_root=args.data_root, manifest=args.manifest, split=args.split,
                 progress=not args.quiet)
    else:
        run_real_demo(args.out, model=args.model, progress=not args.quiet)
    return 0


def inspect(args: argparse.Namespace) -> int:
    from vidpose.data.annotations import load_posetrack

    videos, summary = load_posetrack(args.path)
    print(summary.format())
    if args.videos:
        for v in videos:
            labeled = sum(f.is_labeled for f in v.frames)
            people = sum(len(f.people) for f in v.frames)
            print(f"  {v.name:<24} frames {len(v.frames):5d}  labeled {labeled:5d}  people {people:6d}")
    return 0


def draw(args: argparse.Namespace) -> int:
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


def evaluate(args: argparse.Namespace) -> int:
    from vidpose.errors import ConfigError
    from vidpose.evaluation import evaluate_posetrack, format_table

    if args.json and Path(args.json).is_dir():
        raise ConfigError(f"--json {args.json}: is a folder; give a file name (for example results.json)")

    result = evaluate_posetrack(args.gt, args.pred, mode=args.mode, mota=args.mota, workers=args.workers)
    print(f"{result['num_videos']} videos, {result['num_frames']} evaluated frames, "
          f"{result['num_gt_people']} GT and {result['num_pred_people']} predicted people ({args.mode})")
    print(format_table(result))
    if args.mota:
        m = result["MOTA"]
        from vidpose.data.schema import GROUP_NAMES

        print("MOTA     " + " ".join(f"{m[n]:8.2f}" for n in GROUP_NAMES))
        print(f"MOTP {m['MOTP']:.2f}  precision {m['precision']:.2f}  recall {m['recall']:.2f}  "
              f"switches {m['switches']}")
    if args.json:
        from vidpose.data.annotations import write_json_atomic

        write_json_atomic(result, args.json)
        print(f"wrote {args.json}")
    return 0


def synth(args: argparse.Namespace) -> int:
    from vidpose.synth.dataset import SPLITS, SynthConfig, generate

    if args.synth_command == "preview":
        return synth_preview(args)
    if not args.out:
        raise SystemExit("error: vidpose synth needs --out DIR (or the preview action)")
    cfg = SynthConfig(preset=args.preset, seed=args.seed, videos=args.videos, frames=args.frames,
                      splits=tuple(args.splits or SPLITS), width=args.width, height=args.height,
                      degrade_rate=args.degrade_rate, workers=args.workers)
    stats = generate(args.out, cfg, progress=not args.quiet, replace_existing=args.replace)
    for split, s in stats["splits"].items():
        print(f"{split:<9} {s['videos']:3d} videos  {s['frames']:5d} frames  {s['labeled_frames']:5d} labeled  "
              f"{s['people']:5d} people  degraded labeled frames {100 * s['degraded_labeled_frame_rate']:.0f}%  "
              f"occluded joints {100 * s['occlusion_rate']:.0f}%")
    print(f"wrote {args.out} in {stats['seconds']:.1f} s ({stats['bytes'] / 1e6:.1f} MB)")
    return 0


def synth_preview(args: argparse.Namespace) -> int:
    from vidpose.synth.dataset import contact_sheet

    path = contact_sheet(args.dir, args.sheet, split=args.split, videos=args.rows, frames=args.cols)
    print(f"wrote {path}")
    return 0


def train(args: argparse.Namespace) -> int:
    from vidpose.engine.config import load_config
    from vidpose.engine.trainer import train
    from vidpose.errors import ConfigError
    from vidpose.models.registry import MODELS

    cfg = load_config(args.config, args.overrides)
    out = args.out or cfg.get("output") or f"runs/{Path(args.config).stem}"
    if args.test and not getattr(MODELS.get(cfg["model"].get("name")), "predicts_heatmaps", True):
        raise ConfigError(f"{args.config}: model {cfg['model']['name']} is a pre-training model with no poses to "
                          "test; drop --test")
    summary = train(cfg, out, resume=args.resume, progress=not args.quiet, overwrite=args.overwrite)
    print(f"trained {summary['steps']} steps in {summary['minutes']:.1f} min, last loss {summary['loss']:.4g}; "
          f"weights: {summary['checkpoint']}")
    if args.test:
        from vidpose.engine.tester import run_test

        for split in args.test:
            _print_result(run_test(cfg, summary["checkpoint"], out, split=split, progress=not args.quiet))
    return 0


def _print_result(result: dict) -> None:
    from vidpose.evaluation import format_table

    print(f"{result['split']}: {result['num_frames']} frames, {result['people']} boxes ({result['boxes']})")
    print(format_table(result))


def test(args: argparse.Namespace) -> int:
    from vidpose.engine.config import load_config
    from vidpose.engine.tester import run_test

    cfg = load_config(args.config, args.overrides)
    out = args.out or Path(args.checkpoint).parent
    for split in args.split or [cfg["data"].get("val_split", "val")]:
        _print_result(run_test(cfg, args.checkpoint, out, split=split, boxes=args.boxes, progress=not args.quiet))
    return 0


def predict(args: argparse.Namespace) -> int:
    from vidpose.errors import ConfigError
    from vidpose.pipeline import Pipeline, check_frames, check_outputs, is_video_folder, predict_folder

    if args.causal:
        for option, value in (("--boxes", args.boxes), ("--frames", args.frames)):
            if value:
                raise ConfigError(f"{option} does not work with --causal yet")
        check_outputs(args.out, args.render, [args.video, args.config, args.checkpoint], args.overwrite)
        live = Pipeline(args.model, args.config, args.checkpoint, args.overrides, detect_every=args.detect_every,
                        small_people=args.small_people, cache=not args.no_cache, causal=True,
                        region_model=args.region_model, crop_boxes=args.crop_boxes, runtime=args.runtime,
                        boxes_in_time="causal" if args.boxes_in_time == "offline" else args.boxes_in_time)
        t = live.predict_live(args.video, args.out, args.render, progress=not args.quiet)
        print(f"{t['frames']} frames, {t['boxes']} boxes live (causal, {live.name}) in {t['total_s']:.1f} s "
              f"({t['fps']:.2f} frames/s); wrote {args.out}" + (f" and {args.render}" if args.render else ""))
        return 0
    many = is_video_folder(args.video)
    frames = None
    if many:
        for option, value in (("--boxes", args.boxes), ("--frames", args.frames)):
            if value:
                raise ConfigError(f"{option} works on one video; {args.video} is a folder of videos")
        for option, value in (("--out", args.out), ("--render", args.render)):
            if value and Path(value).exists() and not Path(value).is_dir():
                raise ConfigError(f"{option} {value}: is a file; with a folder of videos give a folder")
    else:
        frames = check_frames(_frame_range(args.frames)) if args.frames else None
        check_outputs(args.out, args.render, [args.video, args.boxes, args.config, args.checkpoint], args.overwrite)
    pipeline = Pipeline(args.model, args.config, args.checkpoint, args.overrides, detect_every=args.detect_every,
                        small_people=args.small_people, min_box_score=args.min_box_score, cache=not args.no_cache,
                        window_boxes=args.window_boxes, global_cache_size=args.global_cache,
                        boxes_in_time=args.boxes_in_time, region_model=args.region_model,
                        crop_boxes=args.crop_boxes, runtime=args.runtime)
    if many:
        c = predict_folder(pipeline, args.video, args.out, args.render, progress=not args.quiet)
        print(f"{c['videos']} videos in {args.video}" + (f", {c['this_process']} in process {c['rank']} of "
              f"{c['world']}" if c["world"] > 1 else "") + f": {c['done']} predicted, {c['skipped']} already done "
              f"(skipped), {len(c['failed'])} failed; wrote {args.out}")
        for video, message in c["failed"].items():
            print(f"failed: {video}: {message}", file=sys.stderr)
        return 1 if c["failed"] else 0
    t = pipeline.predict(args.video, args.out, render=args.render, boxes=args.boxes, progress=not args.quiet,
                         frames=frames, overwrite=args.overwrite)
    print(f"{t['frames']} frames, {t['boxes']} boxes in {t['total_s']:.1f} s ({t['fps']:.2f} frames/s: people "
          f"{t['people_s']:.1f} s, poses {t['poses_s']:.1f} s); wrote {args.out}"
          + (f" and {args.render}" if args.render else ""))
    return 0


def _frame_range(text: str) -> tuple[int, int | None]:
    """``--frames START:STOP`` as two integers (STOP may be left out)."""
    from vidpose.errors import ConfigError

    start, colon, stop = text.partition(":")
    try:
        return int(start or 0), int(stop) if stop else None
    except ValueError:
        raise ConfigError(f"--frames {text!r}: expected START:STOP, two integers") from None


def models(args: argparse.Namespace) -> int:
    from vidpose.pipeline import DEFAULT_MODEL, SHIPPED

    rows = [{"name": n, "kind": m.kind, "backbone": m.backbone, "keypoints": m.keypoints, "config": m.config,
             "weights": m.weights or "asset", "default": n == DEFAULT_MODEL, "note": m.note} for n, m in SHIPPED.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<25}{'*' if r['default'] else ' '} {r['kind']:<13} {r['backbone']:<38} {r['keypoints']:<20} "
              f"{r['note']}")
    print("* = the default of `vidpose predict`")
    return 0


def export(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from vidpose.engine.export import export_onnx, onnx_difference
    from vidpose.errors import ConfigError
    from vidpose.pipeline import choose_model, load_model

    if Path(args.out).suffix.lower() != ".onnx":
        raise ConfigError(f"--out {args.out}: give a .onnx file name")
    if args.batch < 1:
        raise ConfigError(f"--batch {args.batch}: must be at least 1")
    model, cfg = load_model(choose_model(args.model, args.config, args.checkpoint), args.config, args.checkpoint,
                            args.overrides, torch.device("cpu"))
    with warnings.catch_warnings():  # the tracer's notes on shape checks it folds into constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        path = export_onnx(model, cfg, args.out, batch=args.batch)
    line = f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): clip (B={args.batch}, T, 3, H, W) -> heatmaps"
    try:
        line += f"; ONNX Runtime vs PyTorch: largest difference {onnx_difference(model, cfg, path):.2e}"
    except ImportError:
        line += " (install onnxruntime to check it against PyTorch)"
    print(line)
    return 0


def bench(args: argparse.Namespace) -> int:
    from vidpose.bench import (DEFAULT_METHODS, MAIN_METHODS, METHODS, RESULTS, export_backbones, merge_results,
                               run_bench, write_report)

    if args.list:
        for name, m in METHODS.items():
            stage = f"stage 2 from {m.init}" if m.init else "stage 1"
            mark = "*" if name in DEFAULT_METHODS else " "
            print(f"{name:<22} {mark} {stage:<28} {m.config} {' '.join(m.overrides)}  {m.note}")
        print("* = run when --methods is not given; " + ", ".join(MAIN_METHODS) + " get --seeds, ablations --ablation-seeds")
        return 0
    if args.all:
        if args.methods:
            raise SystemExit("error: give --all or --methods, not both")
        args.methods = list(METHODS)
    if args.merge:
        if not args.methods:
            raise SystemExit("error: --merge needs --methods: the rows to take")
        merge_results(args.merge, args.methods, args.protocol, args.results, args.runs, args.preset, args.data_root,
                      args.resamples)
    elif not args.report_only:
        command = "vidpose bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "vidpose bench"
        run_bench(args.preset, args.methods, None if args.steps == 0 else args.steps, args.seeds, args.ablation_seeds,
                  args.budget_minutes, args.runs, data_root=args.data_root, results=args.results,
                  retrain_backbones=args.retrain_backbones, cache_copies=args.cache_copies or None,
                  resamples=args.resamples, command=command, cache_dir=args.cache_dir, protocol=args.protocol,
                  paper_epochs=args.paper_epochs, amp_dtype=args.amp_dtype)
        if args.export_backbones:
            names = [n for n in (args.methods or DEFAULT_METHODS) if METHODS[n].init is None]
            print(f"wrote {export_backbones(args.runs or f'runs/bench/{args.preset}', names, results=args.results)}")
    if Path(args.results).resolve() == RESULTS.resolve():  # both relative to where bench runs, as docs/results.md
        doc = write_report(args.results)
    else:  # a results file kept apart (a check): its report beside it; docs/results.md and the docs' tables stay
        report = Path(args.results).with_suffix(".md")
        doc = write_report(args.results, doc=report, chart=report.with_name(report.stem + "_chart.png"),
                           realvideo="", table_docs=())
    print(f"wrote {doc} and its chart from {args.results}")
    return 0


def assets(args: argparse.Namespace) -> int:
    from vidpose.assets import ASSETS, asset_path, fetch, home

    if args.action == "list":
        for name, a in ASSETS.items():
            try:
                state = f"ok   {asset_path(name)}"
            except Exception as e:  # noqa: BLE001 - the listing reports whatever is wrong
                state = f"--   {str(e).splitlines()[0]}"
            print(f"{name:<26} {a.source}:{a.package}=={a.version}  {a.licence}\n    {state}")
        return 0
    for path in fetch(args.names or None, force=args.force):
        print(path)
    print(f"assets are in {home()} (VIDPOSE_HOME)")
    return 0


def realdata(args: argparse.Namespace) -> int:  # vidpose realdata build and export (vidpose/realdata/)
    from vidpose.realdata import run_cli

    return run_cli(args)
