"""Plain ViT for top-down pose, as in ViTPose (Xu et al., NeurIPS 2022, Sec. 3.1): non-
overlapping patch embedding, transformer blocks, a final LayerNorm, and the "classic" decoder of
deconvolutions plus a 1x1 prediction layer.

Two options for training from scratch on small data (SynthTrack), both off by default:

- ``stem="conv"``: a convolutional stem after Xiao et al. (NeurIPS 2021, "Early convolutions help
  transformers see better", Sec. 3): stride-2 3x3 convolutions with BatchNorm and ReLU down to the
  patch stride, then a 1x1 convolution to the token width, in place of the patchify convolution
  (not in ViTPose). Unlike Xiao et al., every convolution has stride 2 and doubles the channels,
  ending at the width, and no transformer block is removed to pay for the stem (at the tiny
  ViT's patch 8 it costs about 2% of the model's multiply-adds);
- ``drop_path``: stochastic depth (Huang et al., ECCV 2016) on each block's two residual
  branches, rising linearly with depth to this rate, as ViTPose's configs do (``drop_path_rate``,
  0.1 to 0.3 there).

``forward`` returns ``tokens`` (B, N, C) and their grid shape, which SDTC builds on, plus
``feature`` (the decoder output) and ``heatmaps``. Module names follow the mmpose ViTPose
checkpoints (``patch_embed.proj``, ``pos_embed``, ``blocks.i.attn.qkv``, ``last_norm``, and
``deconv_layers`` / ``final_layer`` of the head); ``vidpose.models.pretrained`` maps their
``backbone.*`` / ``keypoint_head.*`` prefixes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.models.layers import HeatmapBackbone, init_heatmap_layer

#: name -> (embed dim, depth, heads, patch size, deconv layers)
SIZES = {
    "tiny": (96, 4, 3, 8, 1),
    "small": (384, 12, 12, 16, 2),
    "base": (768, 12, 12, 16, 2),
}


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        # ViTPose pads the 16x16 patch convolution by 2 pixels; we keep that for patch 16.
        self.proj = nn.Conv2d(3, dim, patch, patch, padding=2 if patch == 16 else 0)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The token grid (rows, columns) of an input of this size."""
        k, s, p = self.proj.kernel_size[0], self.proj.stride[0], self.proj.padding[0]
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class ConvStem(nn.Module):
    """Xiao et al. 2021, Sec. 3: 3x3 stride-2 convolutions (BatchNorm, ReLU), each doubling the
    channels, down to the patch stride, then a 1x1 convolution to ``dim``. Same tokens and grid as
    ``PatchEmbed`` (the input's sides must be multiples of the patch size)."""

    def __init__(self, patch: int, dim: int):
        super().__init__()
        if patch & (patch - 1) or patch < 2:
            raise ValueError(f"a convolutional stem needs a power-of-two patch size, not {patch}")
        layers: list[nn.Module] = []
        cin, cout = 3, max(dim // 2 ** (patch.bit_length() - 2), 8)
        for _ in range(patch.bit_length() - 1):  # log2(patch) stride-2 convolutions
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin, cout = cout, cout * 2
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, dim, 1)
        self.patch = patch

    def grid(self, height: int, width: int) -> tuple[int, int]:
        return height // self.patch, width // self.patch

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(self.convs(x))
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a residual branch for a random subset of the batch's samples, and
    scale the kept ones by 1 / (1 - rate)."""
    if rate == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - rate)
    return x * keep / (1 - rate)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        self.drop_path = drop_path
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class ViTPose(HeatmapBackbone):
    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, patch: int = 16, deconv: int = 2,
                 input_size: tuple[int, int] = (192, 256), joints: int = 17, deconv_channels: int = 256,
                 head_stride: int | None = None, stem: str = "patch", drop_path: float = 0.0):
        super().__init__()
        if stem not in ("patch", "conv"):
            raise ValueError(f"ViT stem {stem!r}: expected 'patch' or 'conv'")
        self.patch_embed = PatchEmbed(patch, dim) if stem == "patch" else ConvStem(patch, dim)
        self.patch_pixels = patch
        w, h = input_size
        grid = self.patch_embed.grid(h, w)
        self.grid = grid
        # One extra slot, as in ViTPose (a class-token position that is added to every patch).
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1] + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([Block(dim, heads, drop_path=r) for r in rates])
        self.last_norm = nn.LayerNorm(dim, eps=1e-6)
        layers: list[nn.Module] = []
        cin = dim
        for _ in range(deconv):
            layers += [nn.ConvTranspose2d(cin, deconv_channels, 4, 2, 1, bias=False), nn.BatchNorm2d(deconv_channels),
                       nn.ReLU(inplace=True)]
            cin = deconv_channels
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = init_heatmap_layer(nn.Conv2d(cin, joints, 1))
        self.dim = dim
        self.feature_channels = cin
        self.feature_stride = patch // 2 ** deconv
        self.set_head_stride(head_stride)
        self.stage_channels = [dim]

    def layer_id(self, name: str) -> int:
        """The depth of parameter ``name`` for layer-wise learning-rate decay (BEiT, Sec. 3.3;
        ViTPose's optimizer): 0 for the embedding, i + 1 for block i, depth + 1 for the rest."""
        if name.startswith(("patch_embed.", "pos_embed")):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return len(self.blocks) + 1

    def no_weight_decay(self) -> set[str]:
        """Parameters kept out of weight decay beside biases and norms, as in timm and ViTPose."""
        return {"pos_embed"}

    def _pos(self, grid: tuple[int, int]) -> torch.Tensor:
        pos = self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        if grid != self.grid:  # another input size: resize the learned grid
            pos = pos.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
            pos = F.interpolate(pos, size=grid, mode="bicubic", align_corners=False)
            pos = pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
        return pos

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(B, 3, H, W) -> tokens (B, N, C) after the last LayerNorm, and the grid (h, w)."""
        tokens, grid = self.patch_embed(x)
        tokens = tokens + self._pos(grid)
        for block in self.blocks:
            tokens = block(tokens)
        return self.last_norm(tokens), grid

    def tokens_to_map(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)

    def forward_features(self, x: torch.Tensor) -> dict:
        tokens, grid = self.encode(x)
        fmap = self.tokens_to_map(tokens, grid)
        return {"tokens": tokens, "grid": grid, "features": [fmap], "feature": self.deconv_layers(fmap)}



def build_vit(size: str = "base", joints: int = 17, input_size: tuple[int, int] = (192, 256),
              head_stride: int | None = None, stem: str = "patch", drop_path: float = 0.0) -> ViTPose:
    if size not in SIZES:
        raise ValueError(f"unknown ViT size {size!r}; expected one of {sorted(SIZES)}")
    dim, depth, heads, patch, deconv = SIZES[size]
    if input_size[0] % patch or input_size[1] % patch:
        raise ValueError(f"ViT-{size}: input size {input_size} must be a multiple of the patch size {patch}")
    return ViTPose(dim, depth, heads, patch, deconv, tuple(input_size), joints, head_stride=head_stride,
                   stem=stem, drop_path=drop_path)

