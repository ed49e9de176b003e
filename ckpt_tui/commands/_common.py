"""What several commands share: opening a checkpoint (safely, or with --unsafe) and the shared flags."""

from __future__ import annotations

import argparse
import sys

from ckpt_tui.core.devices import parse_device
from ckpt_tui.core.keys import make_rules
from ckpt_tui.errors import UnreadableError
from ckpt_tui.model import Checkpoint
from ckpt_tui.reports import KeyRules

UNSAFE_HELP = "run the full unpickler, torch.load(weights_only=False): this RUNS CODE FROM THE FILE; trusted files only"


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", metavar="D", help="map_location for tensor data: cpu, cuda[:N] or meta")


def add_unsafe(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)


def open_checkpoint(path: str, unsafe: bool = False, device: str = "cpu") -> Checkpoint:
    parse_device(device)
    if unsafe:
        print(
            f"ckpt-tui: warning: --unsafe: running torch.load(weights_only=False) on {path}; "
            "code inside the file will run",
            file=sys.stderr,
        )
        from ckpt_tui.core.unsafe import read_unsafe

        return read_unsafe(path, device)
    from ckpt_tui.formats import read_checkpoint

    try:
        return read_checkpoint(path)
    except UnreadableError as e:
        raise _run_folder_hint(path) or e from None


def _run_folder_hint(path: str) -> UnreadableError | None:
    """A folder of checkpoints is a run, not one checkpoint: say which verbs take it."""
    from ckpt_tui.core.runs import is_run_dir

    if not is_run_dir(path):
        return None
    return UnreadableError(
        "is a folder of checkpoints (a run), not one checkpoint: `ckpt-tui runs` or `ckpt-tui open` show it; "
        "give this verb one of its checkpoints",
        path,
    )


def add_key_rules(p: argparse.ArgumentParser) -> None:
    """The key-rule flags, the same for convert, diff and check."""
    group = p.add_argument_group("key rules (applied in this order: strip, rename, add)")
    group.add_argument("--strip-module", action="store_true", help="remove DataParallel/DDP 'module.' prefixes")
    group.add_argument(
        "--strip-wrappers",
        action="store_true",
        help="remove 'module.', '_orig_mod.' (torch.compile), '_fsdp_wrapped_module.', '_checkpoint_wrapped_module.'",
    )
    group.add_argument("--strip-prefix", action="append", default=[], metavar="P", help="remove prefix P (repeatable)")
    group.add_argument("--rename", action="append", default=[], metavar="REGEX=REPL", help="rename keys by regex")
    group.add_argument("--add-prefix", default="", metavar="P", help="prepend P to every key")


def key_rules(args: argparse.Namespace) -> KeyRules:
    return make_rules(args.strip_module, args.strip_wrappers, args.strip_prefix, args.add_prefix, args.rename)
