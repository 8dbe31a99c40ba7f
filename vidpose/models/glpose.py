"""GLPose: global semantic and local temporal context for the key frame (Jiao et al., ACM TOMM
2022; shared/papers/glpose-abstract.txt and glpose-pipeline.jpg; notes in shared/specs/glpose.md).

Pipeline (the paper's figure): a shared backbone embeds the key crop V_t, the local crops V_l
(the key box in the neighbouring frames) and the global proposals V_g (people in frames sampled
across the whole video) -> similarity weights: local W_l by learned temporal weights, global
W_g = softmax over proposals of <phi(V_g), phi(V_t)> (top-k kept) -> conditional aggregation
S = Conv(V_t (+) W_l V_l (+) W_g V_g) -> feature enhancement: mask M = 1 - sigmoid(psi(V_t)),
F = A(M * S, V_t) -> detection head.

Only the structure is grounded in the figure; the choices below are ours (docs/methods.md):
- W_l = T(F_l, F_t) depends on the frames: ``local_weights: similarity`` (default) is the
  softmax over the neighbours of <phi(V_l), phi(V_t)> / tau plus a learnable bias per offset,
  initialised to the temporal prior -|delta|; ``learned`` keeps only the per-offset constants
  (input-independent) and ``prior`` fixes them at exp(-|delta|), both ablations;
- phi = Conv3x3/2 + BN + ReLU -> global average pool -> FC -> L2 normalisation, tau = 0.1;
- (+) is channel concatenation followed by 3 residual blocks; A is concatenation with V_t
  followed by 2 residual blocks; psi is a residual block and a 1x1 convolution to one channel;
- no global proposal available (a short video, or streaming at its start): the global term is 0.
- ``start_from_backbone`` (off as published; on for the heads on frozen real BlazePose,
  configs/real): the fused feature is added to the key frame's backbone feature through a
  zero-started 1x1 convolution and the head starts as the backbone's own (``layers.StartFromBackbone``).

``EmbeddingCache``: with the backbone frozen, a proposal's feature and embedding depend only on
its crop, so at test time each (video, frame, box) is embedded once and reused by every key frame
that samples it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.models.layers import (BasicBlock, ResidualBlocks, check_clip, clip_features,
                                   conv_bn_relu, head_for)


class Embedding(nn.Module):
    """phi: a feature map -> a unit vector."""

    def __init__(self, channels: int, dim: int = 128, hidden: int = 64):
        super().__init__()
        self.conv = conv_bn_relu(channels, hidden, 3, 2)
        self.fc = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fc(self.conv(x).mean((2, 3))), dim=-1)


def topk_softmax(logits: torch.Tensor, valid: torch.Tensor, k: int) -> torch.Tensor:
    """Softmax over the ``k`` largest valid logits of each row; every other weight is 0. A row
    with no valid entry gets all-zero weights."""
    masked = logits.masked_fill(~valid, float("-inf"))
    k = min(k, logits.shape[1])
    kth = masked.topk(k, dim=1).values[:, -1:]
    keep = valid & (masked >= kth)
    weights = masked.masked_fill(~keep, float("-inf")).softmax(1)
    return torch.nan_to_num(weights, nan=0.0) * keep.any(1, keepdim=True)


class EmbeddingCache:
    """(key -> (feature, embedding)) for frozen-backbone proposals, first in first out beyond
    ``capacity`` entries. ``computed`` counts how often each key was embedded."""

    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self.store: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.computed: dict[str, int] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.store

    def get(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self.store[key]

    def put(self, key: str, feature: torch.Tensor, embedding: torch.Tensor) -> None:
        self.store[key] = (feature, embedding)
        self.computed[key] = self.computed.get(key, 0) + 1
        while len(self.store) > self.capacity:
            self.store.popitem(last=False)

    def clear(self) -> None:
        self.store.clear()
        self.computed.clear()


class GLPose(nn.Module):
    """GLPose around any backbone with a stride-4 feature (``forward_features()['feature']``).
    Global proposals come in ``batch['global_crops']`` (B, G, 3, H, W) with ``global_valid``
    (B, G) and, for the cache, ``global_keys``; without them the global term is 0."""

    trainable_in_backbone: tuple[str, ...] = ()

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 use_local: bool = True, use_global: bool = True, enhancement: bool = True, top_k: int = 4,
                 local_weights: str = "similarity", embed_dim: int = 128, tau: float = 0.1, fusion_blocks: int = 3,
                 cache_capacity: int = 4096, start_from_backbone: bool = False):
        super().__init__()
        if local_weights not in ("learned", "prior", "similarity"):
            raise ValueError(f"GLPose: unknown local_weights {local_weights!r}; expected learned, prior or similarity")
        if not (use_local or use_global):
            raise ValueError("GLPose: use_local and use_global cannot both be off (that is the single-frame model)")
        if use_local and not offsets:
            raise ValueError("GLPose: the local context needs supporting frames (offsets)")
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.offsets = tuple(offsets)
        channels = backbone.feature_channels
        self.use_local, self.use_global, self.enhancement = use_local, use_global, enhancement
        self.top_k, self.tau, self.local_mode = int(top_k), float(tau), local_weights
        prior = torch.tensor([-abs(o) for o in self.offsets], dtype=torch.float32)
        self.local_logits = nn.Parameter(prior, requires_grad=local_weights != "prior")  # per-offset bias
        self.embed = Embedding(channels, embed_dim)
        parts = 1 + int(use_local) + int(use_global)
        self.aggregate = ResidualBlocks(parts * channels, channels, fusion_blocks)
        if enhancement:
            self.mask_encoder = nn.Sequential(BasicBlock(channels, channels), nn.Conv2d(channels, 1, 1))
            self.combine = ResidualBlocks(2 * channels, channels, 2)
        self.head = head_for(backbone, channels, joints, start_from_backbone)  # off as published
        self.cache = EmbeddingCache(cache_capacity)
        self.use_cache = True

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)["feature"]

    def global_features(self, crops: torch.Tensor, keys: list[list[str]] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (B, G, C, h, w) and embeddings (B, G, D) of the proposals; in eval mode each
        keyed crop is looked up in (or added to) the cache."""
        B, G = crops.shape[:2]
        cached = (not self.training) and self.use_cache and keys is not None
        if not cached:
            feats = self.features(crops.flatten(0, 1))
            emb = self.embed(feats)
            return feats.view(B, G, *feats.shape[1:]), emb.view(B, G, -1)
        flat_keys = [k for row in keys for k in row]
        missing = [i for i, k in enumerate(flat_keys) if k and k not in self.cache]
        unique: dict[str, int] = {}
        for i in missing:
            unique.setdefault(flat_keys[i], i)
        if unique:
            idx = list(unique.values())
            feats = self.features(crops.flatten(0, 1)[idx])
            emb = self.embed(feats)
            for n, key in enumerate(unique):
                self.cache.put(key, feats[n], emb[n])
        template = None
        for k in flat_keys:
            if k:
                template = self.cache.get(k)
                break
        if template is None:  # no valid proposal in the whole batch: zeros of the right shape
            feats = self.features(crops.flatten(0, 1)[:1])
            template = (feats[0], self.embed(feats)[0])
        zero_f, zero_e = torch.zeros_like(template[0]), torch.zeros_like(template[1])
        fs = torch.stack([self.cache.get(k)[0] if k else zero_f for k in flat_keys])
        es = torch.stack([self.cache.get(k)[1] if k else zero_e for k in flat_keys])
        return fs.view(B, G, *fs.shape[1:]), es.view(B, G, -1)

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feature": self.features(x)}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "GLPose", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        """``batch`` may hold ``global_crops`` (embedded here, through the cache in eval mode) or,
        from video inference, ready ``global_features`` (B, G, C, h, w); both with ``global_valid``."""
        feats = clip["feature"]
        B, T = feats.shape[:2]
        key = feats[:, 0]
        key_emb = self.embed(key)
        parts = [key]
        out: dict = {}
        if self.use_local:
            local = feats[:, 1:]
            if self.local_mode == "similarity":
                local_emb = self.embed(local.flatten(0, 1)).view(B, T - 1, -1)
                w_local = ((local_emb @ key_emb[:, :, None])[..., 0] / self.tau + self.local_logits).softmax(1)
            else:
                w_local = self.local_logits.softmax(0).expand(B, -1)
            parts.append((w_local[:, :, None, None, None] * local).sum(1))
            out["local_weights"] = w_local
        if self.use_global:
            batch = batch or {}
            crops, g_feats = batch.get("global_crops"), batch.get("global_features")
            given = g_feats if g_feats is not None else crops
            if given is None or given.shape[1] == 0:
                parts.append(torch.zeros_like(key))
                out["global_weights"] = key.new_zeros(B, 0)
            else:
                valid = batch["global_valid"].to(key.device)
                if g_feats is not None:
                    g_feats = g_feats.to(key.device, key.dtype)
                    g_emb = self.embed(g_feats.flatten(0, 1)).view(B, g_feats.shape[1], -1)
                else:
                    g_feats, g_emb = self.global_features(crops.to(key.device, key.dtype), batch.get("global_keys"))
                logits = (g_emb @ key_emb[:, :, None])[..., 0] / self.tau
                w_global = topk_softmax(logits, valid, self.top_k)
                parts.append((w_global[:, :, None, None, None].to(g_feats.dtype) * g_feats).sum(1))
                out["global_weights"] = w_global
        merged = self.aggregate(torch.cat(parts, 1))  # conditional aggregation S
        if self.enhancement:
            mask = 1 - torch.sigmoid(self.mask_encoder(key))  # complementary mask M
            fused = self.combine(torch.cat([mask * merged, key], 1))  # A(M * S, V_t)
            out["mask"] = mask
        else:
            fused = merged
        out["heatmaps"] = self.head(fused, key)
        out["aux_losses"] = {}
        return out

    def train(self, mode: bool = True) -> "GLPose":
        self.cache.clear()  # weights may change: cached embeddings would be stale
        return super().train(mode)

