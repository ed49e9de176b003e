"""`ckpt-tui open|inspect|diff|convert|check`: parse, call one core function, render, map errors to exit codes.

Data goes to stdout, diagnostics to stderr. Heavy imports (torch, textual) happen inside the commands that need
them, so `inspect --json` stays a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from ckpt_tui import __version__
from ckpt_tui.errors import CkptError, ExitCode, UsageError, exit_code_for


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, list(sys.argv[1:] if argv is None else argv))
        return int(args.run(args))
    except KeyboardInterrupt:
        print("ckpt-tui: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except CkptError as e:
        return report_error(e)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # keep Python's exit flush quiet
        return ExitCode.OK
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("CKPT_TUI_DEBUG"):
            raise
        print(
            f"ckpt-tui: internal error: {type(e).__name__}: {e} (set CKPT_TUI_DEBUG=1 for a traceback)", file=sys.stderr
        )
        return ExitCode.BAD_INPUT


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """argparse, with `ckpt-tui model.pth` as `open`, unknown verbs named, and each verb's errors its own."""
    verbs = _verbs(parser)
    if argv and argv[0] not in verbs and not argv[0].startswith("-"):
        if not _looks_like_path(argv[0]):
            raise UsageError(f"unknown command {argv[0]!r}; commands: {', '.join(verbs)} (see ckpt-tui --help)")
        argv = ["open", *argv]  # `ckpt-tui model.pth` is `ckpt-tui open model.pth`
    args, extra = parser.parse_known_args(argv)
    if extra:  # the verb's parser knows its own flags: point at its help, not the top level's
        verbs[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _looks_like_path(word: str) -> bool:
    """A first word that names a file (or could: it has a separator or a suffix) is opened, not taken as a verb."""
    return os.path.exists(word) or any(c in word for c in "/\\.:~")


def report_error(error: CkptError) -> int:
    from ckpt_tui.render import printable

    print(f"ckpt-tui: error: {printable(error)}", file=sys.stderr)
    return exit_code_for(error)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on its own; route it through our one-line format
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ckpt-tui", description="Look inside PyTorch checkpoints safely, lazily, from the terminal.")
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    from ckpt_tui import commands

    for register in commands.REGISTRY:
        register(sub)
    return parser


# what json.dumps(ensure_ascii=False) leaves raw but a terminal acts on: DEL, C1 controls (8-bit CSI/OSC), bidi
# overrides and line separators; JSON's structure is ASCII, so these occur only inside strings
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def emit_json(document: object) -> None:
    """Indented for a terminal, compact for a pipe (100k tensors: 1.4 s indented vs 0.3 s); nothing raw that a
    terminal would act on (the same text, with those characters as \\u escapes)."""
    indent = 2 if sys.stdout.isatty() else None
    text = json.dumps(document, indent=indent, ensure_ascii=False, default=str)
    sys.stdout.write(_RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich console; piped output is not wrapped at 80 columns, so that lines stay greppable."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return _console_class()(file=stream, highlight=False, width=width)


def _console_class() -> Any:
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:  # rich exits 1 here; a closed pipe is not a failure (`| head -1`)
            raise BrokenPipeError

    return PipeConsole
