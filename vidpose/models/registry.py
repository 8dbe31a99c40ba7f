"""A small registry: a config's ``model.name`` and ``model.backbone.name`` map to constructors.

    model:
      name: single_frame          # or naive_temporal, tdmi, sdtc, jmpose, glpose, posewarper, dcpose, fami_pose
                                  # (mae: the ViT's masked-autoencoder pre-training)
      backbone: {name: hrnet, size: w48}
      ...                         # the method's own keys, passed to its constructor

Every model is built as ``MODELS[name](backbone, joints=..., **method_keys)``.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from vidpose.models.baselines import NaiveTemporal, SingleFrame
from vidpose.models.blazepose import build_blazepose
from vidpose.models.dcpose import DCPose
from vidpose.models.fami_pose import FAMIPose
from vidpose.models.hrnet import build_hrnet
from vidpose.models.glpose import GLPose
from vidpose.models.jmpose import JMPose
from vidpose.models.mae import MaskedAutoencoder
from vidpose.models.posewarper import PoseWarper
from vidpose.models.resnet import build_resnet
from vidpose.models.sdtc import SDTC
from vidpose.models.tdmi import TDMI
from vidpose.models.vit import build_vit

BACKBONES: dict[str, Callable[..., nn.Module]] = {"resnet": build_resnet, "hrnet": build_hrnet, "vit": build_vit,
                                                  "blazepose": build_blazepose}
MODELS: dict[str, Callable[..., nn.Module]] = {
    "single_frame": SingleFrame,
    "naive_temporal": NaiveTemporal,
    "tdmi": TDMI,
    "sdtc": SDTC,
    "jmpose": JMPose,
    "glpose": GLPose,
    "posewarper": PoseWarper,
    "dcpose": DCPose,
    "fami_pose": FAMIPose,
    "mae": MaskedAutoencoder,  # pre-training only: no heatmaps
}


#: keys of ``model`` that say how to load weights, not what to build (read by the trainer)
LOADING_KEYS = ("pretrained", "pretrained_skip_head")


def build_backbone(cfg: dict[str, Any], joints: int = 17, input_size: tuple[int, int] | None = None) -> nn.Module:
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    if name == "vit" and input_size is not None:
        cfg.setdefault("input_size", tuple(input_size))
    return BACKBONES[name](joints=joints, **cfg)


def build_model(cfg: dict[str, Any], joints: int = 17, input_size: tuple[int, int] | None = None) -> nn.Module:
    """Build ``cfg['name']`` around the backbone described by ``cfg['backbone']``."""
    cfg = {k: v for k, v in cfg.items() if k not in LOADING_KEYS}
    name = cfg.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    backbone = build_backbone(cfg.pop("backbone", {}), joints, input_size)
    return MODELS[name](backbone, joints=joints, **cfg)
