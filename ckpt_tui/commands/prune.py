"""`ckpt-tui prune DIR --keep-last N`: what to delete from a run folder; deletes only with --yes."""

from __future__ import annotations

import argparse

from ckpt_tui.commands.runs import add_best_flags, read_run_arg
from ckpt_tui.errors import ExitCode, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "prune",
        help="list (and with --yes delete) the checkpoints of a run that its rules do not keep",
        description="Plan which checkpoints of the run in DIR can go and the space freed; delete only with --yes. "
        "Never deleted: the best, the latest and every symlink target (and the links), the newest complete "
        "checkpoint, the last N, anything being written, not a checkpoint, a symlink or outside DIR. "
        "Exit 0: planned (or all deleted); 1: some planned deletions were not done (read-only, changed while "
        "pruning), the rest were; 2: bad input.",
    )
    p.add_argument("path", help="run folder")
    p.add_argument("--keep-last", type=int, required=True, metavar="N", help="keep the last N in training order")
    p.add_argument(
        "--keep-best",
        action="store_true",
        help="also keep every checkpoint the producer kept as a best (best*, Lightning top-k, Trainer's best)",
    )
    add_best_flags(p)
    p.add_argument("--yes", action="store_true", help="delete what the plan lists (without it, nothing is deleted)")
    p.add_argument("--json", action="store_true", help="print the plan and result as JSON (schema ckpt-tui.prune/1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.commands._output import console, emit_json
    from ckpt_tui.converters.prune import apply_prune, plan_prune
    from ckpt_tui.render.prune import prune_json, prune_renderable

    if args.keep_last < 1:
        raise UsageError("--keep-last must be at least 1 (the newest checkpoint is never deleted)")
    report = read_run_arg(args)
    plan = plan_prune(report, args.keep_last, args.keep_best)  # type: ignore[arg-type]
    result = apply_prune(plan) if args.yes else None
    if args.json:
        emit_json(prune_json(plan, result))
    else:
        console().print(prune_renderable(plan, result))
    return ExitCode.FAILED if result is not None and result.failed else ExitCode.OK
