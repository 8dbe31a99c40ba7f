"""The researcher's path (issue 21): the commands of docs/posetrack.md, run on real PoseTrack18 files.

For every config in configs/posetrack18/, the guide's own ``vidpose train``, ``vidpose test`` and
``vidpose eval`` lines (parsed out of the guide, so the two cannot drift apart) run in a folder laid
out as the guide's section 1 says, built from ../shared/fixtures/posetrack18 by links: three
PoseTrack18 val videos of which only the labeled frame is on disk, their per-video annotation
files, and mmpose's detection file (``image_id`` layout) as ``detections/val_boxes.json``. The
test skips when the fixtures are absent.

Overrides appended to the guide's lines, which only shorten the run and narrow the backbone:

- training: one step (``train.max_steps=1``) at ``train.batch_size=2`` on the ``val`` split (the
  fixtures hold no ``train`` split), no pretrained file (``model.pretrained=null``: the published
  files are tested key for key in tests/models/test_backbones.py) and no ``train.init_from``;
- the backbone width only, because 2 CPU cores cannot afford the paper's: HRNet-W48 -> ``tiny``
  (branch widths 16/32/64/128 for 48/96/192/384; ``tiny`` is also shallower, one module per stage
  and one block per branch, because vidpose has no narrower HRNet of W48's depth and W48's stem and
  first stage alone cost about 2 GMAC per 384x288 frame), ViT-B -> ViT-S (width 384 for 768, the
  same 12 blocks, 12 heads and 16-pixel patches). The input size, the temporal window
  (``offsets``), the structure of the methods' heads (blocks, offset groups, attention heads,
  SDTC's width) and every other model key stay the config's; the test checks that in the run's
  saved config. A head's ``width: null`` (TDMI, JM-Pose) means "the backbone's
  feature width" and so follows the narrower backbone, except where that breaks the head:
  JM-Pose's 12 deformable offset groups need a width divisible by 12, so its width is pinned to
  the paper-size 48;
- testing: only detections scored 0.97 or more (2 of the file's 278, in two of the three videos,
  so an empty prediction file is written too) and ``data.workers=0``.

The guide's ``torchrun`` line is run by tests/engine/test_trainer.py (two gloo processes, exact
resume).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import guide_commands

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(ROOT / "vidpose").as_posix()  # as users name them: configs/posetrack18/...
                 for p in (ROOT / "vidpose" / "configs" / "posetrack18").glob("*.yaml"))
DETECTIONS = "annotations/test_posetrack18_human_detections.json"
MIN_SCORE = 0.97
NARROW = {"hrnet": "tiny", "vit": "small"}  # backbone name -> the width the smoke run uses
NARROW_FEATURE_WIDTH = {"hrnet": 16, "vit": 256}  # their feature widths (HRNet's first branch, ViT's decoder)
PAPER_FEATURE_WIDTH = {("hrnet", "w48"): 48}  # what a head's width: null means at paper size
TRAIN = ["data.train_split=val", "data.workers=0", "model.pretrained=null", "train.init_from=null",
         "train.max_steps=1", "train.batch_size=2"]
TEST = ["data.workers=0", f"test.min_box_score={MIN_SCORE}"]


def narrow(config: str) -> list[str]:
    """The narrower backbone. A head whose ``width: null`` follows the backbone's feature width
    follows the narrower one too, unless that breaks the head (JM-Pose's 12 deformable offset
    groups need a width divisible by 12): then it is pinned to the paper's, HRNet-W48's 48."""
    model = yaml.safe_load((ROOT / "vidpose" / config).read_text())["model"]
    name = model["backbone"]["name"]
    out = [f"model.backbone.size={NARROW[name]}"]
    groups = int(model.get("offset_groups") or 1)
    if "width" in model and model["width"] is None and NARROW_FEATURE_WIDTH[name] % groups:
        out.append(f"model.width={PAPER_FEATURE_WIDTH[name, model['backbone']['size']]}")
    return out


def guide_by_config() -> dict[str, dict[str, list[str]]]:
    """The guide's train / test / eval / predict line of each config (eval found by its run folder)."""
    out: dict[str, dict[str, list[str]]] = {}
    for argv in guide_commands():
        if argv[0] != "vidpose":
            continue
        verb = argv[1]
        if verb in ("train", "test"):
            config = argv[2]
        elif verb == "eval":
            run = re.search(r"runs/posetrack18/([^/]+)/", argv[argv.index("--pred") + 1]).group(1)
            config = f"configs/posetrack18/{run}.yaml"
        elif verb == "predict":
            config = argv[argv.index("--config") + 1]
        else:
            continue
        assert verb not in out.setdefault(config, {}), f"docs/posetrack.md has two {verb} lines for {config}"
        out[config][verb] = argv
    return out


def test_the_guide_covers_every_config_and_every_line_is_run():
    guide = guide_by_config()
    assert set(guide) == set(CONFIGS), "docs/posetrack.md and configs/posetrack18/ name different configs"
    for config, lines in guide.items():
        assert {"train", "test", "eval"} <= set(lines), config
    ran = {" ".join(argv) for lines in guide.values() for argv in lines.values()}
    for argv in guide_commands():  # the rest: the layout check here, the torchrun line in test_trainer.py
        line = " ".join(argv)
        assert line in ran or argv[:3] == ["vidpose", "data", "inspect"] or argv[0] == "torchrun", line


@pytest.fixture
def workspace(fixtures, tmp_path, monkeypatch):
    """The guide's layout (section 1) in a temporary working folder, from links to the fixtures."""
    data = tmp_path / "data" / "posetrack18"
    (data / "detections").mkdir(parents=True)
    (data / "images").symlink_to(fixtures / "images")
    (data / "annotations").symlink_to(fixtures / "annotations")
    (data / "detections" / "val_boxes.json").symlink_to(fixtures / DETECTIONS)
    (tmp_path / "configs").symlink_to(ROOT / "vidpose" / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(argv: list[str], capsys) -> str:
    from vidpose.cli import main

    capsys.readouterr()
    assert main(argv[1:] + ["--quiet"] if argv[1] in ("train", "test", "predict") else argv[1:]) == 0, " ".join(argv)
    return capsys.readouterr().out


def expected_boxes(fixtures: Path) -> dict[str, int]:
    """Detections scored >= MIN_SCORE per fixture video (PoseTrack18 image id = 1 + video + frame)."""
    counts = {p.stem: 0 for p in (fixtures / "annotations" / "val").glob("*.json")}
    for d in json.loads((fixtures / DETECTIONS).read_text()):
        if d["score"] >= MIN_SCORE:
            video = next(v for v in counts if v.startswith(f"{d['image_id'] // 10000 % 10 ** 6:06d}"))
            counts[video] += 1
    return counts


def test_the_layout_check_of_the_guide(workspace, capsys):
    (inspect,) = [a for a in guide_commands() if a[:3] == ["vidpose", "data", "inspect"]]
    out = run(inspect, capsys)
    assert "videos: 3" in out and "labeled frames: 3" in out


@pytest.mark.parametrize("config", CONFIGS, ids=[Path(c).stem for c in CONFIGS])
def test_a_paper_config_trains_tests_and_evaluates_on_real_posetrack18_files(config, workspace, fixtures, capsys,
                                                                             caplog):
    lines = guide_by_config()[config]
    original = yaml.safe_load((ROOT / "vidpose" / config).read_text())

    # one training step at the paper's input size, window and heads
    with caplog.at_level("WARNING", logger="vidpose.data.clips"):
        out = run(lines["train"] + TRAIN + narrow(config), capsys)
    assert "trained 1 steps" in out
    if original["data"].get("offsets"):  # only the labeled frame is on disk: the neighbours stand in, counted
        assert re.search(r"\d+ of \d+ neighbour frames .* are not on disk", caplog.text)
    run_dir = Path(lines["train"][lines["train"].index("--out") + 1])
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    for key in ("input_size", "heatmap_size", "sigma", "offsets"):
        assert saved["data"].get(key) == original["data"].get(key), key
    changed = {k for k in original["model"] if saved["model"][k] != original["model"][k]}
    assert changed <= {"backbone", "pretrained", "width"}, changed
    assert {k: v for k, v in saved["model"]["backbone"].items() if k != "size"} == \
        {k: v for k, v in original["model"]["backbone"].items() if k != "size"}
    assert saved["test"] == original["test"] and saved["train"]["epochs"] == original["train"]["epochs"]

    # vidpose test with the fixture detection file (mmpose image_id layout)
    out = run(lines["test"] + TEST + narrow(config), capsys)
    assert "3 frames" in out
    predictions = run_dir / "predictions" / "val"
    people = {p.stem: len(json.loads(p.read_text())["annotations"]) for p in predictions.glob("*.json")}
    assert people == expected_boxes(fixtures)
    result = json.loads((run_dir / "results_val.json").read_text())
    assert result["boxes"] == "data/posetrack18/detections/val_boxes.json" and result["people"] == sum(people.values())

    # vidpose eval of the written predictions gives the tester's own numbers
    out = run(lines["eval"], capsys)
    assert "3 videos, 3 evaluated frames" in out
    total = float(re.search(r"^AP\s.*\s(\S+)$", out, re.M).group(1))
    assert total == pytest.approx(result["Total"], abs=0.006)

    if "predict" in lines:  # the trained model on one video with the same boxes, as the guide shows
        run(lines["predict"] + narrow(config) + ["--min-box-score", str(MIN_SCORE)], capsys)
        video = lines["predict"][2].rstrip("/").split("/")[-1]
        written = json.loads(Path(lines["predict"][lines["predict"].index("--out") + 1]).read_text())
        assert len(written["annotations"]) == expected_boxes(fixtures)[video] > 0
