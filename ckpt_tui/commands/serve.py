"""`ckpt-tui serve PATH [--port N] [--host H]`: the same app in a web browser, through textual-serve.

For checkpoints on a remote training box: serve there (on localhost by default; reach it through an SSH tunnel,
`ssh -L 8000:localhost:8000 box`), open http://localhost:8000 here. Each browser tab runs `ckpt-tui open PATH` in
its own process on the serving machine; nothing from the checkpoint runs, as in the terminal.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ckpt_tui.commands._common import add_device, add_unsafe, open_checkpoint
from ckpt_tui.errors import ExitCode, UsageError

EXTRA_HINT = "ckpt-tui serve needs textual-serve: pip install 'ckpt-tui[serve]'"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="serve the app to a web browser (needs the 'serve' extra)",
        description="Serve the checkpoint app over HTTP with textual-serve; open the printed address in a browser.",
    )
    p.add_argument("path", help="checkpoint file or directory")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError(EXTRA_HINT) from None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    open_checkpoint(args.path, False, args.device)  # a file that cannot be read fails here, in one line
    Server(serve_command(args), host=args.host, port=args.port, title="ckpt-tui").serve()
    return ExitCode.OK


def serve_command(args: argparse.Namespace) -> str:
    """The command each browser session runs: this Python, this package, the file by absolute path."""
    argv = [sys.executable, "-m", "ckpt_tui", "open", os.path.abspath(args.path), "--device", args.device]
    return shlex.join(argv + (["--unsafe"] if args.unsafe else []))
