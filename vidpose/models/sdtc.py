"""SDTC: semantic dynamics and temporal context for video pose (paper: shared/papers/sdtc.txt).

Pipeline (Fig. 3): ViT tokens of every frame (Sec. 3.1, feature embedding) -> Multi-Level
Semantic Motion Encoder (MLSME: patch-level encoder over tube-masked tokens, Eq. 1-3, then a
frame-level encoder over frame-masked tokens, Eq. 4; M = R^P + R^F, Eq. 5) -> Spatial-Motion
Mutual Learning (SMML, Sec. 3.2: self-feature refinement Eq. 6-8, Spatial-Motion Cross-Attention
Eq. 9-10, adaptive fusion Eq. 11-13) -> 3x3 detection head. Training adds the masked context and
pose reconstruction loss (Eq. 15) from a two-layer motion decoder; L = L_H + L_Rec (Eq. 16).

Choices where the paper is silent (also in docs/methods.md):
- the backbone tokens (dim C) are projected to the motion width ``dim`` by one linear layer
  (the paper's 10.4 M trainable parameters rule out 768-wide motion transformers);
- both encoders use one joint space-time layer followed by one divided layer (``layers``); the
  decoder's two self-attention layers attend over all tokens (``decoder_layers: [joint, joint]``;
  the CPU-sized config uses divided layers in both, see configs/synthtrack/sdtc_tiny.yaml);
- the frame mask hides round(r * T) whole frames, any of them (the key frame included); the
  tube mask hides round(r * N) token positions, the same in every frame;
- a masked token is the mask token plus the position encodings of its place (the masking
  convention of SimMIM [19], which the paper says it follows; Eq. 1 read literally would drop the
  encodings, leaving every masked token of a frame, and every masked frame, identical);
- Table 5 (a)'s "plain vision transformers" are the same two encoders with nothing masked and no
  decoder, so that the row differs from MLSME only in the masked reconstruction;
- the context term is the L1 error over tokens masked by the tube mask *or* the frame mask
  (the text: "masked locations/frames"; ``rec_positions: both`` takes Eq. 15's literal product
  of the two masks instead); the pose term is the MSE of every frame with a label (weights 0
  elsewhere), each token decoding its patch of the heatmap;
- SMML runs on the token grid; the fused map is upsampled to the heatmap size by transposed
  convolutions (as ViTPose's decoder) before the 3x3 head; the pixel-context relation of Eq. 8
  is scaled by 1/sqrt(C) as in OCR.
- ``motion: flow`` replaces MLSME by OpenCV DIS optical flow between the key crop and each
  neighbour (the weight-free stand-in for the paper's optical-flow baseline, Table 4).

A backbone without patch tokens (BlazePose's 64x64x48 stride-4 feature map) is adapted by
``FeatureMapTokens`` (``model.token_patch``, off by default): the frozen map is cut into
non-overlapping ``token_patch`` x ``token_patch`` cells (4: a 16 x 16 grid of tokens, each
covering 16 x 16 input pixels like ViT-B's patch-16 tokens), each cell flattened to one token of
C * p * p values (48 * 16 = 768, ViT-B's width) and LayerNorm-ed without parameters
(``token_norm``; BlazePose's ReLU features are not normalised as ViT tokens are). The linear
projection to the motion width is SDTC's own token embedding (``embed``, the feature embedding
of Sec. 3.1), so the adapter adds no parameters and the backbone stays frozen; the context
reconstruction of Eq. 15 then predicts the frozen, normalised cells, as it predicts ViT tokens.
Each token decodes a p x p patch of the stride-4 heatmap (two transposed convolutions from the
16 x 16 grid to 64 x 64). With the adapter, ``frame_features`` returns the feature map (cached and
reused by the sliding window) and the tokens are cut from it in ``forward_features``.
``start_from_backbone`` (off as published; on for the real head, configs/real/sdtc_blazepose.yaml,
docs/methods.md) adds the upsampled fused map to the key frame's feature map through a zero-started
1x1 convolution before BlazePose's own head (``layers.StartFromBackbone``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.models.flow import dis_flow
from vidpose.models.layers import HeatmapHead, check_clip, clip_features, conv_bn_relu, head_for, heatmap_loss
from vidpose.models.tdmi import temporal_order
from vidpose.models.vit import Attention, Mlp


def sincos_2d(h: int, w: int, dim: int) -> torch.Tensor:
    """Fixed 2D sine-cosine position encoding (h * w, dim), half the channels for each axis
    (MAE's layout)."""
    if dim % 4:
        raise ValueError(f"sine-cosine encoding needs a width divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    out = []
    for pos in (ys.flatten(), xs.flatten()):
        angle = pos[:, None] * omega[None]
        out += [angle.sin(), angle.cos()]
    return torch.cat(out, 1).float()


def tube_mask(batch: int, tokens: int, ratio: float, device: torch.device | None = None) -> torch.Tensor:
    """(batch, tokens) bool, True = masked, to be applied to every frame (Eq. 1). Each sample
    masks floor(ratio * tokens) random positions, plus one more with probability equal to the
    fractional part, so the expected share is exactly ``ratio`` (2.5 of 5 frames is 2 or 3, not
    always round(2.5) = 2)."""
    exact = ratio * tokens
    k = torch.full((batch, 1), int(exact), device=device)
    k = k + (torch.rand(batch, 1, device=device) < exact - int(exact)).long()
    ranks = torch.rand(batch, tokens, device=device).argsort(1).argsort(1)
    return ranks < k


def frame_mask(batch: int, frames: int, ratio: float, device: torch.device | None = None) -> torch.Tensor:
    """(batch, frames) bool, True = the whole frame is masked (Eq. 4)."""
    return tube_mask(batch, frames, ratio, device)


class AxisAttention(nn.Module):
    """Pre-norm multi-head self-attention with a residual along one axis of (B, T, N, d):
    ``axis="time"`` mixes the T tokens at one spatial position, ``axis="space"`` the N tokens
    of one frame, ``axis="joint"`` all T * N tokens."""

    def __init__(self, dim: int, heads: int, axis: str):
        super().__init__()
        if axis not in ("time", "space", "joint"):
            raise ValueError(f"unknown attention axis {axis!r}")
        self.axis = axis
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, N, d = x.shape
        if self.axis == "time":
            seq = x.transpose(1, 2).reshape(B * N, T, d)
        elif self.axis == "space":
            seq = x.reshape(B * T, N, d)
        else:
            seq = x.reshape(B, T * N, d)
        out = seq + self.attn(self.norm(seq))
        if self.axis == "time":
            return out.reshape(B, N, T, d).transpose(1, 2)
        return out.reshape(B, T, N, d)


class SpaceTimeLayer(nn.Module):
    """``joint``: Eq. 2, attention over all tokens of all frames, then an FFN.
    ``divided``: Eq. 3, temporal attention (residual), spatial attention (residual), then FFN."""

    def __init__(self, dim: int, heads: int, kind: str, mlp_ratio: float = 4.0):
        super().__init__()
        if kind not in ("joint", "divided"):
            raise ValueError(f"SDTC: unknown layer kind {kind!r}; expected joint or divided")
        axes = ["joint"] if kind == "joint" else ["time", "space"]
        self.attentions = nn.ModuleList([AxisAttention(dim, heads, a) for a in axes])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention in self.attentions:
            x = attention(x)
        return x + self.mlp(self.norm(x))


class MotionEncoder(nn.Module):
    """The patch-level or frame-level motion encoder: a stack of space-time layers over
    (B, T, N, d), with its own learnable mask token.

    A masked token becomes the mask token *plus the position encodings* of its place, as in the
    masking convention the paper follows (SimMIM [19], MAE: the mask token is embedded, then the
    position is added). Eq. 1 read literally swaps the whole encoded token for the bare mask
    token; every masked token of a frame is then identical, attention cannot tell them apart, and
    a masked frame cannot know its time step (``tests/models/test_sdtc.py``)."""

    def __init__(self, dim: int, heads: int, layers: tuple[str, ...]):
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.layers = nn.ModuleList([SpaceTimeLayer(dim, heads, k) for k in layers])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                encodings: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` broadcastable to (B, T, N), True where the token is replaced (Eq. 1 / 4);
        ``encodings`` (broadcastable to x) are added to the mask tokens (None: bare mask tokens)."""
        if mask is not None:
            token = self.mask_token.to(x.dtype)
            if encodings is not None:
                token = token + encodings.to(x.dtype)
            x = torch.where(mask[..., None], token, x)
        for layer in self.layers:
            x = layer(x)
        return x


class MotionDecoder(nn.Module):
    """Self-attention layers over the whole sequence (the paper: two), then separate MLP heads
    for the backbone features (context) and the heatmap patch under each token (pose).
    ``layers`` are space-time layer kinds: ``joint`` is plain self-attention over all tokens."""

    def __init__(self, dim: int, heads: int, feature_dim: int, joints: int, patch_pixels: int,
                 layers: tuple[str, ...] = ("joint", "joint")):
        super().__init__()
        self.layers = nn.ModuleList([SpaceTimeLayer(dim, heads, k) for k in layers])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.context_head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, feature_dim))
        self.pose_head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, joints * patch_pixels))
        # the pose head predicts heatmap values, so its last layer starts as the lineage's heatmap
        # layers do (normal, std 0.001, bias 0): a default-initialised layer starts the pose term
        # about 10x above the heatmap loss (analysis/aux_balance.py)
        nn.init.normal_(self.pose_head[-1].weight, std=0.001)
        nn.init.zeros_(self.pose_head[-1].bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        return self.context_head(x), self.pose_head(x)


class SelfRefinement(nn.Module):
    """Eq. 6-8, read as OCR (Yuan et al., ECCV 2020), which the paper follows ("Motivated by OCR"):

    - Eq. 6, context maps O (C x HW): ``context_softmax="space"`` (default) normalises each
      channel over the positions, so every channel is one soft region, OCR's soft object regions
      and what Fig. 6 shows (each channel's map covers a body region). The paper's words "softmax
      along the channel dimension" are read as "for each channel"; ``"channel"`` takes the other
      reading (a distribution over channels at every pixel) and is kept as an option.
    - Eq. 7, OC = X O^T (C x C): column k is region k's feature, the O-weighted mean of the
      pixels' features.
    - Eq. 8, relation = softmax over the C regions of X^T OC / sqrt(C) (OCR scales by the key
      width); context y = relation OC^T; refined = Conv([X; y]): OCR's augmented representation
      g([x_i; y_i]) keeps each pixel's own feature beside its context. The printed Eq. 8 shows
      only Conv(y); without the pixel's own feature the refined map loses its spatial structure
      (``own_feature=False`` keeps that literal form as an option; tests/models/test_sdtc.py
      measures both)."""

    def __init__(self, channels: int, context_softmax: str = "space", own_feature: bool = True):
        super().__init__()
        if context_softmax not in ("space", "channel"):
            raise ValueError(f"SDTC: context_softmax must be space or channel, got {context_softmax!r}")
        self.context_softmax, self.own_feature = context_softmax, own_feature
        self.conv = conv_bn_relu((2 if own_feature else 1) * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        flat = x.flatten(2)  # (B, C, HW)
        context_maps = flat.softmax(2 if self.context_softmax == "space" else 1)  # Eq. 6
        context = flat @ context_maps.transpose(1, 2)  # Eq. 7: (B, C, C), column k = region k
        relation = (flat.transpose(1, 2) @ context / math.sqrt(C)).softmax(-1)  # (B, HW, C regions)
        refined = (relation @ context.transpose(1, 2)).transpose(1, 2).reshape(B, C, H, W)  # Eq. 8
        return self.conv(torch.cat([x, refined], 1) if self.own_feature else refined)


class SpatialMotionCrossAttention(nn.Module):
    """Eq. 9: queries from the source S, keys and values from the guidance G, attention over
    positions, S~ = ConvBNReLU(S + Atten(Q, K, V))."""

    def __init__(self, channels: int, key_dim: int | None = None):
        super().__init__()
        key_dim = key_dim or channels
        self.q = nn.Conv2d(channels, key_dim, 1)
        self.k = nn.Conv2d(channels, key_dim, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.out = conv_bn_relu(channels, channels, 3)

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        B, C, H, W = source.shape
        q = self.q(source).flatten(2).transpose(1, 2)[:, None]  # (B, 1, HW, d)
        k = self.k(guidance).flatten(2).transpose(1, 2)[:, None]
        v = self.v(guidance).flatten(2).transpose(1, 2)[:, None]
        att = F.scaled_dot_product_attention(q, k, v)[:, 0].transpose(1, 2).reshape(B, C, H, W)
        return self.out(source + att)


class SpatialMotionMutualLearning(nn.Module):
    """Sec. 3.2. ``fusion``: "smml" (the module), "add" or "concat" (concatenate + conv), the
    Table 4 alternatives. ``refine`` / ``cross`` / ``adaptive`` switch its parts (Table 6); with
    ``adaptive=False`` the two streams are added."""

    def __init__(self, channels: int, frames: int, fusion: str = "smml", refine: bool = True, cross: bool = True,
                 adaptive: bool = True, context_softmax: str = "space", own_feature: bool = True):
        super().__init__()
        if fusion not in ("smml", "add", "concat"):
            raise ValueError(f"SDTC: unknown fusion {fusion!r}; expected smml, add or concat")
        self.fusion = fusion
        # per-frame maps concatenated on channels, aggregated by convolution
        self.aggregate_spatial = conv_bn_relu(frames * channels, channels, 3)
        self.aggregate_motion = conv_bn_relu(frames * channels, channels, 3)
        if fusion == "concat":
            self.merge = nn.Sequential(conv_bn_relu(2 * channels, channels, 3), conv_bn_relu(channels, channels, 3))
        if fusion != "smml":
            return
        self.refine_spatial = SelfRefinement(channels, context_softmax, own_feature) if refine else nn.Identity()
        self.refine_motion = SelfRefinement(channels, context_softmax, own_feature) if refine else nn.Identity()
        self.cross = cross
        if cross:
            self.cross_spatial = SpatialMotionCrossAttention(channels)
            self.cross_motion = SpatialMotionCrossAttention(channels)
        self.adaptive = adaptive
        if adaptive:
            self.attend = conv_bn_relu(2 * channels, channels, 3)  # Eq. 11
            self.fc_spatial = nn.Conv2d(channels, channels, 1)  # Eq. 12: pixel-wise FC layers
            self.fc_motion = nn.Conv2d(channels, channels, 1)
            self.conv_spatial = nn.Conv2d(channels, channels, 3, 1, 1)  # Eq. 13
            self.conv_motion = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, spatial: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """``spatial``, ``motion``: (B, T, C, h, w). Returns the fused map (B, C, h, w)."""
        r = self.aggregate_spatial(spatial.flatten(1, 2))
        m = self.aggregate_motion(motion.flatten(1, 2))
        if self.fusion == "add":
            return r + m
        if self.fusion == "concat":
            return self.merge(torch.cat([r, m], 1))
        r, m = self.refine_spatial(r), self.refine_motion(m)  # Eq. 6-8
        if self.cross:  # Eq. 10: each is the other's guidance
            r, m = self.cross_spatial(r, m), self.cross_motion(m, r)
        if not self.adaptive:
            return r + m
        a = self.attend(torch.cat([r, m], 1))  # Eq. 11
        a_s, a_m = torch.sigmoid(self.fc_spatial(a)), torch.sigmoid(self.fc_motion(a))  # Eq. 12
        return a_s * self.conv_spatial(r) + a_m * self.conv_motion(m)  # Eq. 13


class FeatureMapTokens(nn.Module):
    """The token adapter (module docstring): a feature-map backbone (``forward_features`` ->
    ``feature`` (B, C, h, w)) seen as a ViT that exposes patch tokens. ``encode`` returns the
    (B, N, C * patch**2) flattened cells, N = (h / patch) * (w / patch) in row-major order, and
    the grid; it has no parameters of its own."""

    def __init__(self, backbone: nn.Module, patch: int = 4, norm: bool = True):
        super().__init__()
        if patch < 1:
            raise ValueError(f"SDTC: token_patch must be a positive integer, got {patch}")
        for name in ("feature_channels", "heatmap_stride", "input_size"):
            if not hasattr(backbone, name):
                raise ValueError(f"SDTC: the token adapter needs a backbone with {name!r}; "
                                 f"{type(backbone).__name__} has none")
        self.backbone, self.patch = backbone, int(patch)
        self.dim = backbone.feature_channels * self.patch ** 2
        self.heatmap_stride = backbone.heatmap_stride
        self.feature_stride = getattr(backbone, "feature_stride", backbone.heatmap_stride)
        self.patch_pixels = self.patch * self.feature_stride  # input pixels per token side
        self.grid = self.token_grid(backbone.input_size[1], backbone.input_size[0])
        self.norm = nn.LayerNorm(self.dim, elementwise_affine=False) if norm else nn.Identity()

    def token_grid(self, height: int, width: int) -> tuple[int, int]:
        """The token grid (rows, columns) of an input of this size."""
        return height // self.patch_pixels, width // self.patch_pixels

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        return self.tokens_of(self.backbone.forward_features(x)["feature"])

    def tokens_of(self, f: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """The tokens of a feature map (B, C, h, w) the backbone already computed."""
        _, _, h, w = f.shape
        p = self.patch
        if h % p or w % p:
            raise ValueError(f"SDTC: a {h}x{w} feature map does not split into {p}x{p} token cells")
        tokens = F.unfold(f.float(), p, stride=p).transpose(1, 2)  # (B, N, C p p), cells in row-major order
        return self.norm(tokens), (h // p, w // p)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.backbone.forward_features(x)

    def head(self, feature: torch.Tensor) -> torch.Tensor:
        return self.backbone.head(feature)


class SDTC(nn.Module):
    """SDTC around a ViT backbone that exposes its patch tokens (``encode``), or a feature-map
    backbone through the token adapter (``token_patch``)."""

    trainable_in_backbone: tuple[str, ...] = ()
    #: the parts the pose path shares with Eq. 15's reconstruction terms (engine/balance.py measures them)
    shared_parts: tuple[str, ...] = ("embed", "patch_encoder", "frame_encoder")
    cached_targets = ("clip_heatmaps", "clip_weight")  # the pose reconstruction reads every clip frame's targets

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 dim: int | None = None, heads: int = 4, layers: tuple[str, ...] = ("joint", "divided"),
                 decoder_layers: tuple[str, ...] = ("joint", "joint"), mask_ratio: float = 0.5, rec_weight: float = 0.01, pose_rec_weight: float = 1.0,
                 rec_positions: str = "either", motion: str = "mlsme", patch_level: bool = True,
                 frame_level: bool = True, fusion: str = "smml", refine: bool = True, cross: bool = True,
                 adaptive: bool = True, context_softmax: str = "space", own_feature: bool = True,
                 spatial_encoding: bool = True, temporal_encoding: bool = True,
                 heatmap_stride: int | None = None, token_patch: int | None = None, token_norm: bool = True,
                 start_from_backbone: bool = False):
        super().__init__()
        if start_from_backbone and (token_patch is None or hasattr(backbone, "encode")):
            raise ValueError("SDTC: start_from_backbone needs a feature-map backbone seen through the token "
                             "adapter (model.token_patch); a ViT backbone has no feature map and final layer to start from")
        if token_patch is not None and not hasattr(backbone, "encode"):  # a feature-map backbone (BlazePose)
            backbone = FeatureMapTokens(backbone, token_patch, token_norm)
        if not hasattr(backbone, "encode") or not hasattr(backbone, "grid"):
            raise ValueError(f"SDTC needs a ViT backbone that exposes patch tokens; got {type(backbone).__name__} "
                             "(for a feature-map backbone such as BlazePose set model.token_patch, e.g. 4)")
        if motion not in ("mlsme", "flow"):
            raise ValueError(f"SDTC: unknown motion source {motion!r}; expected mlsme or flow")
        if rec_positions not in ("either", "both"):
            raise ValueError(f"SDTC: rec_positions must be either or both, got {rec_positions!r}")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"SDTC: mask_ratio must lie in [0, 1), got {mask_ratio}")
        self.backbone = backbone
        self.offsets = tuple(offsets)
        self.order = temporal_order(self.offsets)
        self.key = self.order.index(0)  # the key frame's place in time order
        frames = len(self.order)
        feature_dim = backbone.dim
        dim = dim or feature_dim
        self.dim, self.grid = dim, backbone.grid
        self.patch = backbone.patch_pixels  # input pixels per token side
        heatmap_stride = heatmap_stride or backbone.heatmap_stride
        self.heatmap_stride = heatmap_stride
        if self.patch % heatmap_stride:
            raise ValueError(f"SDTC: patch size {self.patch} is not a multiple of the heatmap stride {heatmap_stride}")
        self.scale = self.patch // heatmap_stride  # heatmap pixels per token side
        self.embed = nn.Linear(feature_dim, dim)
        self.spatial_encoding, self.temporal_encoding = spatial_encoding, temporal_encoding
        self.temporal_pos = nn.Parameter(torch.zeros(frames, dim))
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        self.motion, self.patch_level, self.frame_level = motion, patch_level, frame_level
        self.mask_ratio, self.rec_positions = float(mask_ratio), rec_positions
        self.rec_weight, self.pose_rec_weight = float(rec_weight), float(pose_rec_weight)
        if motion == "mlsme":
            # Table 5 (a): neither level = the same two encoders (the same depth and parameters as
            # MLSME), nothing masked and nothing reconstructed; (b): the patch level alone.
            self.patch_encoder = MotionEncoder(dim, heads, tuple(layers))
            self.frame_encoder = MotionEncoder(dim, heads, tuple(layers)) if patch_level == frame_level else None
            self.decoder = MotionDecoder(dim, heads, feature_dim, joints, self.scale ** 2, tuple(decoder_layers)) \
                if (patch_level or frame_level) else None
        else:
            self.flow_encoder = nn.Sequential(conv_bn_relu(2, dim // 2, 3, 2), conv_bn_relu(dim // 2, dim, 3, 2))
        self.smml = SpatialMotionMutualLearning(dim, frames, fusion, refine, cross, adaptive, context_softmax,
                                                own_feature)
        up: list[nn.Module] = []
        for _ in range(int(round(math.log2(self.scale)))):
            up += [nn.ConvTranspose2d(dim, dim, 4, 2, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*up)
        # off as published; on for the head on frozen real BlazePose (layers.StartFromBackbone, docs/methods.md):
        # the upsampled fused map becomes a residual on the key frame's feature map
        self.start_from_backbone = bool(start_from_backbone)
        self.head = head_for(backbone.backbone, dim, joints, True) if start_from_backbone else HeatmapHead(dim, joints)

    # -- Sec. 3.1 -----------------------------------------------------------------------------

    def encodings(self, grid: tuple[int, int], device: torch.device) -> torch.Tensor | None:
        """The position encodings of Sec. 3.1, (T, N, dim): sine-cosine spatial + learnable
        temporal, each switchable (Table 7); None when both are off."""
        pe = None
        if self.spatial_encoding:
            pe = sincos_2d(*grid, self.dim).to(device)[None]
        if self.temporal_encoding:
            t = self.temporal_pos[:, None]
            pe = t if pe is None else pe + t
        return pe

    def embed_tokens(self, tokens: torch.Tensor, pe: torch.Tensor | None) -> torch.Tensor:
        """Backbone tokens (B, T, N, C) in time order -> R (B, T, N, dim) with the encodings."""
        r = self.embed(tokens)
        return r if pe is None else r + pe.to(r.dtype)

    def masks(self, B: int, T: int, N: int, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Training-time tube mask (B, 1, N) and frame mask (B, T, 1); None in eval mode."""
        if not self.training or self.mask_ratio == 0 or self.motion != "mlsme" or not (self.patch_level or
                                                                                      self.frame_level):
            return None, None
        tube = tube_mask(B, N, self.mask_ratio, device)[:, None, :] if self.patch_level else None
        frame = frame_mask(B, T, self.mask_ratio, device)[:, :, None] if self.frame_level else None
        return tube, frame

    def encode_motion(self, r: torch.Tensor, tube: torch.Tensor | None, frame: torch.Tensor | None,
                      pe: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """MLSME (Eq. 1-5): M = R^P + R^F, and the last encoder output for the decoder. ``pe``:
        the position encodings that mask tokens carry (``MotionEncoder``)."""
        if self.frame_encoder is not None:
            rp = self.patch_encoder(r, tube, pe)  # Eq. 1-3
            rf = self.frame_encoder(rp, frame, pe)  # Eq. 4
            if not (self.patch_level or self.frame_level):  # Table 5 (a): plain, nothing masked
                return rp + rf, None
            return rp + rf, rf  # Eq. 5
        mask = tube if self.patch_level else frame  # a single level (Table 5 b)
        out = self.patch_encoder(r, mask, pe)
        return out, out

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if isinstance(self.backbone, FeatureMapTokens):  # the map itself: tokens follow without parameters
            return {"feature": self.backbone.backbone.forward_features(x)["feature"]}
        return {"tokens": self.backbone.encode(x)[0]}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "SDTC", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def forward_features(self, feats: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        if "tokens" in feats:
            tokens = feats["tokens"][:, self.order]  # time order
        else:  # the token adapter: cells of each frame's feature map
            maps = feats["feature"][:, self.order]
            tokens = self.backbone.tokens_of(maps.flatten(0, 1))[0].view(*maps.shape[:2], -1, self.backbone.dim)
        B, T, N = tokens.shape[:3]
        grid = self.token_grid(frames, N)
        pe = self.encodings(grid, tokens.device)
        r = self.embed_tokens(tokens, pe)
        tube = frame = None
        decoded = None
        if self.motion == "mlsme":
            tube, frame = self.masks(B, T, N, tokens.device)
            m, last = self.encode_motion(r, tube, frame, pe)
            if self.training and batch is not None and self.decoder is not None and last is not None:
                decoded = self.decoder(last)
        else:
            if frames is None:
                raise ValueError("SDTC with motion=flow needs the clip's frames")
            flow = dis_flow(frames[:, self.order], list(range(T)), self.key)  # (B, T, 2, H, W), already in time order
            encoded = self.flow_encoder(flow.flatten(0, 1))
            encoded = F.interpolate(encoded, size=grid, mode="bilinear", align_corners=False)
            m = encoded.flatten(2).transpose(1, 2).reshape(B, T, N, self.dim)
        to_map = lambda x: x.transpose(2, 3).reshape(B, T, self.dim, *grid)  # noqa: E731
        fused = self.smml(to_map(r), to_map(m))
        if self.start_from_backbone:
            heatmaps = self.head(self.upsample(fused), feats["feature"][:, 0])  # offset 0 comes first
        else:
            heatmaps = self.head(self.upsample(fused))
        aux: dict[str, torch.Tensor] = {}
        if decoded is not None:
            aux = self.reconstruction_losses(decoded, tokens, tube, frame, grid, batch)
        return {"heatmaps": heatmaps, "aux_losses": aux, "motion": m}

    def token_grid(self, frames: torch.Tensor | None, tokens: int) -> tuple[int, int]:
        if frames is not None:
            grid_of = getattr(self.backbone, "token_grid", None) or self.backbone.patch_embed.grid
            grid = tuple(grid_of(*frames.shape[-2:]))
        else:
            grid = tuple(self.grid)
        if grid[0] * grid[1] != tokens:
            raise ValueError(f"SDTC: {tokens} tokens do not fill a {grid[0]}x{grid[1]} grid")
        return grid

    # -- Eq. 15 -------------------------------------------------------------------------------

    def reconstruction_losses(self, decoded: tuple[torch.Tensor, torch.Tensor], tokens: torch.Tensor,
                              tube: torch.Tensor | None, frame: torch.Tensor | None, grid: tuple[int, int],
                              batch: dict) -> dict[str, torch.Tensor]:
        context, pose = decoded
        B, T, N, _ = context.shape
        masked = torch.zeros(B, T, N, dtype=torch.bool, device=context.device)
        if tube is not None and frame is not None and self.rec_positions == "both":
            masked = tube & frame
        else:
            for m in (tube, frame):
                if m is not None:
                    masked = masked | m
        err = (context.float() - tokens.detach().float()).abs().mean(-1)  # L1 per token
        count = masked.sum().clamp(min=1)
        out = {"rec_context": self.rec_weight * (err * masked).sum() / count}
        if "clip_heatmaps" in batch and self.pose_rec_weight > 0:
            s, (h, w) = self.scale, grid
            maps = pose.float().reshape(B, T, h, w, -1, s, s).permute(0, 1, 4, 2, 5, 3, 6).reshape(B, T, -1, h * s, w * s)
            target = batch["clip_heatmaps"].to(maps.device)[:, self.order]
            weight = batch["clip_weight"].to(maps.device)[:, self.order]
            out["rec_pose"] = self.pose_rec_weight * heatmap_loss(maps.flatten(0, 1), target.flatten(0, 1),
                                                                  weight.flatten(0, 1))
        return out
