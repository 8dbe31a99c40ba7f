"""The on-disk versions of the two datasets vidpose generates, SynthTrack (``vidpose synth``) and
RealData (``vidpose realdata build``), and the check that refuses a folder of another version
instead of mixing it with this one's data. Each folder's ``stats.json`` records its kind and version."""

from __future__ import annotations

import json
from pathlib import Path

#: SynthTrack's generator version (docs/synthtrack.md), bumped whenever the generator changes what it
#: writes. 2: degradations from vidpose/data/degrade.py on clean renders (motion blur along the people's
#: own motion, heavier defocus, pasted cut-outs over a third or more of each person), val_hard keys every
#: third frame with clean neighbours and clean twins, front/back cues on the torso.
SYNTHTRACK_VERSION = 2
#: RealData's kind in stats.json, and its version (docs/realdata.md)
REALDATA_KIND = "realdata"
REALDATA_VERSION = 1


def check_dataset_version(root: Path) -> None:
    """A SynthTrack or RealData folder of another version than this vidpose's is refused; a folder
    without ``stats.json`` (PoseTrack) passes."""
    stats = Path(root) / "stats.json"
    if not stats.is_file():
        return
    try:
        doc = json.loads(stats.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{stats}: unreadable dataset statistics ({e})") from e
    if isinstance(doc, dict) and doc.get("kind") == REALDATA_KIND:
        found = doc.get("version")
        if found != REALDATA_VERSION:
            raise ValueError(f"{root}: RealData version {found}, but this vidpose reads version {REALDATA_VERSION}; "
                             f"build it again: vidpose realdata build --out {root}")
        return
    found = doc.get("version", 1) if isinstance(doc, dict) else None
    if found != SYNTHTRACK_VERSION:
        raise ValueError(f"{root}: SynthTrack version {found}, but this vidpose writes and reads version "
                         f"{SYNTHTRACK_VERSION} (see docs/synthtrack.md). Delete the folder and generate it again: "
                         f"vidpose synth --out {root} --preset <preset>")
