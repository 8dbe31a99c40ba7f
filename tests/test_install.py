"""A plain install runs: the wheel built from this checkout, installed into a fresh virtual
environment, runs `vidpose models` and `vidpose predict` from another folder, reading its configs and
shipped weights from the installed package (vidpose/resources.py), not from the checkout.

The fresh environment borrows the test environment's dependencies (torch, numpy, ...) through a
``.pth`` line instead of downloading them again; only vidpose itself comes from the wheel (the
editable install's finder lives in a ``.pth`` file of its own, which a path added this way does not
run, so the checkout is not importable there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin`` folder of a fresh venv with the wheel of this checkout installed."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # a copy: building in the checkout would leave build/ there, stale files and all
    top_level = {".git", ".venv", "build", "runs", "data", "demo_out", "benchmarks", "tests", "vidpose.egg-info"}
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [n for n in names if n == "__pycache__" or (
        Path(folder) == ROOT and n in top_level)])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(work / "dist"), str(source)], check=True, cwd=work, capture_output=True)
    wheel = next((work / "dist").glob("vidpose-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    return venv / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "vidpose"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_installed_package_reads_its_own_configs_and_weights(installed, tmp_path):
    where = subprocess.run([str(installed / "python"), "-c", "import vidpose, vidpose.resources as r; "
                            "print(vidpose.__file__); print(r.locate('configs/real/jmpose_blazepose.yaml'))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert not where[0].startswith(str(ROOT)), f"vidpose was imported from the checkout: {where[0]}"
    assert where[1].startswith(str(Path(where[0]).parent)) and Path(where[1]).is_file()
    out = run(installed, "models", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)
    assert any(m["default"] for m in models) and {m["name"] for m in models} >= {"blazepose", "jmpose_blazepose"}


@pytest.mark.needs_assets
def test_the_installed_package_predicts_from_another_folder(installed, tmp_path, fixtures):
    clip = sorted((fixtures / "videos").rglob("*.mp4"))[0]
    out = run(installed, "predict", str(clip), "--out", "preds.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    preds = json.loads((tmp_path / "preds.json").read_text())
    assert len(preds["images"]) == 5 and preds["annotations"], "no person was predicted"
