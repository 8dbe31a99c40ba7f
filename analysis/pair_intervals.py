"""Paired bootstrap intervals between any two bench rows, from their archived predictions.

    python analysis/pair_intervals.py A[:protocol][@results] B[:protocol][@results] [A B ...]
        [--data-root data/synthtrack/standard]
        [--out analysis/results/pair_intervals.json]

``vidpose bench`` computes the intervals each paper claims (a method against its naive baseline,
a method against its own ablation). This answers the others, e.g. whether a component-free
ablation beats naive averaging: ``jmpose_no_io:paper naive_temporal:paper``. Each side is every
seed archived under ``benchmarks/results/predictions/`` for that method and protocol (default
``frozen``), or beside another results file after ``@`` (a check kept apart, e.g.
``naive_temporal:paper@benchmarks/results/bf16_check/bench.json``); the difference is A minus B in
`val_hard` Total AP, resampling videos
(``vidpose.evaluation.bootstrap.paired_bootstrap``, 1,000 draws). Results merge into ``--out`` by
pair.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench.json"


def archived_runs(name: str, protocol: str, results: Path = RESULTS) -> tuple[list[int], list]:
    from vidpose.bench.archive import archive_path, load_archived_predictions

    folder = archive_path(results, name, 0, protocol=protocol).parent
    seeds = sorted(int(m.group(1)) for p in folder.glob(f"{name}-seed*-val_hard.json.gz")
                   if (m := re.fullmatch(rf"{re.escape(name)}-seed(\d+)-val_hard\.json\.gz", p.name)))
    return seeds, [load_archived_predictions(archive_path(results, name, s, protocol=protocol)) for s in seeds]


def main(argv: list[str] | None = None) -> int:
    from vidpose.bench import ResultsFileError, git_state, read_results_file
    from vidpose.data.annotations import load_posetrack, write_json_atomic
    from vidpose.evaluation.bootstrap import paired_bootstrap, per_video_detections

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="+", help="pairs of METHOD[:PROTOCOL][@RESULTS_FILE]: A B [A B ...]")
    parser.add_argument("--data-root", type=Path, default=ROOT / "data" / "synthtrack" / "standard")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "pair_intervals.json")
    args = parser.parse_args(argv)
    if len(args.rows) % 2:
        parser.error("give the rows in pairs: A B [A B ...]")
    try:  # before anything slow: a broken --out file is named at once, and never overwritten
        results = read_results_file(args.out, {"pairs": {}})
    except ResultsFileError as error:
        raise SystemExit(str(error)) from None
    gt, _ = load_posetrack(args.data_root / "annotations" / "val_hard")
    commit, _ = git_state()
    for a, b in zip(args.rows[::2], args.rows[1::2]):
        sides = []
        for row in (a, b):
            spec, _, results_file = row.partition("@")
            name, _, protocol = spec.partition(":")
            seeds, runs = archived_runs(name, protocol or "frozen", Path(results_file) if results_file else RESULTS)
            if not runs:
                raise SystemExit(f"{row}: no archived val_hard predictions beside {results_file or RESULTS}")
            sides.append((seeds, [per_video_detections(gt, run) for run in runs]))
        (a_seeds, a_runs), (b_seeds, b_runs) = sides
        entry = {"a": a, "b": b, "seeds": a_seeds, "b_seeds": b_seeds,
                 **paired_bootstrap(a_runs, b_runs, args.resamples),
                 "command": f"python analysis/pair_intervals.py {a} {b}", "commit": commit}
        results["pairs"][f"{a} - {b}"] = entry
        write_json_atomic(results, args.out, indent=1)
        print(f"{a} - {b}: {entry['delta']:+.1f} [{entry['ci_low']:+.1f}, {entry['ci_high']:+.1f}] "
              f"(seeds {a_seeds} vs {b_seeds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
