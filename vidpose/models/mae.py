"""Masked-autoencoder pre-training of the ViT (He et al., CVPR 2022, "Masked autoencoders are
scalable vision learners", Sec. 3), the pre-training ViTPose starts from (ViTPose Sec. 3.1).

Trained like any model (``vidpose train configs/synthtrack/mae_vit_tiny.yaml``) on the crops of
a pose dataset, without their labels: its only loss is the reconstruction, returned as
``aux_losses["reconstruction"]`` and no ``heatmaps``. A single-frame ViT then starts from its
``backbone.*`` tensors (``train.init_from``).

- Masking (Sec. 3, "Masking"): a random ``mask_ratio`` (0.75) of each crop's patches, drawn per
  sample; the encoder (the ViT's patch embedding, position embedding, blocks and last norm) sees
  only the visible patches.
- Decoder (Sec. 3, "MAE decoder"): a linear map to ``decoder_dim``, a shared learned mask token
  for each removed patch, position embeddings, ``decoder_depth`` transformer blocks, a LayerNorm
  and a linear map to the patch's pixels. MAE's decoder embeddings are fixed sine-cosine; here
  they are learned (initialised at std 0.02), as the encoder's are in ViTPose. Fine-tuning accuracy
  barely depends on the decoder's depth and width (Table 1 (a, b)), so it is small: 1 block of 128.
- Target (Sec. 3, "Reconstruction target"): each masked patch's pixels, normalised by that
  patch's own mean and standard deviation (``norm_pixels``, the paper's better variant); mean
  squared error over the masked patches only.

The unpadded patch stem only (the ViT tiny's): a convolutional stem's receptive field, and the
padded 16-pixel patches of ViT small and base, cross patch borders, so masking their tokens would
let the encoder see part of the removed pixels. Also unlike MAE: the crops carry the pose
pipeline's augmentation (scale, rotation, flip, half-body) where MAE uses random resized crops and
flips.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.vit import Block, PatchEmbed, ViTPose


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, N, patch * patch * 3), patches in the token order (rows, then columns)."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // patch, patch, W // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // patch) * (W // patch), patch * patch * C)


class MaskedAutoencoder(nn.Module):
    predicts_heatmaps = False  # the tester refuses it; a learning curve cannot be drawn

    def __init__(self, backbone: ViTPose, joints: int = 17, mask_ratio: float = 0.75, decoder_dim: int = 128,
                 decoder_depth: int = 1, decoder_heads: int = 4, norm_pixels: bool = True):
        super().__init__()
        if not isinstance(backbone, ViTPose) or not isinstance(backbone.patch_embed, PatchEmbed) \
                or backbone.patch_embed.proj.padding != (0, 0):
            raise ValueError("model mae: the backbone must be a ViT with the unpadded patch stem (backbone.name: "
                             "vit, stem: patch; the padded 16-pixel patches of small and base overlap)")
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"model mae: mask_ratio must lie in (0, 1), not {mask_ratio}")
        self.backbone = backbone
        self.mask_ratio, self.norm_pixels = mask_ratio, norm_pixels
        self.patch = backbone.patch_pixels
        tokens = backbone.grid[0] * backbone.grid[1]
        self.decoder_embed = nn.Linear(backbone.dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.zeros(1, tokens, decoder_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos, std=0.02)
        self.decoder_blocks = nn.ModuleList([Block(decoder_dim, decoder_heads) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch * self.patch * 3)
        # the pose head is not pre-trained: kept out of the optimizer (and of DDP's reduction)
        for name, module in backbone.named_children():
            if name not in ("patch_embed", "blocks", "last_norm"):
                module.requires_grad_(False)

    def no_weight_decay(self) -> set[str]:
        return {"decoder_pos"}  # like the encoder's position table (ViTPose's rule)

    def forward(self, clips: torch.Tensor, batch: dict | None = None) -> dict:
        """``clips`` (B, T, 3, H, W): the first frame of each clip is reconstructed. Returns
        ``aux_losses`` (the reconstruction loss), ``prediction`` (B, N, p*p*3) and ``mask`` (B, N,
        1 where a patch was removed)."""
        images = clips[:, 0] if clips.dim() == 5 else clips
        vit = self.backbone
        tokens, grid = vit.patch_embed(images)
        if grid != vit.grid:
            raise ValueError(f"model mae: crops give a {grid} token grid, the model was built for {vit.grid}")
        tokens = tokens + vit._pos(grid)
        B, N, C = tokens.shape
        keep = min(max(int(round(N * (1 - self.mask_ratio))), 1), N - 1)
        order = torch.rand(B, N, device=tokens.device).argsort(1)  # per-sample random shuffle
        restore = order.argsort(1)
        x = tokens.gather(1, order[:, :keep, None].expand(-1, -1, C))
        for block in vit.blocks:
            x = block(x)
        x = self.decoder_embed(vit.last_norm(x))
        x = torch.cat([x, self.mask_token.expand(B, N - keep, -1)], 1)
        x = x.gather(1, restore[:, :, None].expand(-1, -1, x.shape[-1])) + self.decoder_pos
        for block in self.decoder_blocks:
            x = block(x)
        prediction = self.decoder_pred(self.decoder_norm(x))
        target = patchify(images.float(), self.patch)
        if self.norm_pixels:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        mask = torch.ones(B, N, device=tokens.device)
        mask[:, :keep] = 0
        mask = mask.gather(1, restore)
        per_patch = (prediction.float() - target).pow(2).mean(-1)
        loss = (per_patch * mask).sum() / mask.sum()
        return {"aux_losses": {"reconstruction": loss}, "prediction": prediction, "mask": mask}
