"""Modulated deformable convolution (DCNv2; Zhu et al., "Deformable ConvNets v2", CVPR 2019,
Eq. 3) in plain PyTorch, used by TDMI (Sec. 3.1, Eq. 3-4) and JM-Pose.

    y(p) = sum_k w_k * x(p + p_k + dp_k) * m_k

Each kernel tap k samples the input at its regular position plus a learned offset dp_k, by
bilinear interpolation (points outside the image read zero), and is scaled by a modulation
scalar m_k. Offsets have the layout of ``torchvision.ops.deform_conv2d``: (B, 2 * G * kh * kw,
Ho, Wo) with (dy, dx) pairs per offset group G and tap; masks are (B, G * kh * kw, Ho, Wo).
When torchvision is importable it is used (and must agree, which the tests check); otherwise
``grid_sample`` does the sampling, so it runs on CPU and GPU and exports to ONNX (opset 16+).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

try:  # optional fast path; never required
    from torchvision.ops import deform_conv2d as _tv_deform_conv2d
except Exception:  # noqa: BLE001  (torchvision missing or built for another torch)
    _tv_deform_conv2d = None


def deform_conv2d_reference(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor,
                            bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0,
                            dilation: int = 1) -> torch.Tensor:
    """The same operation written with ``grid_sample`` (the portable implementation)."""
    B, C, H, W = x.shape
    Cout, Cg, kh, kw = weight.shape
    groups = C // Cg
    K = kh * kw
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    G = offset.shape[1] // (2 * K)
    if offset.shape[1] != 2 * G * K or C % G:
        raise ValueError(f"deformable conv: offset has {offset.shape[1]} channels, expected 2 x groups x {K} with "
                         f"{C} input channels divisible by the offset groups")
    if mask is None:
        mask = x.new_ones(B, G * K, Ho, Wo)
    dtype = x.dtype
    ys = (torch.arange(Ho, device=x.device, dtype=dtype) * stride - padding).view(1, 1, Ho, 1)
    xs = (torch.arange(Wo, device=x.device, dtype=dtype) * stride - padding).view(1, 1, 1, Wo)
    ky = (torch.arange(kh, device=x.device, dtype=dtype) * dilation).repeat_interleave(kw).view(1, K, 1, 1)
    kx = (torch.arange(kw, device=x.device, dtype=dtype) * dilation).repeat(kh).view(1, K, 1, 1)
    off = offset.view(B, G, K, 2, Ho, Wo)
    # every offset group at once: groups folded into the batch, one grid_sample call
    py = ys + ky + off[:, :, :, 0]  # (B, G, K, Ho, Wo)
    px = xs + kx + off[:, :, :, 1]
    # align_corners=True maps -1..1 to pixel centres 0..W-1; zero padding reads 0 outside.
    grid = torch.stack([2 * px / max(W - 1, 1) - 1, 2 * py / max(H - 1, 1) - 1], -1).view(B * G, K * Ho, Wo, 2)
    sampled = F.grid_sample(x.reshape(B * G, C // G, H, W), grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True)
    col = (sampled.view(B, G, C // G, K, Ho, Wo) * mask.view(B, G, 1, K, Ho, Wo)).view(B, C, K, Ho, Wo)
    col = col.view(B, groups, Cg, K, Ho, Wo)
    w = weight.view(groups, Cout // groups, Cg, K)
    out = torch.einsum("bgckhw,gock->bgohw", col, w).reshape(B, Cout, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor,
                  bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1,
                  use_torchvision: bool = True) -> torch.Tensor:
    if use_torchvision and _tv_deform_conv2d is not None and not torch.onnx.is_in_onnx_export():
        return _tv_deform_conv2d(x, offset, weight, bias, (stride, stride), (padding, padding),
                                 (dilation, dilation), mask)
    return deform_conv2d_reference(x, offset, mask, weight, bias, stride, padding, dilation)


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 whose offsets and masks come from outside (TDMI predicts them from motion features).
    Masks pass through a sigmoid here, as in DCNv2, so raw predictions are fine."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1, dilation: int = 1,
                 offset_groups: int = 1, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.kernel, self.padding, self.dilation, self.offset_groups = kernel, padding, dilation, offset_groups

    @property
    def offset_channels(self) -> int:
        return 2 * self.offset_groups * self.kernel ** 2

    @property
    def mask_channels(self) -> int:
        return self.offset_groups * self.kernel ** 2

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
        return deform_conv2d(x, offset, torch.sigmoid(mask_logits), self.weight, self.bias, 1, self.padding,
                             self.dilation)
