"""Paired bootstrap intervals between two models of ``benchmarks/realvideo.py`` on real video.

    python analysis/realvideo_intervals.py A[@RESULTS] B[@RESULTS] [A B ...]
        [--split test_hard] [--own-boxes offline]
        [--out analysis/results/realvideo_intervals.json]

RealData's test splits hold four videos, too few to resample, so the units are the tracks
("video/track"): a person's frames are correlated, different people much less so. Each side is a
row of a realvideo results file (default ``benchmarks/results/realvideo.json``; another after
``@``, run on the same data build); the difference is A minus B in pooled PCKh@0.5 Total on
``--split``, or with ``--own-boxes MODE`` on ``test_hard`` with vidpose's own boxes
(``vidpose.evaluation.bootstrap.paired_ratio_bootstrap``, 1,000 draws). A row needs the per-track
counts that realvideo.py writes (``PCKh_by_track``). Results merge into ``--out`` by pair.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "realvideo.json"


def read_json(path: Path, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A results file's contents (``empty`` where it does not exist yet); the reader's error,
    which names the file, as the script's exit message."""
    from vidpose.bench import ResultsFileError, read_results_file

    try:
        return read_results_file(path, empty)
    except ResultsFileError as error:
        raise SystemExit(str(error)) from None


def scored_split(spec: str, split: str, own_boxes: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the split's score, the results file) of ``NAME[@RESULTS]``; a clear error where absent."""
    name, _, path = spec.partition("@")
    results_path = Path(path) if path else RESULTS
    if not results_path.is_file():
        raise SystemExit(f"{results_path}: no such results file (run benchmarks/realvideo.py)")
    results = read_json(results_path)
    row = results.get("rows", {}).get(name)
    if row is None:
        raise SystemExit(f"{results_path}: no row {name!r} (rows: {', '.join(results.get('rows', {}))})")
    scored = row.get("test_hard_own_boxes", {}).get(own_boxes) if own_boxes else row.get(split)
    if not scored:
        where = f"test_hard with own boxes ({own_boxes})" if own_boxes else split
        raise SystemExit(f"{results_path}: row {name!r} was not scored on {where}")
    if "PCKh_by_track" not in scored:
        raise SystemExit(f"{results_path}: row {name!r} has no per-track counts; rerun benchmarks/realvideo.py")
    return scored, results


def main(argv: list[str] | None = None) -> int:
    from vidpose.bench import git_state
    from vidpose.data.annotations import write_json_atomic
    from vidpose.evaluation.bootstrap import paired_ratio_bootstrap

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="+", help="pairs of NAME[@RESULTS_FILE]: A B [A B ...]")
    parser.add_argument("--split", default="test_hard", choices=("test", "test_hard", "test_hard_clean"))
    parser.add_argument("--own-boxes", choices=("off", "offline", "causal"), default=None,
                        help="compare on test_hard with vidpose's own boxes in this mode instead")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "realvideo_intervals.json")
    args = parser.parse_args(argv)
    if len(args.rows) % 2:
        parser.error("give the rows in pairs: A B [A B ...]")
    where = f"test_hard_own_boxes_{args.own_boxes}" if args.own_boxes else args.split
    out = read_json(args.out, {"pairs": {}})
    commit, _ = git_state(ROOT)
    for a, b in zip(args.rows[::2], args.rows[1::2]):
        (sa, ra), (sb, rb) = (scored_split(s, args.split, args.own_boxes) for s in (a, b))
        if (ra.get("data_version"), ra.get("data_commit")) != (rb.get("data_version"), rb.get("data_commit")):
            raise SystemExit(f"{a} and {b} were scored on different RealData builds")
        entry = {"a": a, "b": b, "on": where, "metric": "PCKh@0.5 Total, pooled; units: tracks",
                 "a_value": sa["PCKh"]["Total"], "b_value": sb["PCKh"]["Total"],
                 **paired_ratio_bootstrap(sa["PCKh_by_track"], sb["PCKh_by_track"], args.resamples),
                 "command": "python analysis/realvideo_intervals.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "commit": commit}
        out["pairs"][f"{a} - {b} on {where}"] = entry
        write_json_atomic(out, args.out, indent=1)
        print(f"{a} - {b} on {where}: {entry['delta']:+.2f} [{entry['ci_low']:+.2f}, {entry['ci_high']:+.2f}] "
              f"PCKh ({entry['units']} tracks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
