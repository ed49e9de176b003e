"""`ckpt-tui inspect PATH`: what a checkpoint holds, as text for people or `--json` for scripts."""

from __future__ import annotations

import argparse

from ckpt_tui.commands._common import add_device, add_unsafe, open_checkpoint
from ckpt_tui.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "inspect",
        help="print a checkpoint's structure (no tensor data is read)",
        description="Print a checkpoint's structure without reading tensor data or running its code.",
    )
    p.add_argument("path", help="checkpoint file")
    p.add_argument("--json", action="store_true", help="machine-readable output (see README: JSON schema)")
    p.add_argument("--stats", action="store_true", help="also read every tensor and print its statistics")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.cli import console, emit_json
    from ckpt_tui.core.summary import summarize
    from ckpt_tui.render import summary_json, summary_renderable

    ckpt = open_checkpoint(args.path, args.unsafe, args.device)
    summary = summarize(ckpt)
    if args.json:
        emit_json(summary_json(summary, ckpt))
    else:
        console().print(summary_renderable(summary))
    return ExitCode.OK
