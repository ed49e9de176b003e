"""What `convert` is asked to do: one keyword-only options record, shared by convert and the .pth writer."""

from __future__ import annotations

from dataclasses import dataclass, field

from ckpt_tui.errors import UsageError
from ckpt_tui.reports import KeyRules, OutputFormat


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertOptions:
    output: str | None = None
    to: OutputFormat = OutputFormat.SAFETENSORS  # a plain "pth"/"safetensors" is accepted and made an OutputFormat
    key: str | None = None
    all_tensors: bool = False
    rules: KeyRules = field(default_factory=KeyRules)
    dtype: str | None = None
    max_shard_size: int | None = None
    force: bool = False
    verify: bool = True
    carry_unsafe_globals: bool = False  # --to pth: copy globals torch's safe loader refuses (output no safer)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "to", OutputFormat(self.to))
        except ValueError:
            raise UsageError(f"the output format must be safetensors or pth (got {self.to!r})") from None
