"""The open readings of TDMI's and JM-Pose's information terms, each against the published reading, the
method without its terms and the naive baseline (issue 37; docs/methods.md).

TDMI's paper leaves open what Eq. 8-9 may train (``mi_route``), Eq. 9's teacher and sign (``mi_eq9``)
and their scale (``mi_scale``); JM-Pose's sources leave open what its IO terms may train
(``io_route``). Each reading has a bench row that changes that one choice (frozen protocol, the same
steps and backbone). This script reads those rows from the results file and writes, per reading, its
AP on every split and, on val_hard, the paired bootstrap interval (videos resampled, each side's
seeds averaged) of the reading minus the published row, minus the row without the terms, and minus
the naive baseline. The default is chosen on ``val`` among the readings measured (never on val_hard).

    vidpose bench --methods tdmi_mi_all tdmi_mi_detached ... --seeds 0        # the rows
    python analysis/mi_readings.py [--results benchmarks/results/bench.json] [--out analysis/results/mi_readings.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import ArchivedRuns, git_state  # noqa: E402

#: method -> (published row, row without its terms, its readings: row -> the setting it changes)
#: ("published": our first reading, the lineage's route; the readings' rows were trained before
#: gates became the default and tdmi_mi_gates / jmpose_io_gates took the names tdmi / jmpose)
READINGS = {
    "tdmi": ("tdmi_mi_all", "tdmi_no_mi", {"tdmi_mi_detached": "mi_route=detached", "tdmi": "mi_route=gates",
                                           "tdmi_eq9_motion_probe": "mi_eq9=motion_probe",
                                           "tdmi_eq9_lineage": "mi_eq9=lineage", "tdmi_mi_positions": "mi_scale=positions"}),
    "jmpose": ("jmpose_io_all", "jmpose_no_io", {"jmpose_io_detached": "io_route=detached", "jmpose": "io_route=gates"}),
}
NAIVE = "naive_temporal"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="benchmarks/results/bench.json")
    parser.add_argument("--data", default="data/synthtrack/standard")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="analysis/results/mi_readings.json")
    args = parser.parse_args(argv)
    archived = ArchivedRuns(args.results, args.data, args.resamples)

    report: dict = {}
    for method, (published, without, readings) in READINGS.items():
        lines, missing = [], []
        for name, setting in {published: "as published", without: "without its terms", **readings}.items():
            line = archived.summary(name)
            if line is None:
                missing.append(name)
                continue
            line = {"row": name, "setting": setting, **line}
            if name in readings:
                for key, other in (("minus_published", published), ("minus_without_terms", without),
                                   ("minus_naive", NAIVE)):
                    c = archived.interval(name, other)
                    if c is not None:
                        line[f"val_hard_{key}"] = c
            lines.append(line)
            print(json.dumps(line))
        measured = [ln for ln in lines if ln["row"] in readings or ln["row"] == published]
        best = max(measured, key=lambda ln: ln["AP_Total_val"]) if measured else None
        report[method] = {"rows": lines, "chosen_on_val": None if best is None else best["row"], "not_measured": missing}
        print(method, "chosen on val:", report[method]["chosen_on_val"], "; not measured yet:", missing or "none")
    commit, dirty = git_state()
    out = {"command": "python analysis/mi_readings.py", "commit": commit, "tracked_files_modified": dirty,
           "what": __doc__.split("\n\n")[1].replace("\n", " "), **report}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
