"""`convert`: one checkpoint in, safetensors (optionally sharded) or .pth out — streamed, verified, atomic.

Everything is planned from the structure first; files are written to anonymous temps, verified by reading them
back (through safetensors itself and through our reader, every tensor bit for bit), and only then given their
names. A failed verification leaves the old outputs (if any) as they were.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace

from ckpt_tui.converters.atomic import atomic_outputs
from ckpt_tui.converters.plan import ConversionPlan, plan_safetensors
from ckpt_tui.converters.safetensors import ordered, write_file
from ckpt_tui.converters.shards import index_bytes, index_path, shard_names, split
from ckpt_tui.converters.verify import verify_file
from ckpt_tui.core.compare import compare_pair
from ckpt_tui.errors import UsageError, VerificationError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint, CheckpointFormat, Entry, Kind
from ckpt_tui.reports import ConvertReport, KeyRules, OutputFormat, Progress


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    output: str | None = None
    to: OutputFormat = OutputFormat.SAFETENSORS
    key: str | None = None
    all_tensors: bool = False
    rules: KeyRules = field(default_factory=KeyRules)
    dtype: str | None = None
    max_shard_size: int | None = None
    force: bool = False
    verify: bool = True


def default_output(source: str, to: OutputFormat) -> str:
    stem, _ = os.path.splitext(source)
    return f"{stem}.safetensors" if to == OutputFormat.SAFETENSORS else f"{stem}.converted.pth"


def convert(
    ckpt: Checkpoint, options: ConvertOptions, progress: Progress | None = None, cancel: threading.Event | None = None
) -> ConvertReport:
    output = options.output or default_output(ckpt.path, options.to)
    if os.path.exists(output) and os.path.samefile(output, ckpt.path):
        raise UsageError(f"{output} is the input file; the input is never modified: choose another -o")
    if options.to == OutputFormat.PTH:
        return _convert_pth(ckpt, output, options)
    if options.to != OutputFormat.SAFETENSORS:
        raise UsageError(f"--to must be safetensors or pth (got {options.to!r})")
    plan = plan_safetensors(ckpt, options.key, options.all_tensors, options.rules, options.dtype)
    return _write_safetensors(plan, output, options, progress, cancel)


def _write_safetensors(
    plan: ConversionPlan,
    output: str,
    options: ConvertOptions,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> ConvertReport:
    tensors = ordered(plan.tensors)
    shards = split(tensors, options.max_shard_size) if options.max_shard_size else [tensors]
    names = shard_names(output, len(shards)) if len(shards) > 1 else [output]
    paths = names + ([index_path(output)] if len(shards) > 1 else [])
    total = sum(t.nbytes for t in tensors)
    with atomic_outputs(paths, options.force) as pending:
        done = 0
        for shard, out in zip(shards, pending, strict=False):
            done = write_file(out.fd, shard, plan.metadata, progress, cancel, done, total)
        if len(shards) > 1:
            os.write(pending[-1].fd, index_bytes(shards, names, plan.aliases))
        if options.verify:
            for shard, out in zip(shards, pending, strict=False):
                verify_file(out.readable_path, shard, plan.metadata, cancel)
    casts = {t.dtype for t in tensors if t.dtype != t.info.dtype}
    return ConvertReport(
        plan.source.path,
        tuple(paths),
        OutputFormat.SAFETENSORS,
        plan.scope,
        len(tensors),
        total,
        plan.aliases,
        plan.renamed,
        tuple(k for k in plan.metadata if k not in plan.aliases),
        tuple(plan.not_carried),
        options.verify,
        casts.pop() if casts else None,
    )


def _convert_pth(ckpt: Checkpoint, output: str, options: ConvertOptions) -> ConvertReport:
    from ckpt_tui.converters.torch_save import write_pth

    if options.dtype or options.max_shard_size or options.all_tensors or options.key:
        raise UsageError(
            "--to pth rewrites the whole checkpoint's keys only: --dtype, --max-shard-size, --all and "
            "--key apply to safetensors output"
        )
    source, not_carried = _without_safetensors_header(ckpt)
    with atomic_outputs([output], options.force) as pending, os.fdopen(pending[0].fd, "wb", closefd=False) as out:
        write_pth(source, options.rules, out)
        out.flush()
        if options.verify:
            verify_same_tree(source, read_checkpoint(pending[0].readable_path), options.rules, output)
    renamed = {k: options.rules.apply(k) for k in ckpt.tensors if options.rules.apply(k) != k}
    size = os.path.getsize(output)
    return ConvertReport(
        ckpt.path, (output,), OutputFormat.PTH, "(whole checkpoint)", len(ckpt.tensors), size, {}, renamed, (),
        not_carried, options.verify, None,
    )  # fmt: skip


def _without_safetensors_header(ckpt: Checkpoint) -> tuple[Checkpoint, tuple[tuple[str, str], ...]]:
    """A state dict written as .pth has no place for a safetensors header's __metadata__: left out, and said so."""
    if ckpt.format != CheckpointFormat.SAFETENSORS or ckpt.root.child("__metadata__") is None:
        return ckpt, ()
    children = tuple((k, e) for k, e in ckpt.root.children if k != "__metadata__")
    root = Entry(ckpt.root.kind, "dict", None, children, ckpt.root.attrs)
    why = "the safetensors header metadata has no place in a .pth state dict"
    return replace(ckpt, root=root), (("__metadata__", why),)


def verify_same_tree(source: Checkpoint, written: Checkpoint, rules: KeyRules, output: str) -> None:
    """The written checkpoint must have the source's structure, values (names renamed), and tensors bit for bit."""
    stack = [(source.root, written.root, "(root)")]
    seen: set[tuple[int, int]] = set()
    while stack:
        a, b, path = stack.pop()
        if (id(a), id(b)) in seen:  # shared through the pickle memo: checked once
            continue
        seen.add((id(a), id(b)))
        if (a.kind, _written_type(a), len(a.children)) != (b.kind, b.type_name, len(b.children)):
            raise VerificationError(f"{output}: {path} reads back as {b.type_name}, not {_written_type(a)}")
        if a.kind is Kind.TENSOR:
            _check_tensor(a, b, path, output)
        elif a.kind is Kind.VALUE:
            expected = rules.apply(a.value) if ".param_names." in path and isinstance(a.value, str) else a.value
            if expected != b.value and expected == expected:  # NaN != NaN
                raise VerificationError(f"{output}: {path} reads back as {b.value!r}, not {expected!r}")
        stack.extend((ca, cb, f"{path}.{ka}") for (ka, ca), (_, cb) in zip(a.children, b.children, strict=True))


def _written_type(entry: Entry) -> str:
    """The type a mapping has once pickled: containers of safetensors files, shard sets and directories are dicts."""
    if entry.kind is Kind.MAPPING and entry.type_name != "collections.OrderedDict":
        return "dict"
    return entry.type_name


def _check_tensor(a: Entry, b: Entry, path: str, written: str) -> None:
    ta, tb = a.tensor, b.tensor
    if (ta.dtype, ta.shape, ta.stride) != (tb.dtype, tb.shape, tb.stride):
        raise VerificationError(f"{written}: tensor {path} reads back with another dtype, shape or stride")
    if ta.device != "meta" and not compare_pair(ta, tb).bit_identical:
        raise VerificationError(f"{written}: tensor {path} differs from its source after writing")
