"""SDTC's ablations (Tables 4 and 5) beside the paper's numbers, and what splits Table 5 (a) (issue 17).

Reads the bench rows of SDTC and its ablations on SynthTrack (each on the same frozen tiny ViT,
same steps) and writes, for each paper row, the paper's PoseTrack17 mAP and its distance to
SDTC's 87.5 beside our val_hard AP and the paired bootstrap interval of SDTC minus the row
(resampling videos; each side averaged over its seeds with archived predictions). Then the pairs
that say where Table 5 (a)'s difference comes from, with ``sdtc_mask_no_rec`` (the masks kept,
Eq. 15's reconstruction losses off; a diagnosis, in no paper table):

- plain minus masks-without-reconstruction: what masking the encoders' inputs costs;
- SDTC minus masks-without-reconstruction: what the reconstruction losses buy back;
- the masking ratio in steps (plain = 0%, 25%, 50% = SDTC, 75%);
- concat + conv minus add, with optical flow and with MLSME (Table 4's fusion, either motion).

    vidpose bench --methods sdtc sdtc_flow_add sdtc_flow_concat sdtc_mlsme_add sdtc_mlsme_concat \\
        sdtc_plain_motion sdtc_patch_only sdtc_mask25 sdtc_mask75 sdtc_mask_no_rec   # the rows
    python analysis/sdtc_ablations.py [--results benchmarks/results/bench.json] [--out analysis/results/sdtc_ablations.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import SPLITS, ArchivedRuns, git_state  # noqa: E402

#: the paper's PoseTrack17 val mAP of each row (Tables 4 and 5; SDTC 87.5)
PAPER = {"sdtc": ("SDTC", 87.5),
         "sdtc_flow_add": ("Table 4 (a): optical flow, add", 84.0),
         "sdtc_flow_concat": ("Table 4 (b): optical flow, conv", 83.9),
         "sdtc_mlsme_add": ("Table 4 (c): MLSME, add", 86.2),
         "sdtc_mlsme_concat": ("Table 4 (d): MLSME, conv", 86.0),
         "sdtc_plain_motion": ("Table 5 (a): plain transformers, no masked reconstruction", 85.6),
         "sdtc_patch_only": ("Table 5 (b): patch level only", 86.7),
         "sdtc_mask25": ("Table 5 (c): masking ratio 25%", 86.9),
         "sdtc_mask75": ("Table 5 (d): masking ratio 75%", 87.4)}

#: (a, b, what a - b measures)
PAIRS = [("sdtc_plain_motion", "sdtc_mask_no_rec", "what masking the encoders' inputs (r = 50%) costs, no reconstruction"),
         ("sdtc", "sdtc_mask_no_rec", "what Eq. 15's reconstruction losses buy, the masks kept"),
         ("sdtc_plain_motion", "sdtc_mask25", "masking ratio 0% (plain) minus 25%"),
         ("sdtc_mask25", "sdtc", "masking ratio 25% minus 50%"),
         ("sdtc", "sdtc_mask75", "masking ratio 50% minus 75%"),
         ("sdtc_flow_concat", "sdtc_flow_add", "concat + conv minus add, with optical flow"),
         ("sdtc_mlsme_concat", "sdtc_mlsme_add", "concat + conv minus add, with MLSME")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="benchmarks/results/bench.json")
    parser.add_argument("--data", default="data/synthtrack/standard")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="analysis/results/sdtc_ablations.json")
    args = parser.parse_args(argv)
    archived = ArchivedRuns(args.results, args.data, args.resamples)
    rows, interval = archived.rows, archived.interval

    def mean_ap(name: str, split: str) -> float | None:
        values = [r["AP"]["Total"] for r in rows if r["method"] == name and r["split"] == split]
        return round(sum(values) / len(values), 2) if values else None

    table, missing = [], []
    for name, (row, paper) in PAPER.items():
        if mean_ap(name, "val_hard") is None:
            missing.append(name)
            continue
        line = {"method": name, "paper_row": row, "paper_mAP": paper, "paper_sdtc_minus_row": round(87.5 - paper, 1),
                "seeds": sorted({r["seed"] for r in rows if r["method"] == name}),
                **{f"AP_Total_{split}": mean_ap(name, split) for split in SPLITS}}
        if name != "sdtc":
            line["val_hard_sdtc_minus_row"] = interval("sdtc", name)
        table.append(line)
        print(json.dumps(line))
    pairs = []
    for a, b, what in PAIRS:
        c = interval(a, b)
        if c is None:
            missing.append(f"{a} - {b}")
            continue
        pairs.append({"a": a, "b": b, "what_a_minus_b_measures": what, **c})
        print(json.dumps(pairs[-1]))
    commit, dirty = git_state()
    out = {"command": "python analysis/sdtc_ablations.py", "commit": commit, "tracked_files_modified": dirty,
           "what": __doc__.split("\n\n")[1].replace("\n", " "), "rows": table, "pairs_val_hard": pairs,
           "not_measured": missing}
    Path(args.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("not measured yet:", missing or "none")
    return out


if __name__ == "__main__":
    main()
