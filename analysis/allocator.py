"""What the memory allocator costs a training step on this machine: ``analysis/step_cost.py`` run
in a child process under glibc's malloc (the default) and under jemalloc told to keep the pages
it has, in one arena (``MALLOC_CONF=narenas:1,dirty_decay_ms:-1,muzzy_decay_ms:-1``).

    python analysis/allocator.py [--methods posewarper dcpose tdmi] [--steps 3] [--amp-dtype bf16]
                                 [--jemalloc /usr/lib/x86_64-linux-gnu/libjemalloc.so.2]
                                 [--out analysis/results/allocator.json]

Why: glibc serves every block above 32 MB with its own ``mmap`` and gives it back to the kernel when
it is freed, so each large activation is faulted in and zeroed again at every step; the system
time and faults below show what that costs on the machine at hand. jemalloc (Debian package ``libjemalloc2``, loaded with ``LD_PRELOAD``) with decay turned
off reuses those pages instead. The allocator changes where tensors live, not the arithmetic. With
one arena per thread (jemalloc's default) and no decay, a PoseWarper test job grew past the
machine's 24 GiB and was killed; in one arena the same job finished.

For each setting the child's median steps (from step_cost's JSON) are kept, with its user and
system CPU seconds, minor page faults and peak memory (``os.wait4``), which cover the child's whole life
(imports, data preparation and every step). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import git_state  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RETAIN = "narenas:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def run_child(args: argparse.Namespace, env_extra: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "step_cost.json"
        cmd = [sys.executable, str(ROOT / "analysis" / "step_cost.py"), "--methods", *args.methods,
               "--steps", str(args.steps), "--amp-dtype", args.amp_dtype, "--data", args.data, "--out", str(out)]
        child = subprocess.Popen(cmd, env={**os.environ, **env_extra}, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            raise SystemExit(f"step_cost.py failed under {env_extra or 'glibc'} (status {status})")
        rows = json.loads(out.read_text())["rows"]
    return {"env": env_extra, "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "minor_faults": usage.ru_minflt, "max_rss_gib": round(usage.ru_maxrss / 2**20, 2),
            "steps": {name: {"paper_step_s": r["paper_step_s"], "frozen_step_s": r["frozen_step_s"]}
                      for name, r in rows.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["posewarper", "dcpose", "tdmi"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--amp-dtype", choices=("fp32", "bf16"), default="bf16")
    ap.add_argument("--data", default="data/synthtrack/standard")
    ap.add_argument("--jemalloc", default=JEMALLOC, help="path of libjemalloc.so.2 (Debian: libjemalloc2)")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results" / "allocator.json"))
    args = ap.parse_args()
    if not Path(args.jemalloc).is_file():
        raise SystemExit(f"{args.jemalloc}: no such file; install jemalloc (Debian: libjemalloc2) or pass --jemalloc")
    settings = {"glibc": {}, "jemalloc_retain": {"LD_PRELOAD": args.jemalloc, "MALLOC_CONF": RETAIN}}
    results = {}
    for name, env_extra in settings.items():
        results[name] = run_child(args, env_extra)
        print(name, json.dumps(results[name]), flush=True)
    commit, dirty = git_state()
    speedup = {m: {k: round(results["glibc"]["steps"][m][k] / results["jemalloc_retain"]["steps"][m][k], 2)
                   for k in ("paper_step_s", "frozen_step_s")} for m in args.methods}
    out = {"command": "python analysis/allocator.py " + " ".join(sys.argv[1:]), "commit": commit,
           "tracked_files_modified": dirty, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "amp_dtype": args.amp_dtype, "settings": results,
           "step_speedup_glibc_over_jemalloc": speedup}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("speed-up per step (glibc / jemalloc):", json.dumps(speedup))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
