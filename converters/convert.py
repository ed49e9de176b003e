"""`convert`: one checkpoint in, safetensors (optionally sharded) or .pth out — streamed, verified, atomic.

Everything is planned from the structure first; files are written to anonymous temps, verified by reading them
back (each chunk read back as soon as it is written and compared with the source bytes it was written from; the
finished layout read back through safetensors itself and through our reader), and only then given their names.
No output may be an input file. A failed verification leaves the old outputs (if any) as they were.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field, replace

from ckpt_tui.converters.atomic import atomic_outputs
from ckpt_tui.converters.copy import OutputFile, write_all
from ckpt_tui.converters.inputs import input_files, links_leaving, refuse_outputs_over_inputs
from ckpt_tui.converters.plan import ConversionPlan, plan_safetensors
from ckpt_tui.converters.safetensors import ByteCount, ordered, write_file
from ckpt_tui.converters.shards import index_bytes, index_path, shard_names, split
from ckpt_tui.converters.verify import verify_layout
from ckpt_tui.errors import UsageError, VerificationError
from ckpt_tui.model import Checkpoint, CheckpointFormat, Entry
from ckpt_tui.reports import ConvertReport, KeyRules, OutputFormat, Progress


@dataclass(frozen=True, slots=True)
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


HF_WEIGHTS = re.compile(r"pytorch_model(-\d+-of-\d+)?\.(bin|pt|pth)|pytorch_model\.bin\.index\.json")


def default_output(source: str, to: OutputFormat | str) -> str:
    """Next to the input, named as the ecosystem names it: `pytorch_model*.bin` (or its index) and model
    directories give `model.safetensors`; `x.pth` gives `x.safetensors`; .pth output is `x.converted.pth`."""
    source = source.rstrip(os.sep) or source
    directory, name = os.path.split(source)
    if os.path.isdir(source):
        directory, name = source, "model"
    elif HF_WEIGHTS.fullmatch(name):
        name = "model" if OutputFormat(to) is OutputFormat.SAFETENSORS else "pytorch_model"
    else:
        name = os.path.splitext(name.removesuffix(".index.json"))[0]
    if OutputFormat(to) is OutputFormat.SAFETENSORS:
        return os.path.join(directory, f"{name}.safetensors")
    return os.path.join(directory, f"{name}.converted.pth")


def convert(
    ckpt: Checkpoint, options: ConvertOptions, progress: Progress | None = None, cancel: threading.Event | None = None
) -> ConvertReport:
    output = options.output or default_output(ckpt.path, options.to)
    inputs = input_files(ckpt)
    refuse_outputs_over_inputs([output], inputs)
    if options.to is OutputFormat.PTH:
        from ckpt_tui.converters.pth import convert_pth

        report = convert_pth(ckpt, output, options)
    else:
        plan = plan_safetensors(ckpt, options.key, options.all_tensors, options.rules, options.dtype)
        report = _write_safetensors(plan, output, options, inputs, ByteCount(0, progress, cancel))
    return replace(report, notices=(*report.notices, *links_leaving(ckpt)))


def _write_safetensors(
    plan: ConversionPlan, output: str, options: ConvertOptions, inputs: list[str], count: ByteCount
) -> ConvertReport:
    tensors = ordered(plan.tensors)
    shards = split(tensors, options.max_shard_size) if options.max_shard_size else [tensors]
    names = shard_names(output, len(shards)) if len(shards) > 1 else [output]
    paths = names + ([index_path(output)] if len(shards) > 1 else [])
    refuse_outputs_over_inputs(paths, inputs)
    count.total = sum(t.nbytes for t in tensors)
    with atomic_outputs(paths, options.force) as pending:
        for shard, pending_file in zip(shards, pending, strict=False):
            out = OutputFile(pending_file.fd, pending_file.readable_path if options.verify else None)
            try:
                placed = write_file(out, shard, plan.metadata, count)
            except VerificationError as e:
                raise VerificationError(f"{pending_file.path}: {e}") from None
            finally:
                out.close()
            if options.verify:
                verify_layout(pending_file.readable_path, placed, plan.metadata)
        if len(shards) > 1:
            write_all(pending[-1].fd, index_bytes(shards, names))
    return _report(plan, tuple(paths), options.verify)


def _report(plan: ConversionPlan, paths: tuple[str, ...], verified: bool) -> ConvertReport:
    written = plan.tensors
    casts = {t.dtype for t in written if t.dtype != t.info.dtype}
    return ConvertReport(
        plan.source.path,
        paths,
        OutputFormat.SAFETENSORS,
        plan.scope,
        len(written),
        sum(t.nbytes for t in written),
        plan.aliases,
        plan.renamed,
        tuple(k for k in plan.metadata if k not in plan.aliases),
        plan.not_carried,
        verified,
        casts.pop() if casts else None,
        plan.notices,
    )


def without_safetensors_header(ckpt: Checkpoint) -> tuple[Checkpoint, tuple[tuple[str, str], ...]]:
    """A state dict written as .pth has no place for a safetensors header's __metadata__: left out, and said so."""
    if ckpt.format != CheckpointFormat.SAFETENSORS or ckpt.root.child("__metadata__") is None:
        return ckpt, ()
    children = tuple((k, e) for k, e in ckpt.root.children if k != "__metadata__")
    root = Entry(ckpt.root.kind, "dict", None, children, ckpt.root.attrs)
    why = "the safetensors header metadata has no place in a .pth state dict"
    return replace(ckpt, root=root), (("__metadata__", why),)
