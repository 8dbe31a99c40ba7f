"""Classical dense optical flow (OpenCV DIS) on the crops of a clip: the weight-free stand-in for
the learned flow networks (RAFT, FlowNet) that some video pose papers use, for SDTC's optical-flow
ablation (Table 4) and JM-Pose's flow motion source. Computed on the CPU, without gradients."""

from __future__ import annotations

import numpy as np
import torch

from vidpose.data.clips import IMAGENET_MEAN, IMAGENET_STD


def dis_flow(frames: torch.Tensor, order: list[int], key: int) -> torch.Tensor:
    """OpenCV DIS optical flow from the key crop to every frame of the clip (in ``order``),
    (B, T, 2, H, W) in pixels; the key frame's own flow is zero. No gradients."""
    import cv2

    mean = torch.from_numpy(IMAGENET_MEAN).to(frames.device).view(1, 1, 3, 1, 1)
    std = torch.from_numpy(IMAGENET_STD).to(frames.device).view(1, 1, 3, 1, 1)
    gray = ((frames.detach().float() * std + mean).clamp(0, 1) * 255).mean(2).to(torch.uint8).cpu().numpy()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    B, T, H, W = gray.shape
    out = np.zeros((B, len(order), 2, H, W), dtype=np.float32)
    for b in range(B):
        for t, i in enumerate(order):
            if i != key:
                out[b, t] = dis.calc(gray[b, key], gray[b, i], None).transpose(2, 0, 1)
    return torch.from_numpy(out).to(frames.device)
