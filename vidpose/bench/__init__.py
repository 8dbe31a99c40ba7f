"""``vidpose bench``: the whole comparison on SynthTrack, end to end, resumable.

    vidpose bench [--preset standard] [--methods single_frame tdmi ...] [--seeds 0 1 2]
                  [--protocol frozen|paper] [--report]

1. The data is generated if missing (``data/synthtrack/<preset>``).
2. Stage 1: the committed single-frame backbones (``vidpose/weights/backbones``), or trained again.
3. Stage 2: every temporal method starts from its stage-1 backbone. Under ``frozen`` the backbone
   stays frozen and the method's own modules train for the same step budget from cached features;
   under ``paper`` the backbone is fine-tuned with the method, with its paper's optimiser and
   decays (``PAPER_RECIPES``).
4. Everything is tested on val, val_hard and its clean twins with the same (GT) boxes; every
   (method, seed, split) row goes to ``benchmarks/results/bench.json`` as it is measured, with
   paired bootstrap intervals.
5. ``--report`` writes ``docs/results.md``, its chart and the marked tables of the docs.

Runs live in ``runs/bench/<preset>/<method>`` (``paper`` rows under ``paper/``). A method whose
``model.pt`` exists is reused (if its stored config equals the one asked for; otherwise the command
stops and says so); one with only ``last.pt`` resumes exactly; test results are reused when newer
than the checkpoint. So an interrupted bench continues where it stopped when rerun. Long runs go
from a ``git worktree`` pinned at one commit; ``vidpose bench --merge WORKTREE/benchmarks/results/bench.json
--methods NAME ... [--protocol paper]`` then takes their rows, archived predictions and intervals.

The package: ``methods`` (the rows, the protocols, a row's config), ``archive`` (the results file
and the archived predictions), ``runner`` (training, testing, intervals) and ``report``.
"""

from vidpose.bench.archive import (ArchivedRuns, ResultsFileError, archive_path, archive_predictions,
                                   load_archived_predictions, load_results, merge_protocol, protocol_view, put_row,
                                   read_results_file, row_protocol, save_results)
from vidpose.bench.methods import (AMP_DTYPES, BACKBONES, DEFAULT_METHODS, FULL_COMMAND, GROUPS, MAIN_METHODS,
                                   METHODS, PAPER_EPOCHS, PAPER_RECIPES, PROTOCOLS, RESULTS, SPLITS, BenchMethod,
                                   PaperRecipe, method_config, order_methods, stage1_weights)
from vidpose.bench.report import (bench_table, claim_cells, cost_summary, cost_text, realvideo_markdown, summarise,
                                  update_bench_tables, write_report)
from vidpose.bench.runner import (bootstrap_all, export_backbones, git_state, learning_curve, merge_results,
                                  probe_runs, run_bench)

__all__ = [
    "AMP_DTYPES", "ArchivedRuns", "BACKBONES", "BenchMethod", "DEFAULT_METHODS", "FULL_COMMAND", "GROUPS",
    "MAIN_METHODS", "METHODS", "ResultsFileError",
    "PAPER_EPOCHS", "PAPER_RECIPES", "PROTOCOLS", "PaperRecipe", "RESULTS", "SPLITS", "archive_path",
    "archive_predictions", "bench_table", "bootstrap_all", "claim_cells", "cost_summary", "cost_text",
    "export_backbones", "git_state", "learning_curve", "load_archived_predictions", "load_results", "merge_protocol",
    "merge_results",
    "method_config", "order_methods", "probe_runs", "protocol_view", "put_row", "read_results_file",
    "realvideo_markdown", "row_protocol",
    "run_bench",
    "save_results", "stage1_weights", "summarise", "update_bench_tables", "write_report",
]
