"""Memory of rendering a long video (issue 41, case 14): ``render_video`` on generated 1280x720
frames, traced Python memory and the process's peak RSS.

    python benchmarks/render_memory.py [--frames 200] [--out benchmarks/results/render_memory.json]

The frames are generated on read (a ``FrameSource`` holding none), so whatever memory grows with
the number of frames is the renderer's. ``all_frames_mib`` is what holding every frame would take.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import git_state  # noqa: E402
from vidpose.data.frames import FrameSource  # noqa: E402
from vidpose.engine.video import predictions_video, render_video  # noqa: E402


class Generated(FrameSource):
    """``n`` 1280x720 frames made on read: a bright band moving right."""

    path = Path("generated")

    def __init__(self, n: int):
        super().__init__(cache_size=0)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def _read(self, i: int) -> np.ndarray:
        image = np.zeros((720, 1280, 3), np.uint8)
        image[:, (i * 6) % 1280:] = 200
        return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "render_memory.json")
    args = parser.parse_args(argv)
    n = args.frames
    video = predictions_video("generated", [[] for _ in range(n)], n)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        tracemalloc.start()
        began = time.perf_counter()
        render_video(Path(tmp) / "render.mp4", Generated(n), video)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    commit, dirty = git_state(ROOT)
    result = {"command": "python benchmarks/render_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "commit": commit, "tracked_files_modified": dirty, "frames": n, "size": [1280, 720],
              "all_frames_mib": round(n * 720 * 1280 * 3 / 2 ** 20, 1),
              "traced_peak_mib": round(peak / 2 ** 20, 1), "max_rss_mib_before_render": round(rss_before),
              "max_rss_mib_after_render": round(rss_after), "seconds": round(seconds, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
