"""Device names (the `map_location`): parsed without torch, checked against the machine when torch is loaded."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ckpt_tui.errors import DeviceError, UsageError

if TYPE_CHECKING:
    import torch

DEVICE_PATTERN = re.compile(r"^(cpu|meta|cuda(:\d+)?)$")


def parse_device(spec: str) -> str:
    """Normalise a device name; raises UsageError for anything but cpu, meta, cuda and cuda:N."""
    spec = spec.strip().lower()
    if not DEVICE_PATTERN.match(spec):
        raise UsageError(f"unknown device {spec!r}: use cpu, meta, cuda or cuda:N")
    return spec


def torch_device(spec: str) -> torch.device:
    """The torch device for `spec`, or a DeviceError if this machine does not have it."""
    import torch

    name = parse_device(spec)
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or meta")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device(name)
