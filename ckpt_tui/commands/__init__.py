"""One module per CLI command: `register(subparsers)` adds it, `run(args)` runs it and returns an exit code."""

from __future__ import annotations

from ckpt_tui.commands import audit, check, convert, diff, inspect, open_app, prune, runs, serve

REGISTRY = [
    open_app.register,
    inspect.register,
    diff.register,
    convert.register,
    check.register,
    audit.register,
    runs.register,
    prune.register,
    serve.register,
]
