"""JM-Pose's information orthogonality loss against its weight lambda_IO (issue 17).

The paper gives no lambda_IO (shared/specs/jmpose.md); vidpose defaults to 1. This script reads
the bench rows of JM-Pose trained with lambda_IO = 0 (``jmpose_no_io``), 0.1, 0.5 and 1
(``jmpose``), each on the same frozen stage-1 HRNet with the same steps, and writes their AP on
every split and, on val_hard, the paired bootstrap interval of each weight minus lambda_IO = 0
(resampling videos; each side averaged over its seeds with archived predictions). A weight is
chosen on ``val`` (never on val_hard).

The other two ablations, ``jmpose_no_jmml`` (no mutual learning blocks) and ``jmpose_no_cjl``
(motion only), drop the IO loss too, since it is defined on the blocks' M and J; so without the
loss the components are compared in turn: lambda_IO = 0 minus no JMML (what the blocks add), and
no JMML minus no CJL (what the joint learner adds).

    vidpose bench --methods jmpose_io_0.1 jmpose_io_0.5 --ablation-seeds 0   # the rows
    python analysis/io_weight.py [--results benchmarks/results/bench.json] [--out analysis/results/io_weight.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import ArchivedRuns, git_state  # noqa: E402

WEIGHTS = {0.0: "jmpose_no_io", 0.1: "jmpose_io_0.1", 0.5: "jmpose_io_0.5", 1.0: "jmpose"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="benchmarks/results/bench.json")
    parser.add_argument("--data", default="data/synthtrack/standard")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="analysis/results/io_weight.json")
    args = parser.parse_args(argv)
    archived = ArchivedRuns(args.results, args.data, args.resamples)

    table, missing = [], []
    for weight, name in WEIGHTS.items():
        measured = archived.summary(name)
        if measured is None:
            missing.append(name)
            continue
        line = {"lambda_io": weight, "method": name, **measured}
        c = archived.interval(name, WEIGHTS[0.0]) if weight > 0 else None
        if c is not None:
            line["val_hard_minus_lambda_0"] = c
        table.append(line)
        print(json.dumps(line))
    components = []
    for a, b, what in (("jmpose_no_io", "jmpose_no_jmml", "the JMML blocks, without the IO loss"),
                       ("jmpose_no_jmml", "jmpose_no_cjl", "the joint learner (CJL), without JMML or the IO loss")):
        c = archived.interval(a, b)
        if c is not None:
            components.append({"a": a, "b": b, "what_a_minus_b_measures": what, **c})
            print(json.dumps(components[-1]))
    commit, dirty = git_state()
    best = max(table, key=lambda ln: ln["AP_Total_val"]) if table else None
    out = {"command": "python analysis/io_weight.py", "commit": commit, "tracked_files_modified": dirty,
           "what": __doc__.split("\n\n")[1].replace("\n", " "), "weights": table,
           "components_without_io_val_hard": components,
           "chosen_on_val": None if best is None else best["lambda_io"], "not_measured": missing}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("lambda_IO chosen on val:", out["chosen_on_val"], "; not measured yet:", missing or "none")
    return out


if __name__ == "__main__":
    main()
