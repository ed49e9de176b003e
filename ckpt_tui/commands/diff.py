"""`ckpt-tui diff A B`: tensor-by-tensor comparison. Exit 0 identical (within tolerance), 1 different, 2 error."""

from __future__ import annotations

import argparse
import sys

from ckpt_tui.commands._common import add_key_rules, add_unsafe, key_rules, open_checkpoint
from ckpt_tui.commands._output import console, emit_json
from ckpt_tui.errors import ExitCode, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="compare two checkpoints tensor by tensor (exit 0 same, 1 different)",
        description="Compare two checkpoints tensor by tensor, across formats, with tolerances. "
        "Exit code 0: no differences (within tolerance); 1: differences; 2: error.",
    )
    p.add_argument("a", help="first checkpoint")
    p.add_argument("b", help="second checkpoint")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance, as in torch.testing.assert_close")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default: exact)")
    p.add_argument("--key", help="compare the state dict at this key path on both sides (e.g. model_state_dict)")
    p.add_argument("--key-a", help="key path of the state dict in A")
    p.add_argument("--key-b", help="key path of the state dict in B")
    p.add_argument("--only", metavar="REGEX", help="compare only keys matching REGEX")
    p.add_argument("--exclude", metavar="REGEX", help="skip keys matching REGEX")
    add_key_rules(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON (see README)")
    p.add_argument("--no-tui", action="store_true", help="print the report even when stdout is a terminal")
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import re

    from ckpt_tui.reports import DiffOptions

    for pattern in (args.only, args.exclude):
        if pattern:
            try:
                re.compile(pattern)
            except re.error as e:
                raise UsageError(f"invalid regex {pattern!r}: {e}") from None
    if args.rtol < 0 or args.atol < 0:
        raise UsageError("--rtol and --atol must not be negative")
    a, b = open_checkpoint(args.a, args.unsafe), open_checkpoint(args.b, args.unsafe)
    options = DiffOptions(
        args.rtol, args.atol, args.key_a or args.key, args.key_b or args.key, key_rules(args), args.only, args.exclude
    )
    if sys.stdout.isatty() and not (args.json or args.no_tui):
        from ckpt_tui.tui.app import CkptApp

        report = CkptApp.for_diff(a, b, options).run()
        if report is None:  # left before the diff finished
            return ExitCode.INTERRUPTED
        return ExitCode.OK if report.identical else ExitCode.FAILED
    return print_report(a, b, options, args.json)


def print_report(a: object, b: object, options: object, as_json: bool) -> int:
    from ckpt_tui.commands._progress import progress_bar
    from ckpt_tui.core.diff import diff_checkpoints
    from ckpt_tui.render.diff import diff_json, diff_renderable

    with progress_bar("comparing") as update:
        report = diff_checkpoints(a, b, options, progress=update)  # type: ignore[arg-type]
    if as_json:
        emit_json(diff_json(report))
    else:
        console().print(diff_renderable(report))
    return ExitCode.OK if report.identical else ExitCode.FAILED
