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
    p.add_argument("path", help="checkpoint file")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    served = "TEXTUAL_DRIVER" in os.environ  # textual-serve runs the app with its web driver, on pipes
    if not served and not (sys.stdout.isatty() and sys.stdin.isatty()):
        print("ckpt-tui: not a terminal: printing `inspect` output instead of opening the app", file=sys.stderr)
        from ckpt_tui.commands import inspect

        return inspect.run(argparse.Namespace(**vars(args), json=False, stats=False, strict=False))
    ckpt = open_checkpoint(args.path, args.unsafe, args.device)
    if args.device.startswith("cuda"):  # say so now, not on the first tensor
        from ckpt_tui.core.devices import torch_device

        torch_device(args.device)
    from ckpt_tui.tui.app import CkptApp

    CkptApp(ckpt, device=args.device).run()
    return ExitCode.OK
