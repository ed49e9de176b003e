"""What several commands share: opening a checkpoint (safely, or with --unsafe) and the shared flags."""

from __future__ import annotations

import argparse
import sys

from ckpt_tui.core.devices import parse_device
from ckpt_tui.model import Checkpoint

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

    return read_checkpoint(path)
