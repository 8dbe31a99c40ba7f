"""Training a head from cached frozen-backbone features gives the same loss as the uncached path."""

import pytest
import torch

from conftest import tiny_config
from vidpose.engine.data import make_dataset
from vidpose.engine.feature_cache import CachedClips, build_cache, cache_folder, cache_identity, collate_cached
from vidpose.data.clips import collate
from vidpose.engine.trainer import heatmap_loss, set_frozen, train
from vidpose.models.registry import build_model

OFFSETS = [-1, 1]


def frozen(name, **kw):
    torch.manual_seed(0)
    spec = {"name": name, "backbone": {"name": "vit" if name == "sdtc" else "hrnet", "size": "tiny"}, **kw}
    if name != "naive_temporal":
        spec["offsets"] = OFFSETS
    model = build_model(spec, input_size=(96, 128))
    model.backbone.requires_grad_(False)
    model.train()
    set_frozen(model, True)
    return model


def losses(out, batch):
    total = heatmap_loss(out["heatmaps"], batch["heatmaps"], batch["target_weight"])
    return [total.item()] + [v.item() for _, v in sorted(out["aux_losses"].items())]


@pytest.mark.parametrize("name,extra", [("tdmi", {}), ("jmpose", {"blocks": 1}), ("glpose", {}), ("sdtc", {"dim": 32}),
                                        ("naive_temporal", {}), ("posewarper", {"blocks": 1, "width": 16}),
                                        ("fami_pose", {})])
def test_cached_and_uncached_paths_give_the_same_loss(synth_tiny, tmp_path, name, extra):
    cfg = tiny_config(synth_tiny, model=name)
    data = {**cfg["data"], "offsets": OFFSETS}
    if name == "glpose":
        data.update(global_frames=2, global_per_frame=2)
    model = frozen(name, **extra)
    dataset = make_dataset(data, "train", train=True, seed=0)
    identity = cache_identity(model, data, copies=2, dtype="float32")
    folder = build_cache(model, dataset, cache_folder(tmp_path, identity), identity, batch_size=5, progress=False)
    cached = CachedClips(folder)
    for epoch in (0, 1):  # each augmentation pass is the dataset's epoch
        dataset.epoch = cached.epoch = epoch
        idx = [0, 3, 5, 8]
        plain = collate([dataset[i] for i in idx])
        stored = collate_cached([cached[i] for i in idx])
        torch.manual_seed(1)
        a = losses(model(plain["images"], plain), plain)
        torch.manual_seed(1)
        b = losses(model.forward_features(stored["features"], None, stored), stored)
        assert a == pytest.approx(b, rel=1e-4, abs=1e-7)


def test_the_trainer_trains_from_the_cache_and_refuses_an_unfrozen_backbone(synth_tiny, tmp_path):
    cfg = tiny_config(synth_tiny, model="tdmi", max_steps=2, freeze_backbone=True, feature_cache=1,
                      feature_cache_dir=str(tmp_path / "cache"))
    cfg["model"]["offsets"] = OFFSETS
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and any((tmp_path / "cache").iterdir())
    cfg["train"]["freeze_backbone"] = False
    with pytest.raises(ValueError, match="freeze_backbone"):
        train(cfg, tmp_path / "run2", progress=False)
    cfg["train"]["freeze_backbone"] = True
    cfg["model"].update(name="jmpose", motion="flow")
    with pytest.raises(ValueError, match="pixels"):
        train(cfg, tmp_path / "run3", progress=False)
