"""Which globals a written pickle may name: what `torch.load(weights_only=True)` accepts, plus numpy's own.

The .pth writer re-emits opaque objects from their recorded recipe; without this gate a hostile input would
convert into an output that runs its payload under `torch.load(weights_only=False)`, and a crafted input that runs
nothing (a recipe torch's safe loader refuses) could become one that does. The gate reads the globals back out of
the pickle actually written (`pickletools.genops`), so nothing the writer emits escapes it.

The numpy globals are the ones our reader accepts, and the writer names them exactly as the input did (`numpy.core`
or `numpy._core`, see `Entry.origin`): files that loaded under torch's documented numpy allowlist still do.
"""

from __future__ import annotations

import pickletools

from ckpt_tui.dtypes import ITEMSIZE, STORAGE_DTYPES

# torch/_weights_only_unpickler.py `_get_allowed_globals()`, the part a writer can emit (a test holds it to torch's)
REBUILDS = (
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_meta_tensor_no_storage",
)
QSCHEMES = (
    "per_tensor_affine",
    "per_tensor_symmetric",
    "per_channel_affine",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)
WEIGHTS_ONLY = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "torch.Size",
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        "torch.device",
        "torch.serialization._get_layout",
        "torch.storage.UntypedStorage",
        "torch._tensor._rebuild_from_type_v2",
        "_codecs.encode",
        "builtins.set",
        "builtins.complex",
        "builtins.bytearray",
        *(f"torch._utils.{name}" for name in REBUILDS),
        *(f"torch.{dtype}" for dtype in ITEMSIZE),
        *(f"torch.{name}" for name in STORAGE_DTYPES if name != "UntypedStorage"),
        *(f"torch.{q}" for q in QSCHEMES),
    }
)
NUMPY = frozenset(
    {
        "numpy.dtype",
        "numpy.ndarray",
        *(f"{module}.{name}" for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in
          ("_reconstruct", "scalar")),
    }
)  # fmt: skip
PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def globals_in(pickle: bytes) -> set[str]:
    """Every global a protocol-2 pickle names (GLOBAL opcodes; the writer emits no STACK_GLOBAL)."""
    found = set()
    for op, arg, _ in pickletools.genops(pickle):
        if op.name == "GLOBAL":
            module, _, name = str(arg).partition(" ")
            found.add(f"{PY2_MODULES.get(module, module)}.{name}")
        elif op.name == "STACK_GLOBAL":
            found.add("(a STACK_GLOBAL)")  # never written by us: unknown, so never safe
    return found


def unsafe_globals(pickle: bytes) -> list[str]:
    """The globals of `pickle` that `torch.load(weights_only=True)` (with numpy's allowlist) would refuse."""
    return sorted(g for g in globals_in(pickle) if g not in WEIGHTS_ONLY and g not in NUMPY)
