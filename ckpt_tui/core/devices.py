"""Device names (the `map_location`): parsed without torch, checked against the machine when torch is loaded.

Every device type torch accepts is accepted here (cuda, mps, xpu, hpu, mtia, ...); whether this machine has it is
asked of torch only when tensor data is about to be loaded, and the answer names what the machine does have.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ckpt_tui.errors import DeviceError, UsageError

if TYPE_CHECKING:
    import torch

# torch.device's own list (c10/core/DeviceType.cpp), less the types it deprecates or that hold no tensors we load
DEVICE_TYPES = (
    "cpu", "meta", "cuda", "mps", "xpu", "hpu", "mtia", "xla", "ipu", "maia", "hip", "ve", "fpga", "lazy",
    "vulkan", "privateuseone",
)  # fmt: skip
DEVICE_PATTERN = re.compile(rf"^({'|'.join(DEVICE_TYPES)})(:\d+)?$")
HOST_DEVICES = ("cpu", "meta")


def parse_device(spec: str) -> str:
    """Normalise a device name; raises UsageError for anything torch would not accept as a device."""
    spec = spec.strip().lower()
    if not DEVICE_PATTERN.match(spec) or spec in ("cpu:1", "meta:1"):
        raise UsageError(f"unknown device {spec!r}: use cpu, meta, or an accelerator such as cuda, cuda:N, mps, xpu")
    return spec


def needs_values(spec: str, what: str) -> None:
    """Refuse `meta` (which holds no values) for work that reads them, at argument time rather than mid-way."""
    if parse_device(spec) == "meta":
        raise UsageError(f"{what} needs tensor values, and the meta device holds none: use cpu or an accelerator")


def torch_device(spec: str) -> torch.device:
    """The torch device for `spec`, or a DeviceError if this machine does not have it."""
    import torch

    name = parse_device(spec)
    kind, _, index = name.partition(":")
    if kind not in HOST_DEVICES:
        available = _accelerator(torch)
        if available != kind:
            have = f"its accelerator is {available}" if available else "it has no accelerator"
            hint = "use --device cpu or meta"
            raise DeviceError(f"device {name!r} asked for, but {kind.upper()} is not available here ({have}); {hint}")
        count = torch.accelerator.device_count()
        if int(index or 0) >= count:
            raise DeviceError(f"device {name!r} asked for, but this machine has {count} {kind} device(s)")
    return torch.device(name)


def _accelerator(torch: object) -> str | None:
    """The accelerator type torch can use here (cuda, mps, xpu, ...), or None."""
    current = torch.accelerator.current_accelerator()  # type: ignore[attr-defined]
    return None if current is None else str(current.type)
