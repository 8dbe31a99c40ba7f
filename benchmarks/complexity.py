"""Parameters and GFLOPs (multiply-accumulates) of the shipped configs, one clip each.

    python benchmarks/complexity.py [CONFIG ...] [--out benchmarks/results/complexity.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidpose.engine.complexity import count_gflops, count_method_params, count_params
from vidpose.engine.config import load_config
from vidpose.models.registry import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=sorted(str(p) for p in Path("vidpose/configs").glob("**/*.yaml")))
    parser.add_argument("--out", default="benchmarks/results/complexity.json")
    args = parser.parse_args()
    rows = []
    for path in args.configs:
        cfg = load_config(path)
        size = tuple(cfg["data"]["input_size"])
        model = build_model(cfg["model"], input_size=size)
        frames = 1 + len(cfg["data"].get("offsets", []))
        rows.append({"config": path, "input_size": list(size), "frames": frames,
                     "params_m": round(count_params(model), 2),
                     "method_params_m": round(count_method_params(model), 2), "gflops": round(count_gflops(model, frames, size), 3)})
        print(f"{path:<50} {rows[-1]['params_m']:8.2f} M (outside the backbone {rows[-1]['method_params_m']:6.2f} M)"
              f"  {rows[-1]['gflops']:9.3f} GFLOPs  ({frames} frames)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
