"""The report of ``vidpose bench --report``: ``docs/results.md`` and its chart, generated from
bench.json alone, and the marked tables and cost blocks of the README and ``benchmarks/*.md``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vidpose.bench.archive import protocol_view, read_results_file
from vidpose.bench.methods import GROUPS, MAIN_METHODS, METHODS, PAPER_EPOCHS, POSETRACK17_MAP, RESULTS, ROOT, SPLITS


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def cost_summary(results: dict[str, Any]) -> dict[str, Any]:
    """What the table cost, from its rows: per (method, seed) run, its training minutes and the
    wall-clock minutes from its start to its last tested split (feature caching and testing
    included; older rows did not record it). Summed over stage 1 and stage 2."""
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for r in results["rows"]:
        run = runs.setdefault((r["method"], r["seed"]), {"stage": r.get("stage", 2), "train": 0.0, "wall": 0.0})
        run["train"] = max(run["train"], float(r.get("train_minutes") or 0.0))
        run["wall"] = max(run["wall"], float(r.get("wall_minutes") or 0.0))
    timed = [x for x in runs.values() if x["wall"] > 0]
    return {"runs": len(runs), "train_minutes": round(sum(x["train"] for x in runs.values()), 1),
            "stage1_train_minutes": round(sum(x["train"] for x in runs.values() if x["stage"] == 1), 1),
            "wall_timed_runs": len(timed), "wall_minutes": round(sum(x["wall"] for x in timed), 1),
            "train_minutes_of_timed_runs": round(sum(x["train"] for x in timed), 1)}


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per method: mean and std over seeds per split, the oracle, recovery, interval."""
    rows = results["rows"]
    by = {}
    for r in rows:
        by.setdefault(r["method"], {}).setdefault(r["split"], []).append(r)
    lines = []
    for name in [n for n in METHODS if n in by]:
        m = METHODS[name]
        base = m.init or name
        splits = by[name]
        line: dict[str, Any] = {"method": name, "stage": 1 if m.init is None else 2, "note": m.note,
                                "baseline": m.init, "seeds": len(splits.get("val_hard", []))}
        # a row trained under bf16 autocast says so in every table (rows without amp_dtype are float32)
        precisions = frozenset(e.get("amp_dtype", "fp32") for entries in splits.values() for e in entries)
        line["precision"] = {frozenset({"fp32"}): "", frozenset({"bf16"}): "bf16"}.get(precisions, "bf16 and fp32 seeds")
        line["label"] = f"{name} ({line['precision']})" if line["precision"] else name
        for split, entries in splits.items():
            mean, std = _stats([e["AP"]["Total"] for e in entries])
            line[split] = (round(mean, 2), round(std, 2))
            line[f"{split}_groups"] = {g: round(float(np.mean([e["AP"][g] for e in entries])), 2) for g in GROUPS}
        first = splits["val_hard"][0] if "val_hard" in splits else next(iter(splits.values()))[0]
        line.update({k: first[k] for k in ("params_m", "gflops", "steps", "backbone")})
        line["train_minutes"] = round(float(np.mean([e["train_minutes"] for e in splits.get("val_hard", [first])])), 1)
        if "val_hard" in splits and splits["val_hard"][0].get("AP_by_kind"):
            kinds = splits["val_hard"][0]["AP_by_kind"]
            line["by_kind"] = {k: round(float(np.mean([e["AP_by_kind"][k] for e in splits["val_hard"]])), 2)
                               for k in kinds}
        single = by.get(base, {})
        if "val_hard" in single and "val_hard_clean" in single and "val_hard" in line:
            s_hard = single["val_hard"][0]["AP"]["Total"]
            oracle = single["val_hard_clean"][0]["AP"]["Total"]
            line["single_val_hard"], line["oracle"] = s_hard, oracle
            gap = oracle - s_hard
            line["recovery"] = round(100 * (line["val_hard"][0] - s_hard) / gap, 1) if gap > 0 else None
        line["bootstrap"] = results.get("bootstrap", {}).get(name)
        line["reference"] = m.reference
        line["comparison"] = results.get("comparisons", {}).get(name)
        lines.append(line)
    hard = {ln["method"]: ln["val_hard"][0] for ln in lines if "val_hard" in ln}
    n_seeds = {ln["method"]: ln["seeds"] for ln in lines}
    for ln in lines:  # the paper's claim as a difference of means over all seeds: method - naive, full - ablation
        ref = ln["reference"]
        if ref in hard and ln["method"] in hard:
            a, b = (ln["method"], ref) if ln["method"] in MAIN_METHODS else (ref, ln["method"])
            ln["claim"] = {"a": a, "b": b, "delta": round(hard[a] - hard[b], 2), "a_seeds": n_seeds[a],
                           "b_seeds": n_seeds[b]}
    return lines


def realvideo_markdown(report: dict[str, Any], path: Path) -> list[str]:
    """The real-video section of docs/results.md, from ``benchmarks/realvideo.py``'s results."""
    try:  # links are relative to the repository
        path = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        pass
    rows = report["rows"]
    single = rows.get("blazepose", {})
    md = ["# Real video: the temporal heads on the frozen BlazePose backbone", "",
          f"Generated from [`{path.as_posix()}`](../{path.as_posix()}) (commit `{report['commit']}`"
          + (", tracked files modified" if report.get("tracked_files_modified") else "") + "). Command:", "",
          f"```bash\n{report['command']}\n```", "",
          f"RealData version {report['data_version']} (`vidpose realdata build`, vidpose/realdata/): held-out real "
          f"video (Sports2D, vtest.avi, a Pose2Sim camera of each trial), pseudo labels by {report.get('teacher')} on the "
          "clean frames. PCKh@0.5 (Total over the 15 PoseTrack joints) against the pseudo labels; every model runs on "
          f"the tracker's boxes (`window_boxes: {report['window_boxes']}`). `test`: clean, every frame; `test_hard`: "
          "every third frame degraded, neighbours clean; the oracle is the single-frame model on the clean twins; "
          "recovery = (model − single frame) / (oracle − single frame) on `test_hard`. Fast joints: on `test`, joints "
          f"moving at least {report['fast_speed_head_sizes_per_frame']} head sizes per frame (very fast: "
          f"{report.get('very_fast_speed_head_sizes_per_frame', '-')}). Fixtures: the real "
          "PoseTrack18 frames of `../shared` with GT boxes (one frame per video: the window is the frame repeated).",
          "", "| model | test | test_hard | clean twins | gain | recovery | fast joints (test) | very fast | "
          "test_hard AP | fixtures | head params (M) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    val = lambda r, split, key="PCKh": r.get(split, {}).get(key, {}).get("Total", "-")  # noqa: E731
    for name, r in rows.items():
        fast = r.get("test", {}).get("PCKh_fast_joints", {}).get("Total", "-")
        very = r.get("test", {}).get("PCKh_very_fast_joints", {}).get("Total", "-")
        fix = (r.get("fixtures") or {}).get("PCKh", {}).get("Total", "-")
        gain = r.get("gain_over_single_PCKh")
        rec = r.get("recovery_PCKh")
        md.append(f"| {name} | {val(r, 'test')} | {val(r, 'test_hard')} | {val(r, 'test_hard_clean')} | "
                  f"{'-' if gain is None or name == 'blazepose' else f'{gain:+.1f}'} | "
                  f"{'-' if rec is None or name == 'blazepose' else f'{rec:.0f}%'} | {fast} | {very} | "
                  f"{val(r, 'test_hard', 'AP')} | {fix} | {r.get('trainable_params_m', '-')} |")
    kinds = sorted({k for r in rows.values() for k in r.get("test_hard", {}).get("PCKh_by_kind", {})})
    if kinds:
        md += ["", "## test_hard by degradation kind (PCKh Total)", "", "| model | " + " | ".join(kinds) + " |",
               "|---|" + "---:|" * len(kinds)]
        for name, r in rows.items():
            by = r.get("test_hard", {}).get("PCKh_by_kind", {})
            md.append(f"| {name} | " + " | ".join(str(by.get(k, {}).get("Total", "-")) for k in kinds) + " |")
    groups = [g for g in GROUPS if g != "Total"]
    if single:
        md += ["", "## test_hard per joint group (PCKh)", "", "| model | " + " | ".join(groups) + " | Total |",
               "|---|" + "---:|" * (len(groups) + 1)]
        for name, r in rows.items():
            pk = r.get("test_hard", {}).get("PCKh", {})
            md.append(f"| {name} | " + " | ".join(str(pk.get(g, "-")) for g in groups + ["Total"]) + " |")
        for split, key, title in (("test", "PCKh", "test (clean) per joint group (PCKh)"),
                                  ("test", "PCKh_fast_joints", "fast joints of test per joint group (PCKh)")):
            md += ["", f"## {title}", "", "| model | " + " | ".join(groups) + " | Total |",
                   "|---|" + "---:|" * (len(groups) + 1)]
            for name, r in rows.items():
                pk = r.get(split, {}).get(key, {})
                md.append(f"| {name} | " + " | ".join(str(pk.get(g, "-")) for g in groups + ["Total"]) + " |")
    md += ["", "The reading of these numbers is in [benchmarks/realvideo.md](../benchmarks/realvideo.md)."]
    return md


def _mean_std(ms: tuple[float, float]) -> str:
    """``mean ± std`` over seeds, or the mean alone for one seed."""
    return f"{ms[0]:.1f} ± {ms[1]:.1f}" if ms[1] else f"{ms[0]:.1f}"


def _recovery_text(line: dict[str, Any]) -> str:
    """A stage-2 row's recovery of the gap to the oracle, in percent."""
    return f"{line['recovery']:.0f}%" if line.get("recovery") is not None and line["stage"] == 2 else "-"


def _delta_text(line: dict[str, Any]) -> str:
    """Δ val_hard (mean over seeds) and its bootstrap interval, naming the seeds the interval used
    where they are not all of the row's (predictions of earlier sessions' runs may be gone)."""
    if line["stage"] != 2 or "single_val_hard" not in line or "val_hard" not in line:
        return "-"
    text = f"{line['val_hard'][0] - line['single_val_hard']:+.1f}"
    b = line.get("bootstrap")
    if not b:
        return text + " [not measured]"
    text += f" [{b['ci_low']:+.1f}, {b['ci_high']:+.1f}]"
    if len(b.get("seeds", [])) != line["seeds"]:
        text += " (interval: seed " + ", ".join(map(str, b["seeds"])) + f", Δ {b['delta']:+.1f})"
    return text


def _comparison_text(line: dict[str, Any]) -> str:
    """The paired comparison a paper claims is positive (method − naive baseline, full method −
    ablation) on val_hard: the difference of the means over all seeds, and its bootstrap interval
    over the seeds whose predictions survive (named where they are not all)."""
    ref = line.get("reference")
    if ref is None:
        return "-"
    claim = line.get("claim")
    if claim is None:
        return f"{ref} not measured"
    text = f"{claim['a']} − {claim['b']}: {claim['delta']:+.1f}"
    c = line.get("comparison")
    if not c:
        return text + " [interval not measured: predictions gone]"
    text += f" [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]"
    if (len(c["seeds"]), len(c["b_seeds"])) != (claim["a_seeds"], claim["b_seeds"]):  # fewer seeds than the means
        text += f" (interval over seeds {_seeds(c['seeds'])} vs {_seeds(c['b_seeds'])}: {c['delta']:+.1f})"
    return text


def _seeds(seeds: list[int]) -> str:
    return ",".join(map(str, seeds))


TABLE_BEGIN = "<!-- bench-table:"


TABLE_END = "<!-- /bench-table -->"


COST_BEGIN = "<!-- bench-cost:"


COST_END = "<!-- /bench-cost -->"


TABLE_DOCS = ("README.md", "benchmarks/baselines.md", "benchmarks/tdmi.md", "benchmarks/sdtc.md",
              "benchmarks/jmpose.md", "benchmarks/glpose.md", "benchmarks/predecessors.md")


def bench_table(lines: list[dict[str, Any]], methods: list[str], source: str) -> list[str]:
    """A short table of ``methods`` (in that order) from ``summarise``'s lines, for the docs that
    discuss them; a method not measured yet says so."""
    by = {ln["method"]: ln for ln in lines}
    md = [f"Generated by `vidpose bench --report` from `{source}`; AP Total, mean ± std over seeds.", "",
          "| row | seeds | val | val_hard | clean twins | Δ val_hard [95% CI] | recovery | "
          "paper's claim, paired [95% CI] |",
          "|---|---:|---:|---:|---:|---|---:|---|"]
    for name in methods:
        ln = by.get(name)
        if ln is None:
            md.append(f"| {name} | 0 | not measured yet | | | | | |")
            continue
        md.append(f"| {ln['label']}{' (stage 1)' if ln['stage'] == 1 else ''} | {ln['seeds']} | "
                  + " | ".join(_mean_std(ln[s]) if s in ln else "-" for s in SPLITS)
                  + f" | {_delta_text(ln)} | {_recovery_text(ln)} | {_comparison_text(ln)} |")
    return md


def _replace_blocks(text: str, begin: str, end: str, render, doc: Path) -> str:
    """Every ``begin spec -->`` ... ``end`` block of ``text`` regenerated as ``render(spec)``."""
    out, rest = [], text
    while begin in rest:
        head, _, tail = rest.partition(begin)
        spec, _, tail = tail.partition("-->")
        if end not in tail:
            raise ValueError(f"{doc}: '{begin}{spec}-->' has no closing '{end}'")
        _, _, rest = tail.partition(end)
        out.append(head + begin + spec + "-->\n" + render(spec) + "\n" + end)
    return "".join(out) + rest


def update_bench_tables(lines: list[dict[str, Any]], docs: list[str | Path], source: str,
                        cost: str | None = None) -> list[Path]:
    """Regenerate every block ``<!-- bench-table: m1 m2 ... -->`` ... ``<!-- /bench-table -->`` of
    ``docs`` with ``bench_table`` of the methods it names, so that no doc keeps an older table,
    and every ``<!-- bench-cost: -->`` ... ``<!-- /bench-cost -->`` block with ``cost``."""
    changed = []
    for doc in map(Path, docs):
        if not doc.is_file():
            continue
        text = doc.read_text()
        new = _replace_blocks(text, TABLE_BEGIN, TABLE_END,
                              lambda spec: "\n".join(bench_table(lines, spec.split(), source)), doc)
        if cost is not None:
            new = _replace_blocks(new, COST_BEGIN, COST_END, lambda spec: cost, doc)
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed


def yes(ok: bool) -> str:
    """A verdict cell of the report: yes, or a bold no."""
    return "yes" if ok else "**no**"


def claim_cells(method: str, claim: dict[str, Any], comparison: dict[str, Any] | None) -> tuple[str, str]:
    """The claims table's claim and verdict for a row's paired comparison: a paper's claim
    ``a − b > 0`` and whether its interval lies above 0, or, for a diagnostic row, the same
    difference marked as no paper's claim and where its interval lies."""
    c = comparison
    if method in METHODS and METHODS[method].diagnosis:
        where = "-" if c is None else "above 0" if c["ci_low"] > 0 else "below 0" if c["ci_high"] < 0 else "includes 0"
        return f"{claim['a']} − {claim['b']} (a diagnosis: no paper claims its sign)", where
    return f"{claim['a']} − {claim['b']} > 0", "-" if c is None else yes(c["ci_low"] > 0)


def cost_text(cost: dict[str, Any]) -> str:
    """``cost_summary`` as a paragraph (docs/results.md and the README's cost block)."""
    return (f"Training, summed over the {cost['runs']} (method, seed) runs of the table: {cost['train_minutes']:.0f} "
            f"minutes ({cost['train_minutes'] / 60:.1f} h), of which the stage-1 backbones "
            f"{cost['stage1_train_minutes']:.0f}. Wall clock, recorded for {cost['wall_timed_runs']} of the runs (from a "
            f"run's start to its last tested split, so with its feature caching and testing): "
            f"{cost['wall_minutes']:.0f} minutes ({cost['wall_minutes'] / 60:.1f} h), for "
            f"{cost['train_minutes_of_timed_runs']:.0f} minutes of their training. The rows were measured in pieces, "
            "over several sessions on the machine that ran them, at times beside other work; `make bench` has not "
            "been timed in one go.")


def write_report(results_path: str | Path = RESULTS, doc: str | Path = "docs/results.md",
                 chart: str | Path = "docs/images/bench_chart.png",
                 realvideo: str | Path = "benchmarks/results/realvideo.json",
                 table_docs: tuple[str | Path, ...] = TABLE_DOCS) -> Path:
    """``docs/results.md`` and its chart from ``bench.json`` (and the real-video section from
    ``benchmarks/results/realvideo.json`` where it exists), and the marked tables of
    ``table_docs`` (relative to the repository, or absolute): ``vidpose bench --report``."""
    from vidpose.synth.dataset import VERSION as SYNTH_VERSION

    everything = read_results_file(results_path)
    results = protocol_view(everything, "frozen")
    paper = everything.get("protocols", {}).get("paper", {})
    # a file of paper rows only (a check kept apart) has no frozen header: take the paper run's
    header = {k: results.get(k, paper.get(k, "-")) for k in ("commit", "command", "preset", "steps")}

    def link(target: str | Path) -> str:  # a path as the doc links it, wherever the doc is written
        return Path(os.path.relpath(Path(target).resolve(), Path(doc).resolve().parent)).as_posix()

    lines = summarise(results)
    steps2 = sorted({r["steps"] for r in results["rows"] if r.get("stage") == 2})
    stage2_steps = "/".join(map(str, steps2)) or "-"
    md = ["# Results: what temporal context buys on SynthTrack", "",
          "Generated by `vidpose bench --report` from "
          f"[`{Path(results_path).as_posix()}`]({link(results_path)}) (commit `{header['commit']}`), "
          "which `make bench` writes. Command:", "", f"```bash\n{header['command']}\n```", "",
          f"SynthTrack `{header['preset']}` (version {SYNTH_VERSION}, [synthtrack.md]({link(ROOT / 'docs' / 'synthtrack.md')})). "
          "Stage 1: the single-frame "
          "backbones, committed under `vidpose/weights/backbones/`. Stage 2: every temporal method and the naive baseline "
          f"load their stage-1 backbone, keep it frozen and train their own modules for the same "
          f"{stage2_steps} steps (their configs' 3 epochs over the cached passes; `--steps` "
          f"{header['steps']} is the cap) from cached backbone features ({results.get('feature_cache_copies')} "
          "augmentation passes); all are tested with the same GT boxes, flip test and DARK decoding. AP Total "
          "(PoseTrack18 semantics), mean ± std over seeds. `val_hard`: every labeled key frame degraded, its ±2 "
          "neighbours clean; `oracle`: the single-frame backbone on the clean twins of the same key frames; "
          "recovery = (method − single frame) / (oracle − single frame) on `val_hard`. Δ: method − its single-frame "
          "backbone on `val_hard`, with a paired bootstrap 95% interval resampling videos.", "",
          "| method | backbone | seeds | val | val_hard | clean twins | oracle | Δ val_hard [95% CI] | recovery | "
          "params (M) | GFLOPs | train min | steps |",
          "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for ln in lines:
        delta = _delta_text(ln)
        md.append(f"| {ln['label']} | {ln['backbone']} | {ln['seeds']} | {_mean_std(ln['val']) if 'val' in ln else '-'} | "
                  f"{_mean_std(ln['val_hard']) if 'val_hard' in ln else '-'} | "
                  f"{_mean_std(ln['val_hard_clean']) if 'val_hard_clean' in ln else '-'} | "
                  f"{ln.get('oracle', '-')} | {delta} | {_recovery_text(ln)} | {ln['params_m']:.2f} | {ln['gflops']:.3f} | "
                  f"{ln['train_minutes']} | {ln['steps']} |")
    if any(ln["precision"] for ln in lines):
        md += ["", "A row marked (bf16) trained its own modules under bfloat16 autocast (`vidpose bench --amp-dtype "
               "bf16`, the row's `amp_dtype`); the others in float32."]
    md += breakdown_markdown(lines) + expectations_markdown(lines) + claims_markdown(lines)
    md += protocols_markdown(everything) + ordering_markdown(everything)
    cost = cost_text(cost_summary(results))
    md += ["", "## What it cost", "", cost]
    md += ["", f"![val_hard AP per method]({link(chart)})", "",
           f"The reading of these numbers, per method, is in [benchmarks/]({link(ROOT / 'benchmarks')}/)."]
    if Path(realvideo).is_file():
        md += ["", *realvideo_markdown(read_results_file(realvideo), Path(realvideo))]
    Path(doc).write_text("\n".join(md) + "\n")
    draw_chart(lines, Path(chart))
    update_bench_tables(lines, [ROOT / d for d in table_docs], Path(results_path).as_posix(), cost)
    return Path(doc)


def breakdown_markdown(lines: list[dict[str, Any]]) -> list[str]:
    """val_hard by degradation kind and per joint group."""
    md: list[str] = []
    kinds = sorted({k for ln in lines for k in ln.get("by_kind", {})})
    if kinds:
        md += ["", "## val_hard by degradation kind (AP Total, mean over seeds)", "",
               "| method | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for ln in lines:
            if "by_kind" in ln:
                md.append(f"| {ln['method']} | " + " | ".join(f"{ln['by_kind'].get(k, float('nan')):.1f}" for k in kinds)
                          + " |")
    md += ["", "## val_hard per joint group (mean over seeds)", "", "| method | " + " | ".join(GROUPS) + " |",
           "|---|" + "---:|" * len(GROUPS)]
    for ln in lines:
        if "val_hard_groups" in ln:
            md.append(f"| {ln['method']} | " + " | ".join(f"{ln['val_hard_groups'][g]:.1f}" for g in GROUPS) + " |")
    return md


def expectations_markdown(lines: list[dict[str, Any]]) -> list[str]:
    """The papers' expectations (gain, interval, naive + 1, recovery, val) as yes/no per method."""
    md: list[str] = []
    md += ["", "## The papers' expectations, checked", "",
           "Each method as published should gain at least 5 AP over its single-frame backbone on `val_hard` with "
           "an interval excluding 0, be at least 1 AP above the naive baseline, recover at least 40% of the gap to "
           "the oracle, and not fall below the single-frame model on `val` beyond the noise.", "",
           "| method | Δ ≥ 5 | CI excludes 0 | ≥ naive + 1 | recovery ≥ 40% | val ≥ single − 1 |",
           "|---|---|---|---|---|---|"]
    naive = {ln["method"]: ln for ln in lines}.get("naive_temporal")
    for ln in lines:
        if ln["method"] not in MAIN_METHODS or ln["method"] == "naive_temporal" or "val_hard" not in ln:
            continue
        b = ln.get("bootstrap") or {}
        base = {x["method"]: x for x in lines}.get(ln["baseline"], {})
        ci = yes(b["ci_low"] > 0) if b else "not measured"
        gain = ln["val_hard"][0] - ln["single_val_hard"] if "single_val_hard" in ln else -1e9
        md.append(f"| {ln['method']} | {yes(gain >= 5)} | {ci} | "
                  f"{yes(naive is not None and ln['val_hard'][0] >= naive['val_hard'][0] + 1)} | "
                  f"{yes((ln.get('recovery') or -1e9) >= 40)} | "
                  f"{yes('val' in base and ln['val'][0] >= base['val'][0] - 1)} |")
    return md


def claims_markdown(lines: list[dict[str, Any]]) -> list[str]:
    """Each paired claim (method against its ablation or the naive baseline) with its interval."""
    md: list[str] = []
    claims = [ln for ln in lines if ln.get("reference")]
    if claims:
        md += ["", "## The papers' claims, paired", "",
               "Each published method should beat the naive baseline on its backbone, and each of its components "
               "should help (full method − ablation > 0); a diagnostic row, in no paper's table, shows its difference "
               "with no sign expected, and its last column says where the interval lies. Δ: the difference of the `val_hard` means over all seeds "
               "(and, where the interval has fewer and that moves it, the difference over its seeds); "
               "the interval: a paired bootstrap over videos (`--resamples`, default 1000) of the seeds whose predictions "
               "are kept (in `runs/` or archived beside the results file), "
               "averaging each side's seeds per draw.", "",
               "| row | claim | Δ val_hard | 95% CI | seeds in the interval | interval above 0 |",
               "|---|---|---:|---|---|---|"]
        for ln in claims:
            claim, c = ln.get("claim"), ln.get("comparison")
            if claim is None:
                md.append(f"| {ln['method']} | - | {ln['reference']} not measured | | | |")
                continue
            ci = f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]" if c else "not measured (predictions gone)"
            used = f"{_seeds(c['seeds'])} vs {_seeds(c['b_seeds'])}" if c else "-"
            text, verdict = claim_cells(ln["method"], claim, c)
            delta = f"{claim['delta']:+.1f}"
            fewer = c and (len(c["seeds"]), len(c["b_seeds"])) != (claim["a_seeds"], claim["b_seeds"])
            if fewer and f"{c['delta']:+.1f}" != delta:  # the interval's centre, over fewer seeds than the means
                delta += f" (its seeds: {c['delta']:+.1f})"
            md.append(f"| {ln['method']} | {text} | {delta} | {ci} | {used} | {verdict} |")
    return md


def protocols_markdown(results: dict[str, Any]) -> list[str]:
    """The two protocols side by side (every stage-2 row measured under ``paper``, beside its
    ``frozen`` numbers and the paired intervals of each), or nothing before any ``paper`` row."""
    paper = protocol_view(results, "paper")
    paper_lines = [ln for ln in summarise(paper) if ln["stage"] == 2]
    if not paper_lines:
        return []
    frozen = {ln["method"]: ln for ln in summarise(protocol_view(results, "frozen"))}
    epochs = paper.get("epochs", PAPER_EPOCHS)
    bf16 = any(ln["precision"] for ln in [*paper_lines, *frozen.values()])

    def cell(ln: dict[str, Any] | None, split: str) -> str:
        # each protocol's numbers carry their own precision: a row may train in bf16 under one only
        if not ln or split not in ln:
            return "-"
        return _mean_std(ln[split]) + (f" ({ln['precision']})" if ln["precision"] else "")

    def versus(ln: dict[str, Any] | None) -> str:
        return _comparison_text(ln) if ln and ln.get("comparison") else "-"

    md = ["", "## The two protocols", "",
          f"`frozen`: the table above. `paper`: the backbone starts from the same stage-1 weights and is fine-tuned "
          f"with the method, with its paper's optimiser and step decays (`PAPER_RECIPES` in `vidpose/bench/methods.py`) "
          f"compressed to {epochs} SynthTrack epochs, the decays at the same fractions of training; no feature cache "
          "(the backbone changes). Rows of each protocol are paired only with rows of the same protocol."
          + (" A number marked (bf16) comes from a row trained under bfloat16 autocast (`vidpose bench --amp-dtype "
             "bf16`); the others in float32." if bf16 else ""), "",
          "| row | seeds (frozen / paper) | val frozen | val paper | val_hard frozen | val_hard paper | "
          "vs reference, frozen | vs reference, paper |", "|---|---|---:|---:|---:|---:|---|---|"]
    for ln in paper_lines:
        f = frozen.get(ln["method"])
        md.append(f"| {ln['method']} | {f['seeds'] if f else 0} / {ln['seeds']} | {cell(f, 'val')} | {cell(ln, 'val')} | "
                  f"{cell(f, 'val_hard')} | {cell(ln, 'val_hard')} | {versus(f)} | {versus(ln)} |")
    curves = [(r["method"], r["seed"], r["val_curve"]) for r in paper["rows"]
              if r.get("stage") == 2 and r["split"] == "val" and r.get("val_curve")]
    if curves:
        md += ["", "Whether a `paper` run levelled off: its `val` AP after each epoch (`val_curve` in the row)."]
        md += [""] + [f"- {name} seed {seed}: " + ", ".join(f"{c['AP']:.1f}" for c in curve) for name, seed, curve in curves]
    return md


def ordering_markdown(results: dict[str, Any]) -> list[str]:
    """The papers' table reproduced: the seed methods and their predecessors in the order of their
    PoseTrack2017 mAP (``POSETRACK17_MAP``), beside our val_hard AP under each protocol, and every
    pair whose order ours reverses (a reversal counts where the two means differ by more than the
    larger of their seed std)."""
    views = {p: {ln["method"]: ln for ln in summarise(protocol_view(results, p))} for p in ("frozen", "paper")}

    def cell(ln: dict[str, Any] | None) -> str:
        if not ln or "val_hard" not in ln:
            return "not measured"
        return f"{_mean_std(ln['val_hard'])} ({ln['seeds']}{', ' + ln['precision'] if ln['precision'] else ''})"

    md = ["", "## The papers' ordering, reproduced?", "",
          "Every seed paper ranks its method above PoseWarper, DCPose and FAMI-Pose on PoseTrack2017 val (HRNet-W48). "
          "Here: `val_hard` AP on SynthTrack (mean ± std, seeds in brackets) under each protocol, the papers' order "
          "top to bottom. The naive baseline, which no paper lists, is the last row. SDTC runs on the tiny ViT, whose "
          "single frame is far below the HRNet's, so its place says as much about that backbone as about SDTC.", "",
          "| method | PoseTrack17 val mAP (theirs) | source | val_hard, frozen | val_hard, paper |",
          "|---|---:|---|---:|---:|"]
    for name, (published, source) in POSETRACK17_MAP.items():
        md.append(f"| {name} | {published if published is not None else '-'} | {source} | "
                  f"{cell(views['frozen'].get(name))} | {cell(views['paper'].get(name))} |")
    md.append(f"| naive_temporal | - | - | {cell(views['frozen'].get('naive_temporal'))} | "
              f"{cell(views['paper'].get('naive_temporal'))} |")
    ranked = [n for n, (v, _) in POSETRACK17_MAP.items() if v is not None]
    for protocol, view in views.items():
        measured = [n for n in ranked if n in view and "val_hard" in view[n]]
        reversed_pairs, kept = [], 0
        for i, low in enumerate(measured):
            for high in measured[i + 1:]:
                (a, sa), (b, sb) = view[low]["val_hard"], view[high]["val_hard"]
                if a - b > max(sa, sb):
                    reversed_pairs.append(f"{low} {a:.1f} > {high} {b:.1f}")
                else:
                    kept += 1
        if len(measured) < 2:
            md += ["", f"Under `{protocol}`: fewer than two of the ranked methods are measured yet."]
            continue
        missing = [n for n in ranked if n not in measured]
        pairs = kept + len(reversed_pairs)
        md += ["", f"Under `{protocol}`: of the {pairs} pair{'s' if pairs != 1 else ''} of measured methods, "
               f"{kept} keep{'s' if kept == 1 else ''} the papers' order (or tie{'s' if kept == 1 else ''} within a "
               f"seed std) and {len(reversed_pairs)} reverse{'s' if len(reversed_pairs) == 1 else ''} it"
               + (": " + "; ".join(reversed_pairs) if reversed_pairs else "") + "."
               + (f" Not measured yet: {', '.join(missing)}." if missing else "")]
    return md


def draw_chart(lines: list[dict[str, Any]], path: Path) -> None:
    """val_hard AP per method (mean, a bar of +-1 std), with the single-frame and oracle levels
    of the HRNet backbone as lines (OpenCV, no plotting library)."""
    import cv2

    shown = [ln for ln in lines if "val_hard" in ln]
    bar, gap, left, top, height = 26, 16, 60, 50, 360
    width = left + len(shown) * (bar + gap) + 40
    img = np.full((top + height + 170, max(width, 520), 3), 255, np.uint8)
    cv2.putText(img, "val_hard AP Total (mean +- std over seeds)", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    base = top + height
    y_of = lambda v: base - int(height * v / 100)  # noqa: E731
    for tick in range(0, 101, 20):
        cv2.line(img, (left - 5, y_of(tick)), (img.shape[1] - 20, y_of(tick)), (225, 225, 225), 1)
        cv2.putText(img, str(tick), (left - 35, y_of(tick) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    hr = {ln["method"]: ln for ln in lines}.get("single_frame")
    if hr and "oracle" in hr:
        for value, colour, label in ((hr["single_val_hard"], (60, 60, 220), "single frame"),
                                     (hr["oracle"], (40, 160, 40), "oracle (clean twins)")):
            cv2.line(img, (left, y_of(value)), (img.shape[1] - 20, y_of(value)), colour, 1)
            cv2.putText(img, label, (img.shape[1] - 190, y_of(value) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    for i, ln in enumerate(shown):
        x = left + i * (bar + gap)
        mean, std = ln["val_hard"]
        colour = (160, 160, 160) if ln["stage"] == 1 else (200, 130, 50)
        cv2.rectangle(img, (x, y_of(mean)), (x + bar, base), colour, -1)
        if std:
            cv2.line(img, (x + bar // 2, y_of(mean + std)), (x + bar // 2, y_of(mean - std)), (0, 0, 0), 1)
        label_img = np.full((20, 160, 3), 255, np.uint8)
        cv2.putText(label_img, ln["method"], (0, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
        rotated = cv2.rotate(label_img, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = base + 5
        img[y0:y0 + rotated.shape[0], x + bar // 2 - 10:x + bar // 2 + 10] = np.minimum(
            img[y0:y0 + rotated.shape[0], x + bar // 2 - 10:x + bar // 2 + 10], rotated)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
