"""The results file of ``vidpose bench`` (``benchmarks/results/bench.json``): reading and writing it,
each protocol's part of it, and the archived val_hard predictions beside it that keep the paired
intervals recomputable after ``runs/`` is gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidpose.bench.methods import METHODS
from vidpose.errors import VidposeError


class ResultsFileError(VidposeError, ValueError):
    """A results file (of the bench, of real video, of an analysis script) that is not a JSON object;
    names the file."""


def read_results_file(path: str | Path, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object in ``path``; ``empty`` (a copy) where the file does not exist yet and
    ``empty`` is given. A ``ResultsFileError`` naming the file where it is not a JSON object,
    rather than a bare decoder traceback or an overwrite of what was there."""
    path = Path(path)
    if not path.is_file() and empty is not None:
        return json.loads(json.dumps(empty))
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such results file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"{path}: not a JSON results file ({error})") from None
    if not isinstance(data, dict):
        raise ResultsFileError(f"{path}: not a results file (a JSON {type(data).__name__}, not an object)")
    return data


def load_results(path: Path) -> dict[str, Any]:
    """A bench results file; an empty one where it does not exist yet."""
    return read_results_file(path, {"rows": [], "bootstrap": {}})


def row_protocol(row: dict[str, Any]) -> str:
    """A row's protocol; rows written before protocols existed were all ``frozen``."""
    return row.get("protocol", "frozen")


def protocol_view(results: dict[str, Any], protocol: str) -> dict[str, Any]:
    """The part of a results file one protocol owns, shaped as a whole file: its rows (stage 1
    belongs to both) and its intervals (``frozen``: the top-level ``bootstrap`` and ``comparisons``,
    where they always were; ``paper``: under ``protocols.paper``)."""
    rows = [r for r in results.get("rows", []) if r.get("stage") == 1 or row_protocol(r) == protocol]
    own = results if protocol == "frozen" else results.get("protocols", {}).get(protocol, {})
    return {**{k: v for k, v in results.items() if k not in ("rows", "bootstrap", "comparisons", "protocols")},
            "rows": rows, "bootstrap": dict(own.get("bootstrap", {})), "comparisons": dict(own.get("comparisons", {})),
            "protocol": protocol}


def merge_protocol(results: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """``results`` with ``view`` (from ``protocol_view``, then updated) put back in its place."""
    protocol = view["protocol"]
    others = [r for r in results.get("rows", []) if r.get("stage") != 1 and row_protocol(r) != protocol]
    if protocol == "frozen":  # the frozen rows first, in their own order (the file does not churn)
        rows = view["rows"] + others
    else:  # the other rows as they stand (stage 1 as the view has it), then this protocol's
        stage1 = {(r["method"], r["seed"], r["split"]): r for r in view["rows"] if r.get("stage") == 1}
        kept = [stage1.pop((r["method"], r["seed"], r["split"]), r) if r.get("stage") == 1 else r
                for r in results.get("rows", []) if r.get("stage") == 1 or row_protocol(r) != protocol]
        rows = kept + list(stage1.values()) + [r for r in view["rows"] if r.get("stage") != 1]
    merged = {**results, "rows": rows}
    intervals = {"bootstrap": view.get("bootstrap", {}), "comparisons": view.get("comparisons", {})}
    if protocol == "frozen":
        merged.update(intervals)
        merged.update({k: v for k, v in view.items() if k not in ("rows", "bootstrap", "comparisons", "protocol")})
    else:
        merged["protocols"] = {**results.get("protocols", {}), protocol: {
            **intervals, **{k: view[k] for k in ("commit", "epochs") if k in view}}}
    return merged


def save_results(results: dict[str, Any], path: Path) -> None:
    from vidpose.data.annotations import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(results, path)


def archive_path(results: Path, name: str, seed: int, split: str = "val_hard", protocol: str = "frozen") -> Path:
    """Where a row's predictions are kept beside the results file, so that its interval can be
    recomputed after ``runs/`` is gone: ``predictions/<method>-seed<k>-<split>.json.gz`` (a
    ``paper`` row's under ``predictions/paper/``)."""
    folder = Path(results).parent / "predictions"
    return (folder / "paper" if protocol == "paper" else folder) / f"{name}-seed{seed}-{split}.json.gz"


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """A prediction file as the evaluator needs it: labeled frames' image entries without their
    degradation records, coordinates to 1/1000 pixel and scores to 1e-6."""
    images = [{k: v for k, v in im.items() if k != "degradations"} for im in data.get("images", [])]
    annotations = []
    for ann in data.get("annotations", []):
        ann = dict(ann)
        if "keypoints" in ann:
            ann["keypoints"] = [round(float(v), 3) for v in ann["keypoints"]]
        if "scores" in ann:
            ann["scores"] = [round(float(v), 6) for v in ann["scores"]]
        annotations.append(ann)
    return {**data, "images": images, "annotations": annotations}


def archive_predictions(folder: Path, path: Path) -> Path:
    """Gzip every prediction file of ``folder`` (compacted) into one archive at ``path``, atomically."""
    import gzip

    from vidpose.data.annotations import annotation_files, load_json

    files = {f.name: _compact(load_json(f)) for f in annotation_files(folder)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps({"source": Path(folder).as_posix(), "files": files}, separators=(",", ":"))
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fh:
        fh.write(text.encode("utf-8"))  # no name or time in the header: the same predictions, the same bytes
    tmp.replace(path)
    return path


def load_archived_predictions(path: Path) -> list:
    """The videos of an archive written by ``archive_predictions``."""
    import gzip

    from vidpose.data.annotations import parse_posetrack

    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable predictions archive ({e})") from e
    # each video is parsed as ``<archive>/<file>``: its name is the file's stem, as when read from runs/
    return [v for name, content in sorted(data["files"].items())
            for v in parse_posetrack(content, Path(path) / name)]


class ArchivedRuns:
    """The rows of a results file, and what the benchmark scripts pair from its archived val_hard
    predictions (beside the file): ``detections(name)``, the per-video detections per seed whose
    predictions are archived (each read once), and ``interval(a, b)``, the paired bootstrap of
    a − b over those seeds (None where one side has none)."""

    def __init__(self, results_path: str | Path, data_root: str | Path, resamples: int = 1000,
                 protocol: str = "frozen"):
        from vidpose.data.annotations import load_posetrack

        self.results_path, self.resamples, self.protocol = Path(results_path), resamples, protocol
        self.rows: list[dict[str, Any]] = protocol_view(read_results_file(self.results_path), protocol)["rows"]
        self.gt, _ = load_posetrack(Path(data_root) / "annotations" / "val_hard")
        self._detections: dict[str, dict[int, list]] = {}

    def summary(self, name: str) -> dict[str, Any] | None:
        """``name``'s seeds, the commits they were measured at and its mean AP Total per split
        (``AP_Total_<split>``); None when the file has no row of it."""
        measured = [r for r in self.rows if r["method"] == name]
        if not measured:
            return None
        out: dict[str, Any] = {"seeds": sorted({r["seed"] for r in measured}),
                               "commits": sorted({r["commit"] for r in measured})}
        for split in sorted({r["split"] for r in measured}, key=["val", "val_hard", "val_hard_clean"].index):
            values = [r["AP"]["Total"] for r in measured if r["split"] == split]
            out[f"AP_Total_{split}"] = round(sum(values) / len(values), 2)
        return out

    def detections(self, name: str) -> dict[int, list]:
        from vidpose.evaluation.bootstrap import per_video_detections

        if name not in self._detections:
            seeds = sorted({r["seed"] for r in self.rows if r["method"] == name and r["split"] == "val_hard"})
            stage2 = METHODS[name].init is not None if name in METHODS else True
            found = {s: archive_path(self.results_path, name, s, protocol=self.protocol if stage2 else "frozen")
                     for s in seeds}
            self._detections[name] = {s: per_video_detections(self.gt, load_archived_predictions(p))
                                      for s, p in found.items() if p.is_file()}
        return self._detections[name]

    def interval(self, a: str, b: str) -> dict[str, Any] | None:
        from vidpose.evaluation.bootstrap import paired_bootstrap

        ra, rb = self.detections(a), self.detections(b)
        if not ra or not rb:
            return None
        return {"seeds": sorted(ra), "b_seeds": sorted(rb),
                **paired_bootstrap(list(ra.values()), list(rb.values()), self.resamples)}


def put_row(results: dict[str, Any], row: dict[str, Any]) -> None:
    """Replace the row of the same (method, seed, split), or add it, in place. A row measured
    again with the same numbers (reused test results) keeps the commit it was measured at."""
    key = (row["method"], row["seed"], row["split"])
    for i, r in enumerate(results["rows"]):
        if (r["method"], r["seed"], r["split"]) == key:
            if r.get("AP") == row.get("AP") and r.get("steps") == row.get("steps"):
                row = {**{k: v for k, v in row.items() if k != "tracked_files_modified"},
                       "commit": r.get("commit", "unrecorded"),
                       **{k: r[k] for k in ("command", "wall_minutes", "tracked_files_modified") if k in r}}
            results["rows"][i] = row
            return
    results["rows"].append(row)
