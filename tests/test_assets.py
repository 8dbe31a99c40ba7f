"""vidpose.assets: the cache layout, errors that say what to do, and fetch's extraction and
checks, all offline (the package clients are replaced by fakes; no network is used)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from vidpose import assets
from vidpose.assets import ASSETS, Asset, AssetError

PAYLOAD = b"not really a model\n"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VIDPOSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_assets(monkeypatch):
    table = {
        "wheel_thing": Asset("pypi", "somepkg", "1.2.3", "somepkg/data/model.bin", SHA, "Apache-2.0"),
        "npm_thing": Asset("npm", "@scope/pkg", "0.0.1", "package/model.bin", SHA, "MIT"),
        "npm_other": Asset("npm", "@scope/pkg", "0.0.1", "package/sub/other.bin", SHA, "MIT"),
        "deb_thing": Asset("deb", "somedeb", "2.0-1", "./usr/share/somedeb/model.bin", SHA, "GPL-2.0"),
    }
    monkeypatch.setattr(assets, "ASSETS", table)
    return table


def _fake_client(monkeypatch, payload: bytes = PAYLOAD, calls: list | None = None):
    """Replace the package clients: each 'download' writes a package holding ``payload`` at
    every member path the fake table uses."""
    members = ["somepkg/data/model.bin", "package/model.bin", "package/sub/other.bin"]

    def run(cmd, cwd):
        if calls is not None:
            calls.append(list(cmd))
        cwd = Path(cwd)
        if "pip" in cmd:
            with zipfile.ZipFile(cwd / "somepkg-1.2.3-py3-none-any.whl", "w") as z:
                for m in members:
                    z.writestr(m, payload)
        elif cmd[0] == "npm":
            with tarfile.open(cwd / "scope-pkg-0.0.1.tgz", "w:gz") as tar:
                for m in members:
                    info = tarfile.TarInfo(m)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        else:
            (cwd / "somedeb_2.0-1_all.deb").write_bytes(b"deb")

    monkeypatch.setattr(assets, "_run", run)


def _offline(monkeypatch):
    def run(cmd, cwd):
        raise subprocess.CalledProcessError(1, cmd, stderr="ERROR: Could not find a version that satisfies the "
                                            "requirement (network is unreachable)")

    monkeypatch.setattr(assets, "_run", run)


def test_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPOSE_HOME", str(tmp_path))
    assert assets.home() == tmp_path
    monkeypatch.delenv("VIDPOSE_HOME")
    assert assets.home() == Path.home() / ".cache" / "vidpose"


def test_table_entries_are_complete():
    for name, a in ASSETS.items():
        assert a.source in assets.SOURCES, name
        assert a.package and a.version and a.member and a.licence, name
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0, name
    for name in ("blazepose_full", "blazepose_lite", "blazepose_heavy"):
        assert name in ASSETS


def test_asset_path_of_a_missing_asset_says_to_fetch(home):
    with pytest.raises(AssetError) as e:
        assets.asset_path("blazepose_full")
    msg = str(e.value)
    assert "blazepose_full" in msg and "mediapipe==0.10.21" in msg and "vidpose assets fetch" in msg
    from vidpose.errors import VidposeError

    assert isinstance(e.value, OSError) and isinstance(e.value, VidposeError)


def test_asset_path_of_a_corrupt_file_says_to_fetch_again(home):
    path = assets.cached_path("blazepose_lite")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(AssetError, match=r"sha256 .*expected.*vidpose assets fetch blazepose_lite"):
        assets.asset_path("blazepose_lite")


def test_unknown_asset_lists_the_known_ones(home):
    with pytest.raises(KeyError, match="blazepose_full"):
        assets.asset_path("nope")


def test_fetch_offline_names_the_package_and_what_to_do(home, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(AssetError) as e:
        assets.fetch(["blazepose_heavy"])
    msg = str(e.value)
    assert "@mediapipe/pose==0.5.1675469404" in msg and "npm pack" in msg and "offline" in msg
    assert "vidpose assets fetch blazepose_heavy" in msg
    assert not assets.cached_path("blazepose_heavy").exists()


def test_fetch_offline_pypi(home, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(AssetError, match=r"pypi package mediapipe==0\.10\.21 .*pip download"):
        assets.fetch(["blazepose_full"])


def test_fetch_extracts_members_from_each_source(home, fake_assets, monkeypatch):
    calls: list = []
    _fake_client(monkeypatch, calls=calls)
    paths = assets.fetch(["wheel_thing", "npm_thing", "npm_other"])
    assert [p.read_bytes() for p in paths] == [PAYLOAD] * 3
    assert paths[0] == home / "pypi" / "somepkg-1.2.3" / "somepkg" / "data" / "model.bin"
    assert paths[1].parent == paths[2].parent.parent  # one package's members side by side
    assert len(calls) == 2  # the npm package was downloaded once for its two members
    assert calls[0][1:4] == ["-m", "pip", "download"] and "--no-deps" in calls[0] and "somepkg==1.2.3" in calls[0]
    assert calls[1][:2] == ["npm", "pack"] and calls[1][-1] == "@scope/pkg@0.0.1"
    assert not list(home.rglob("*.part"))  # written atomically, no temporary left
    # cached: nothing is downloaded again unless forced
    calls.clear()
    assets.fetch(["wheel_thing"])
    assert calls == []
    assets.fetch(["wheel_thing"], force=True)
    assert len(calls) == 1


def test_fetch_deb_reads_the_data_tarball(home, fake_assets, monkeypatch):
    _fake_client(monkeypatch)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        info = tarfile.TarInfo("./usr/share/somedeb/model.bin")
        info.size = len(PAYLOAD)
        tar.addfile(info, io.BytesIO(PAYLOAD))
    real_run = subprocess.run

    def fake_dpkg(cmd, *a, **k):
        if cmd[0] == "dpkg-deb":
            assert cmd[1] == "--fsys-tarfile"
            return subprocess.CompletedProcess(cmd, 0, stdout=buf.getvalue())
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(assets.subprocess, "run", fake_dpkg)
    (path,) = assets.fetch(["deb_thing"])
    assert path.read_bytes() == PAYLOAD and path == home / "deb" / "somedeb-2.0-1" / "usr/share/somedeb/model.bin"


def test_fetch_with_a_wrong_sha_names_the_package_and_writes_nothing(home, fake_assets, monkeypatch):
    _fake_client(monkeypatch, payload=b"something else")
    with pytest.raises(AssetError) as e:
        assets.fetch(["wheel_thing"])
    msg = str(e.value)
    assert "somepkg==1.2.3" in msg and "expected " + SHA in msg and "nothing was written" in msg
    assert not assets.cached_path("wheel_thing").exists()


def test_fetch_of_a_missing_member_says_the_entry_is_wrong(home, fake_assets, monkeypatch):
    _fake_client(monkeypatch)
    monkeypatch.setitem(assets.ASSETS, "bad", Asset("pypi", "somepkg", "1.2.3", "somepkg/missing.bin", SHA, "x"))
    with pytest.raises(AssetError, match=r"somepkg==1\.2\.3.*no file 'somepkg/missing.bin'.*ASSETS is wrong"):
        assets.fetch(["bad"])


def test_command_line(home, fake_assets, monkeypatch, capsys):
    _fake_client(monkeypatch)
    assert assets.main(["list"]) == 0
    assert "missing" in capsys.readouterr().out
    assert assets.main(["fetch", "npm_thing"]) == 0
    assert capsys.readouterr().out.strip().endswith("package/model.bin")
    _offline(monkeypatch)
    assert assets.main(["fetch", "wheel_thing"]) == 1
    assert "somepkg==1.2.3" in capsys.readouterr().err


def test_fetching_an_unknown_asset_is_one_line_and_exit_2(home, capsys):
    """Issue 41: `vidpose assets fetch nosuch` was a KeyError traceback."""
    from vidpose.cli import main
    from vidpose.errors import VidposeError

    assert main(["assets", "fetch", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown asset 'nosuch'; known assets: ") and err.count("\n") == 1
    with pytest.raises(VidposeError):
        assets.fetch(["nosuch"])


def test_npm_fails_fast_and_the_error_names_the_package_and_the_cause(home, fake_assets, monkeypatch, capsys):
    """Issue 41: npm retried an unreachable registry for 70 s in silence and gave no cause."""
    calls: list = []
    _fake_client(monkeypatch, calls=calls)
    assets.fetch(["npm_thing"])
    assert calls[0][:2] == ["npm", "pack"] and "--fetch-retries=1" in calls[0] and "--silent" not in calls[0]
    assert "fetching npm package @scope/pkg==0.0.1 (npm_thing)" in capsys.readouterr().err

    def refused(cmd, cwd):
        raise subprocess.CalledProcessError(1, cmd, stderr="npm error code ECONNREFUSED\nnpm error FetchError: "
                                            "request to https://registry.npmjs.org/x failed, reason: connect "
                                            "ECONNREFUSED 127.0.0.1:443\nnpm error     at ClientRequest.<anonymous>\n")

    monkeypatch.setattr(assets, "_run", refused)
    with pytest.raises(AssetError, match=r"npm package @scope/pkg==0\.0\.1 .*: connect ECONNREFUSED 127\.0\.0\.1:443\."):
        assets.fetch(["npm_other"], force=True)


def test_assets_list_prints_whole_reasons(home, capsys):
    """Issue 41: the reasons were cut at 90 characters."""
    from vidpose.cli import main

    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    assert "run `vidpose assets fetch blazepose_full` (or `python -m vidpose.assets fetch blazepose_full`) while " \
           "online" in out
