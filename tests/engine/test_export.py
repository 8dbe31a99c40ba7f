"""ONNX export: the graph ONNX Runtime runs gives PyTorch's heatmaps."""

import pytest
import torch

from vidpose.engine.export import export_onnx, onnx_difference
from vidpose.errors import ConfigError
from vidpose.models.registry import build_model

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # shape checks folded into constants

#: heatmap peaks are 0.1 to 1; float32 graphs agree to about 1e-5 (measured: 1.4e-6 to 5.7e-6 on the shipped heads)
TOLERANCE = 1e-4


def _tiny(name):
    from vidpose.engine.config import load_config

    cfg = load_config(f"configs/synthtrack/{name}_tiny.yaml")
    return build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"])).eval(), cfg


@pytest.mark.parametrize("name", ["naive_temporal_hrnet", "jmpose", "tdmi"])
def test_onnx_runtime_matches_torch(name, tmp_path):
    model, cfg = _tiny(name)
    torch.manual_seed(0)
    path = export_onnx(model, cfg, tmp_path / f"{name}.onnx", batch=2)
    assert onnx_difference(model, cfg, path) < TOLERANCE


def test_an_export_leaves_the_model_in_eval_mode(tmp_path):
    """The exporter restores its wrapper's training mode afterwards, and with it the model's: both
    exports must leave the model evaluating, whatever mode it came in."""
    from vidpose.engine.export import onnx_frame_features

    model, cfg = _tiny("naive_temporal_hrnet")
    export_onnx(model.train(), cfg, tmp_path / "clip.onnx")
    assert not model.training
    onnx_frame_features(model.train(), cfg, "naive", tmp_path)
    assert not model.training


def test_glpose_with_global_proposals_is_refused(tmp_path):
    model, cfg = _tiny("glpose")
    if not getattr(model, "use_global", False):
        pytest.skip("the tiny GLPose config has no global proposals")
    with pytest.raises(ConfigError, match="global proposals"):
        export_onnx(model, cfg, tmp_path / "g.onnx")


@pytest.mark.needs_assets
def test_vidpose_export_writes_the_default_model_and_checks_it(tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "model.onnx"
    assert main(["export", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "largest difference" in printed
    assert float(printed.rsplit("largest difference ", 1)[1].split()[0]) < TOLERANCE
    assert main(["export", "--out", str(tmp_path / "model.txt")]) == 2


@pytest.mark.parametrize("name", ["naive_temporal_hrnet", "jmpose"])
def test_the_frame_features_graph_takes_any_batch_and_matches_torch(name, tmp_path):
    """``predict --runtime onnx``'s graph: ``frame_features`` in ONNX Runtime, any number of crops,
    every output PyTorch's; exported once, then loaded from the folder."""
    from vidpose.engine.export import onnx_frame_features

    model, cfg = _tiny(name)
    runner = onnx_frame_features(model, cfg, name, tmp_path)
    assert runner.path.parent == tmp_path and len(list(tmp_path.glob("*.onnx"))) == 1
    width, height = cfg["data"]["input_size"]
    for n in (1, 3):
        crops = torch.randn(n, 3, height, width, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            expected = model.frame_features(crops)
        got = runner(crops)
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert got[key].shape == value.shape
            assert (got[key] - value).abs().max() < TOLERANCE
    stamp = runner.path.stat().st_mtime_ns
    assert onnx_frame_features(model, cfg, name, tmp_path).path.stat().st_mtime_ns == stamp  # not exported again
