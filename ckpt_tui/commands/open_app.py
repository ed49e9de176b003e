"""`ckpt-tui open PATH` (or just `ckpt-tui PATH`): the interactive Textual app."""

from __future__ import annotations

import argparse

from ckpt_tui.commands._common import add_device, add_unsafe, open_checkpoint
from ckpt_tui.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "open",
        help="browse a checkpoint in the terminal app",
        description="Browse a checkpoint: tensor tree, stats, optimizer state, metadata, notices.",
    )
    p.add_argument("path", help="checkpoint file, or a folder of checkpoints (a run: watched live)")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.core.runs import is_run_dir

    if not args.unsafe and is_run_dir(args.path):
        from ckpt_tui.tui.app import CkptApp

        CkptApp(None, device=args.device, run_dir=args.path).run()
        return ExitCode.OK
    ckpt = open_checkpoint(args.path, args.unsafe, args.device)
    if args.device.startswith("cuda"):  # say so now, not on the first tensor
        from ckpt_tui.core.devices import torch_device

        torch_device(args.device)
    from ckpt_tui.tui.app import CkptApp

    CkptApp(ckpt, device=args.device).run()
    return ExitCode.OK
