"""The differential oracle: what ckpt-tui shows for a file against what `torch.load(weights_only=True)` returns.

torch runs in a child process (a hostile file is never torch.loaded in the test process) with a time and memory
limit; one child loads a whole batch of files so torch is imported once. For every tensor both sides report its
key path, dtype, shape, strides, storage offset and a hash of its elements' bytes. Two outcomes are accepted:

- identical: the same key paths with the same tensors (and neither side failed);
- ckpt-tui refused the file with a `CkptError` (whatever torch did).

When torch refuses but ckpt-tui shows the file, that is accepted only where `torch.load(weights_only=False)` would
have loaded what ckpt-tui shows (minus the code): torch refused over globals it does not allow and ckpt-tui flags
unknown globals with a warning, or over pickle opcodes its weights-only unpickler lacks. A legacy tar archive or a
TorchScript archive (torch.load hands those to other loaders) must be refused or labelled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD = r"""
import hashlib, json, sys, warnings
warnings.simplefilter("ignore")
import torch

def digest(t):
    if t.device.type == "meta":
        return None
    if t.is_quantized:
        t = t.int_repr()
    if t.numel() * t.element_size() > (256 << 20):
        return "too-big"
    t = t.resolve_conj().resolve_neg()
    return hashlib.sha256(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()

def record(path, t, out):
    if isinstance(t, torch.storage.TypedStorage):
        t = torch.empty(0, dtype=t.dtype).set_(t._untyped_storage, 0, (t.size(),), (1,))
    if t.layout == torch.sparse_coo:
        record(path + [repr("indices")], t._indices(), out)
        record(path + [repr("values")], t._values(), out)
        return
    if t.layout != torch.strided:
        out[json.dumps(path)] = ["layout", str(t.layout)]
        return
    name = str(t.dtype).removeprefix("torch.")
    out[json.dumps(path)] = [name, list(t.shape), list(t.stride()), t.storage_offset(), digest(t)]

def walk(obj, path, out, seen):
    if isinstance(obj, (torch.Tensor, torch.storage.TypedStorage)):
        record(path, obj, out)
    elif isinstance(obj, dict):
        if id(obj) in seen: return
        seen.add(id(obj))
        for k, v in obj.items():
            walk(v, path + [repr(k)], out, seen)
    elif isinstance(obj, (list, tuple)):
        if id(obj) in seen: return
        seen.add(id(obj))
        for i, v in enumerate(obj):
            walk(v, path + [repr(i)], out, seen)

def numpy_allowed():
    # torch's documented way to load numpy values under weights_only: allowlist numpy's own rebuilders
    import numpy as np
    core = getattr(np, "_core", None) or np.core
    names = [core.multiarray.scalar, core.multiarray._reconstruct, np.dtype, np.ndarray]
    names += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return torch.serialization.safe_globals(names)

def load(file):
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except Exception as e:
        if "numpy" not in str(e):
            raise
    with numpy_allowed():
        return torch.load(file, weights_only=True, map_location="cpu")

for line in sys.stdin:
    file = line.rstrip("\n")
    try:
        obj = load(file)
        out = {}
        walk(obj, [], out, set())
        result = {"ok": True, "tensors": out}
    except BaseException as e:
        result = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:3000]}"}
    print(json.dumps(result), flush=True)
"""

MEMORY_LIMIT = 3 << 30
TIMEOUT = 120


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "identical", "refused", "torch-refused", or "DIFFERENT"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "DIFFERENT"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def torch_views(paths: list[Path], timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """torch.load(weights_only=True) of each file in one child process: {"ok", "tensors"} or {"ok", "error"}."""
    if not paths:
        return []
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    stderr = "timed out"
    try:
        run = subprocess.run(
            [sys.executable, "-c", CHILD],
            input="".join(f"{p}\n" for p in paths),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit,
            env=env,
        )
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        stderr = run.stderr[-300:]
    except subprocess.TimeoutExpired:
        lines = []
    if len(lines) == len(paths):
        return lines
    if len(paths) == 1:  # the child died (memory limit, crash) or hung on this file: torch did not load it
        return [{"ok": False, "error": f"child failed: {stderr}"}]
    done = lines[:]  # the files before the one that killed the child came back; redo the rest one by one
    return done + [v for p in paths[len(done) :] for v in torch_views([p], timeout)]


def ckpt_view(path: Path) -> dict[str, Any]:
    """ckpt-tui's reading in the same shape: tensors by key path, or the CkptError it refused with."""
    from ckpt_tui.core.tensors import load_tensor
    from ckpt_tui.errors import CkptError
    from ckpt_tui.formats import read_checkpoint
    from ckpt_tui.model import Kind, Severity

    try:
        ckpt = read_checkpoint(path)
        out: dict[str, Any] = {}
        for key_path, entry in _walk(ckpt.root):
            if entry.kind is Kind.TENSOR:
                info = entry.tensor
                digest = None if info.device == "meta" else _digest(load_tensor(info))
                out[json.dumps(key_path)] = [
                    info.dtype,
                    list(info.shape),
                    list(info.stride),
                    info.storage_offset,
                    digest,
                ]
        flagged = [n.subject for n in ckpt.notices if n.code == "unknown-global"]
        warned = any(n.severity is Severity.WARNING and n.code == "unknown-global" for n in ckpt.notices)
        return {"ok": True, "tensors": out, "warned": warned, "flagged": flagged, "format": str(ckpt.format)}
    except CkptError as e:
        return {"ok": False, "error": str(e)}


def _walk(root: Any) -> Any:
    from ckpt_tui.model import Kind

    stack: list[tuple[list[str], Any]] = [([], root)]
    seen: set[int] = set()
    while stack:
        path, entry = stack.pop()
        yield path, entry
        if entry.kind in (Kind.MAPPING, Kind.SEQUENCE, Kind.OPAQUE) and id(entry) not in seen:
            seen.add(id(entry))
            stack.extend((path + [repr(k)], child) for k, child in reversed(entry.children))


def _digest(tensor: Any) -> str | None:
    import torch

    if tensor.is_quantized:
        tensor = tensor.int_repr()
    if tensor.numel() * tensor.element_size() > (256 << 20):
        return "too-big"
    data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


def judge(ours: dict[str, Any], theirs: dict[str, Any]) -> Verdict:
    if not ours["ok"]:
        return Verdict("refused", ours["error"])
    if theirs["ok"]:
        if ours["tensors"] == theirs["tensors"]:
            return Verdict("identical")
        return Verdict("DIFFERENT", _difference(ours["tensors"], theirs["tensors"]))
    error = theirs["error"]
    if ".tar format" in error:
        return Verdict("DIFFERENT", f"torch reads a legacy tar archive, ckpt-tui showed something else ({error})")
    if "TorchScript" in error and ours["format"] != "torchscript":
        return Verdict("DIFFERENT", f"torch hands this to torch.jit.load; ckpt-tui did not say so ({error})")
    named = re.search(r"GLOBAL ([\w.]+)", error)
    if named and named.group(1) not in ours["flagged"]:
        return Verdict("DIFFERENT", f"torch refused {named.group(1)}, which ckpt-tui did not flag")
    if not named and "unrecognized function" in error and not ours["warned"]:
        return Verdict("DIFFERENT", f"torch refused a function that ckpt-tui did not flag: {error[:300]}")
    return Verdict("torch-refused", error)


def _difference(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    only_ours = sorted(set(ours) - set(theirs))[:3]
    only_theirs = sorted(set(theirs) - set(ours))[:3]
    changed = [k for k in ours if k in theirs and ours[k] != theirs[k]][:3]
    parts = [f"only ckpt-tui: {only_ours}" if only_ours else "", f"only torch: {only_theirs}" if only_theirs else ""]
    parts += [f"{k}: ckpt-tui {ours[k]} torch {theirs[k]}" for k in changed]
    return "; ".join(p for p in parts if p)


def compare_files(paths: list[Path]) -> dict[Path, Verdict]:
    """The verdict for each file (torch in one child for all of them)."""
    theirs = torch_views(paths)
    return {p: judge(ckpt_view(p), t) for p, t in zip(paths, theirs, strict=True)}
