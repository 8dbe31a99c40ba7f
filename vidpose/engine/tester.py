"""Testing: run a trained model on a split with GT boxes or a detection file, write
poseval-compatible prediction files, and score them with the project's evaluator.

    test:
      boxes: gt            # or a detection file (PoseWarper/DCPose or mmpose layout)
      min_box_score: 0.2
      flip: true           # average with the horizontally flipped clip
      flip_shift: true     # shift the flipped heatmap one pixel (SimpleBaseline/HRNet convention)
      decode: dark         # or argmax
      batch_size: 64

Joint score = heatmap maximum x box score (1 for GT boxes), as in PoseWarper/DCPose. Each
prediction file lists every GT image in order, with one entry per box and track ids numbered
within the frame (AP does not use tracks).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidpose.data.annotations import Person, save_videos
from vidpose.data.detections import load_detections
from vidpose.engine.data import make_dataset
from vidpose.engine.topdown import TopDownSettings, keypoints_from_heatmaps
from vidpose.data.clips import collate
from vidpose.engine.checkpoint import load_checkpoint, load_model_weights
from vidpose.errors import CheckpointError
from vidpose.evaluation import evaluate_posetrack, format_table
from vidpose.models.registry import build_model

log = logging.getLogger(__name__)


def load_trained(cfg: dict[str, Any], checkpoint: str | os.PathLike, device: torch.device) -> torch.nn.Module:
    state = load_checkpoint(checkpoint, cfg["model"]["name"])
    trained_on = ((state.get("config") or {}).get("model") or {}).get("backbone")
    if state.get("backbone_from_asset") and trained_on != cfg["model"].get("backbone"):
        raise CheckpointError(f"{checkpoint}: a head trained on the backbone {trained_on}, but the config builds "
                              f"{cfg['model'].get('backbone')}")
    model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
    load_model_weights(model, state, checkpoint)
    return model.to(device).eval()


def flip_batch(batch: dict) -> dict:
    """The extra model inputs of a horizontally flipped clip: GLPose's global crops are flipped
    too, and their cache keys marked so that flipped and unflipped embeddings stay apart."""
    out = dict(batch)
    if "global_crops" in batch:
        out["global_crops"] = batch["global_crops"].flip(-1)
        out["global_keys"] = [[k + ":flip" if k else k for k in row] for row in batch["global_keys"]]
    return out


@torch.no_grad()
def predict(model: torch.nn.Module, dataset, device: torch.device, settings: TopDownSettings = TopDownSettings(),
            batch_size: int = 64, workers: int = 0, progress: bool = True
            ) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(video, frame, keypoints (17, 2) in image pixels, scores (17,)) per item, through the one
    top-down path (``engine/topdown.py``)."""
    from tqdm import tqdm

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate)
    stride = dataset.cfg.stride
    out = []
    for batch in tqdm(loader, desc="test", disable=not progress):
        images = batch["images"].to(device)

        def heatmaps_of(mirrored: bool) -> np.ndarray:
            x, b = (images.flip(-1), flip_batch(batch)) if mirrored else (images, batch)
            return model(x, b)["heatmaps"].float().cpu().numpy()

        xy, peaks = keypoints_from_heatmaps(heatmaps_of, batch["crop_to_image"].numpy(), stride, settings)
        for i in range(len(xy)):
            out.append((batch["video"][i], batch["frame"][i], xy[i], peaks[i] * float(batch["box_score"][i])))
    return out


def run_test(cfg: dict[str, Any], checkpoint: str | os.PathLike, out_dir: str | os.PathLike, split: str | None = None,
             boxes: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Predict ``split`` (default ``data.val_split``) and evaluate. Writes ``predictions/<split>/``
    and ``results_<split>.json`` under ``out_dir``; returns the evaluator's result."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_trained(cfg, checkpoint, device)
    result = test_model(cfg, model, device, out_dir, split=split, boxes=boxes, progress=progress)
    result["checkpoint"] = str(checkpoint)
    split = result["split"]
    (Path(out_dir) / f"results_{split}.json").write_text(json.dumps(result, indent=2))
    log.info("%s %s (%s boxes):\n%s", cfg["model"]["name"], split, result["boxes"], format_table(result))
    return result


def test_model(cfg: dict[str, Any], model: torch.nn.Module, device: torch.device, out_dir: str | os.PathLike,
               split: str | None = None, boxes: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Predict ``split`` with a model in memory, write ``predictions/<split>/`` under ``out_dir``
    and return the evaluator's result (used by run_test and by training's learning curves)."""
    if not getattr(model, "predicts_heatmaps", True):
        raise ValueError(f"model {cfg['model']['name']} is a pre-training model: it predicts no poses to test "
                         "(start a single-frame model from it with train.init_from)")
    tcfg = cfg.get("test", {})
    split = split or cfg["data"].get("val_split", "val")
    boxes = boxes or tcfg.get("boxes", "gt")
    detections = None
    if boxes != "gt":
        detections = load_detections(boxes)
    dataset = make_dataset(cfg["data"], split, train=False, detections=detections,
                           min_box_score=float(tcfg.get("min_box_score", 0.2)))
    began = time.perf_counter()
    items = predict(model, dataset, device, TopDownSettings.from_config(cfg), batch_size=int(tcfg.get("batch_size", 64)),
                    workers=int(cfg["data"].get("workers", 0)), progress=progress)
    seconds = time.perf_counter() - began
    predictions = [v.empty_like() for v in dataset.videos]
    for v, f, xy, scores in items:
        frame = predictions[v].frames[f]
        frame.people.append(Person.predicted(xy, scores, track_id=len(frame.people)))
    out = Path(out_dir)
    pred_dir = out / "predictions" / split
    save_videos(predictions, pred_dir)
    gt_dir = Path(dataset.image_root) / "annotations" / split
    result = evaluate_posetrack(gt_dir, pred_dir)
    result["boxes"] = boxes
    result["split"] = split
    result["people"] = len(items)
    result["seconds"] = round(seconds, 2)
    return result
