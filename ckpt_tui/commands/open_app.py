"""`ckpt-tui open PATH` (or just `ckpt-tui PATH`): the interactive Textual app.

With stdout not a terminal (`ckpt-tui open x.pth > out.txt`) the app would write escape codes into the file and
wait for keys that never come: the `inspect` text is printed instead, and stderr says so.
"""

from __future__ import annotations

import argparse
import os
import sys

from ckpt_tui.commands._common import add_device, add_unsafe, open_checkpoint
from ckpt_tui.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "open",
        help="browse a checkpoint in the terminal app",
        description="Browse a checkpoint: tensor tree, stats, optimizer state, metadata, notices. "
        "With stdout not a terminal, prints what `inspect` prints instead.",
    )
    p.add_argument("path", help="checkpoint file, or a folder of checkpoints (a run: watched live)")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.core.runs import is_run_dir

    run_dir = not args.unsafe and is_run_dir(args.path)
    if not is_terminal():
        verb = "runs" if run_dir else "inspect"
        print(f"ckpt-tui: not a terminal: printing `{verb}` output instead of opening the app", file=sys.stderr)
        from ckpt_tui.commands import inspect, runs

        if run_dir:
            return runs.run(argparse.Namespace(path=args.path, json=False, metric=None, mode=None))
        return inspect.run(argparse.Namespace(**vars(args), json=False, stats=False, strict=False))
    if run_dir:
        from ckpt_tui.tui.app import CkptApp

        CkptApp(None, device=args.device, run_dir=args.path).run()
        return ExitCode.OK
    # one_shot (the process ends with the app): the tree read lives as long as the app, so it is frozen out of the
    # GC's sight; otherwise the app's first paint waits for full collections over every object of 100k tensors
    ckpt = open_checkpoint(args.path, args.unsafe, args.device, one_shot=getattr(args, "one_shot", False))
    if args.device.startswith("cuda"):  # say so now, not on the first tensor
        from ckpt_tui.core.devices import torch_device

        torch_device(args.device)
    from ckpt_tui.tui.app import CkptApp

    CkptApp(ckpt, device=args.device).run()
    return ExitCode.OK


def is_terminal() -> bool:
    """Both ends on a terminal, or served by textual-serve (its web driver talks over pipes)."""
    served = "TEXTUAL_DRIVER" in os.environ
    return served or (sys.stdout.isatty() and sys.stdin.isatty())
