"""The files vidpose ships inside the package: its YAML configs (``vidpose/configs``), small
weights and their manifests (``vidpose/weights``). They are found through ``importlib.resources``,
so an installed vidpose and a checkout read the same files, from any working directory.

A path a user or a config gives, such as ``configs/real/jmpose_blazepose.yaml`` or
``weights/backbones/single_frame.pt``, means that file where it exists as given, and otherwise the
shipped file of that name (``locate``). A shipped file that its folder's ``manifest.json`` records
with a sha256 is checked against it before it is used (``verify_shipped``)."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from vidpose.assets import checked_sha256
from vidpose.errors import CheckpointError

#: the shipped folders, as a path names them
SHIPPED_FOLDERS = ("configs", "weights")


def package_path(relative: str | os.PathLike) -> Path:
    """The shipped file or folder ``relative`` to the package, e.g. ``configs/real/blazepose_full.yaml``."""
    return Path(str(resources.files("vidpose").joinpath(*Path(relative).parts)))


def shipped_name(path: str | os.PathLike) -> str:
    """How a manifest names a file: relative to the package where it is shipped
    (``weights/real/x.pt``), else as given."""
    try:
        return Path(path).resolve().relative_to(package_path("").resolve()).as_posix()
    except ValueError:
        return str(path)


def locate(path: str | os.PathLike) -> Path:
    """``path`` where it exists as given (or is absolute); else, when it names a shipped file
    (``configs/...``, ``weights/...``, also written ``vidpose/configs/...``), that file; else
    ``path`` unchanged, for the caller to report as missing."""
    given = Path(path)
    if given.is_absolute() or given.exists():
        return given
    parts = given.parts[1:] if given.parts[:1] == ("vidpose",) else given.parts
    if parts and parts[0] in SHIPPED_FOLDERS:
        shipped = package_path(Path(*parts))
        if shipped.exists():
            return shipped
    return given


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 that the ``manifest.json`` beside a shipped file records for it; None when
    the file is not shipped or not recorded with one."""
    manifest = Path(path).parent / "manifest.json"
    try:
        name = Path(path).resolve().relative_to(package_path("").resolve()).as_posix()
    except ValueError:
        return None  # not a shipped file
    if not manifest.is_file():
        return None
    entries = json.loads(manifest.read_text())
    for entry in entries.values() if isinstance(entries, dict) else ():
        if isinstance(entry, dict) and entry.get("weights") == name and entry.get("sha256"):
            return str(entry["sha256"])
    return None


def verify_shipped(path: str | os.PathLike) -> None:
    """Refuse a shipped file whose sha256 differs from the one its manifest records (a damaged or
    replaced file), naming it; files without a recorded checksum pass."""
    expected = recorded_sha256(path)
    if expected is None:
        return
    got = checked_sha256(Path(path))
    if got != expected:
        raise CheckpointError(f"{path}: sha256 {got}, but {Path(path).parent / 'manifest.json'} records {expected}; "
                              "the shipped file is damaged or was replaced: reinstall vidpose (or git checkout the file)")
