"""`ckpt-tui open|inspect|diff|convert|check|audit`: parse, call one core function, render, map errors to exit codes.

Data goes to stdout, diagnostics to stderr. Heavy imports (torch, textual) happen inside the commands that need
them, so `inspect --json` stays a fraction of a second.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from ckpt_tui import __version__, commands
from ckpt_tui.commands._output import report_traffic
from ckpt_tui.errors import CkptError, ExitCode, UsageError, exit_code_for


def main(argv: Sequence[str] | None = None) -> int:
    """`argv` None: the process's own command line (the console script, `python -m ckpt_tui`), so the process ends
    with the command and may keep what it read out of the GC's sight; callers in a longer-lived process pass argv."""
    parser = build_parser()
    try:
        args = parse_args(parser, list(sys.argv[1:] if argv is None else argv))
        args.one_shot = argv is None
        code = int(args.run(args))
        report_traffic()
        return code
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
    from ckpt_tui.render.hints import error_text

    print(f"ckpt-tui: error: {printable(error_text(error))}", file=sys.stderr)
    return exit_code_for(error)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on its own; route it through our one-line format
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ckpt-tui", description="Look inside PyTorch checkpoints safely, lazily, from the terminal.")
    parser.add_argument("--version", action="version", version=f"ckpt-tui {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for register in commands.REGISTRY:
        register(sub)
    return parser
