"""`ckpt-tui runs DIR`: a folder of checkpoints as one timeline (order, values, best, latest, resume parts)."""

from __future__ import annotations

import argparse

from ckpt_tui.errors import ExitCode, UnreadableError, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "runs",
        help="list a folder of checkpoints as one run: epochs, steps, metrics, best, latest",
        description="Read every checkpoint in DIR (structure and scalars only) and list them in training order, "
        "with the epoch, step and metrics each saved (and where each value came from), the best and the latest "
        "checkpoint and what each holds for resuming. Exit 0: listed; 2: not a folder / unreadable.",
    )
    p.add_argument("path", help="run folder")
    add_best_flags(p)
    p.add_argument("--json", action="store_true", help="print the run as JSON (schema ckpt-tui.runs/1, see README)")
    p.set_defaults(run=run)


def add_best_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", help="choose the best by this metric instead of the producer's own choice")
    p.add_argument("--mode", choices=("min", "max"), help="with --metric: lower or higher is better")


def read_run_arg(args: argparse.Namespace) -> object:
    from ckpt_tui.core.runs import read_run

    if args.mode and not args.metric:
        raise UsageError("--mode needs --metric")
    from ckpt_tui.formats import source

    if not source.isdir(args.path):
        raise UnreadableError("not a folder" if source.exists(args.path) else "no such folder", args.path)
    return read_run(args.path, args.metric, args.mode)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.commands._output import console, emit_json
    from ckpt_tui.render.runs import runs_json, runs_renderable

    report = read_run_arg(args)
    if args.json:
        emit_json(runs_json(report))  # type: ignore[arg-type]
    else:
        console().print(runs_renderable(report))  # type: ignore[arg-type]
    return ExitCode.OK
