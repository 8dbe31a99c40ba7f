"""YAML configs with ``key=value`` overrides.

A config is one YAML file (see ``vidpose/configs/``). Overrides use dotted paths and YAML values:

    vidpose train configs/synthtrack/single_frame_resnet_tiny.yaml train.epochs=3 model.backbone.size=r18

An override must name an existing key, so a typo fails loudly; prefix it with ``+`` to add a new
key (``+model.extra=1``). The resolved config is saved beside each run as ``config.yaml``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from vidpose.errors import ConfigError
from vidpose.resources import locate


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The config at ``path`` (or the shipped one of that name, ``configs/...``: ``resources.locate``)
    with ``overrides`` applied."""
    path = locate(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a config is YAML text)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level")
    return apply_overrides(cfg, overrides, source=str(path))


def apply_overrides(cfg: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str = "config") -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        add = key.startswith("+")
        parts = key.lstrip("+").split(".")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                if not add:
                    raise ConfigError(f"override {item!r}: {source} has no key {'.'.join(parts[:i + 1])!r}")
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:i + 1])} is not a mapping")
        if parts[-1] not in node and not add:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise ConfigError(f"override {item!r}: {source} has no key {key!r} (known here: {known}); "
                              "use +key=value to add one")
        try:
            node[parts[-1]] = _number_or_yaml(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {e}") from None
    return cfg


def config_diff(old: dict[str, Any], new: dict[str, Any], skip: tuple[str, ...] = (), missing: Any = None,
                prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf where two configs differ, in key order; a
    key one of them lacks reads as ``missing``; keys in ``skip``, and the keys below them, are left out."""
    out = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        if any(path == k or path.startswith(k + ".") for k in skip):
            continue
        a, b = old.get(key, missing), new.get(key, missing)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, skip, missing, path + ".")
        elif a != b:
            out.append((path, a, b))
    return out


def _number_or_yaml(text: str):
    """YAML 1.1 reads ``1e-4`` as a string; users mean a number."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def save_config(cfg: dict[str, Any], path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.replace(tmp, path)
