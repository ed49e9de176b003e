"""`convert --to pth`: the whole checkpoint again as a torch zip, keys rewritten, read back and compared."""

from __future__ import annotations

import os

from ckpt_tui.converters.atomic import atomic_outputs
from ckpt_tui.converters.convert import ConvertOptions, without_safetensors_header
from ckpt_tui.converters.plan import is_list_like
from ckpt_tui.converters.torch_save import write_pth
from ckpt_tui.core.compare import compare_pair
from ckpt_tui.errors import UsageError, VerificationError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint, CheckpointFormat, Entry, Kind
from ckpt_tui.reports import ConvertReport, KeyRules, OutputFormat


def convert_pth(ckpt: Checkpoint, output: str, options: ConvertOptions) -> ConvertReport:
    _refuse_unwritable(ckpt, options)
    source, not_carried = without_safetensors_header(ckpt)
    lists = ckpt.format == CheckpointFormat.DCP
    with atomic_outputs([output], options.force) as pending, os.fdopen(pending[0].fd, "wb", closefd=False) as out:
        unsafe = write_pth(source, options.rules, out, options.carry_unsafe_globals)
        out.flush()
        if options.verify:
            verify_same_tree(source, read_checkpoint(pending[0].readable_path), options.rules, output, lists)
    renamed = {k: options.rules.apply(k) for k in ckpt.tensors if options.rules.apply(k) != k}
    size = os.path.getsize(output)
    return ConvertReport(
        ckpt.path, (output,), OutputFormat.PTH, "(whole checkpoint)", len(ckpt.tensors), size, {}, renamed, (),
        not_carried, options.verify, None, unsafe_globals=tuple(unsafe),
    )  # fmt: skip


def _refuse_unwritable(ckpt: Checkpoint, options: ConvertOptions) -> None:
    if options.dtype or options.max_shard_size or options.all_tensors or options.key:
        raise UsageError(
            "--to pth rewrites the whole checkpoint's keys only: --dtype, --max-shard-size, --all and "
            "--key apply to safetensors output"
        )
    if ckpt.format == CheckpointFormat.TORCHSCRIPT:
        raise UsageError(
            f"{ckpt.path} is a TorchScript archive: torch.load cannot load it as a .pth (torch.jit.load does); "
            "--to safetensors writes its tensors"
        )


def verify_same_tree(source: Checkpoint, written: Checkpoint, rules: KeyRules, output: str, lists: bool) -> None:
    """The written checkpoint must have the source's structure, values (names renamed), and tensors bit for bit."""
    stack = [(source.root, written.root, "(root)")]
    seen: set[tuple[int, int]] = set()
    while stack:
        a, b, path = stack.pop()
        if (id(a), id(b)) in seen:  # shared through the pickle memo: checked once
            continue
        seen.add((id(a), id(b)))
        expected = _written_type(a, lists)
        kind = Kind.SEQUENCE if expected == "list" else a.kind
        if (kind, expected, len(a.children)) != (b.kind, b.type_name, len(b.children)):
            raise VerificationError(f"{output}: {path} reads back as {b.type_name}, not {expected}")
        if a.kind is Kind.TENSOR:
            _check_tensor(a, b, path, output)
        elif a.kind is Kind.VALUE:
            value = rules.apply(a.value) if ".param_names." in path and isinstance(a.value, str) else a.value
            if value != b.value and value == value:  # NaN != NaN
                raise VerificationError(f"{output}: {path} reads back as {b.value!r}, not {value!r}")
        stack.extend((ca, cb, f"{path}.{ka}") for (ka, ca), (_, cb) in zip(a.children, b.children, strict=True))


def _written_type(entry: Entry, lists: bool) -> str:
    """The type an entry has once pickled: containers of safetensors files, shard sets and directories are dicts;
    DCP's list-keyed mappings are lists."""
    if entry.kind is Kind.MAPPING and lists and is_list_like(entry):
        return "list"
    if entry.kind is Kind.MAPPING and entry.type_name != "collections.OrderedDict":
        return "dict"
    return entry.type_name


def _check_tensor(a: Entry, b: Entry, path: str, written: str) -> None:
    ta, tb = a.tensor, b.tensor
    if (ta.dtype, ta.shape, ta.stride) != (tb.dtype, tb.shape, tb.stride):
        raise VerificationError(f"{written}: tensor {path} reads back with another dtype, shape or stride")
    if ta.device != "meta" and not compare_pair(ta, tb).bit_identical:
        raise VerificationError(f"{written}: tensor {path} differs from its source after writing")
