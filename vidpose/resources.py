"""The files vidpose ships inside the package: its YAML configs (``vidpose/configs``), small
weights and their manifests (``vidpose/weights``). They are found through ``importlib.resources``,
so an installed vidpose and a checkout read the same files, from any working directory.

A path a user or a config gives, such as ``configs/real/jmpose_blazepose.yaml`` or
``weights/backbones/single_frame.pt``, means that file where it exists as given, and otherwise the
shipped file of that name (``locate``)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

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
