"""The entry builder's fast path (slot setters, the inlined state-dict tensor) builds exactly what the plain
constructors build, and is not silently off."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ckpt_tui.formats import _entries, read_checkpoint
from ckpt_tui.model import Entry, Kind, Storage, TensorInfo
from tests.helpers import SAMPLES


def test_the_fast_path_is_on_for_the_models_fields() -> None:
    # a field added to Storage, TensorInfo or Entry turns it off (every tensor then reads through the slower
    # dataclass constructors): this says so, rather than the benchmark alone
    assert _entries.FAST_BUILD


def test_the_fast_constructors_equal_the_dataclass_constructors() -> None:
    storage = _entries.make_storage("f", "0", "float32", 16, "cpu", "archive/data/0", 8)
    assert storage == Storage("f", "0", "float32", 16, "cpu", "archive/data/0", 8)
    info = _entries._tensor_info("w", "float32", (4, 4), (4, 1), storage, 0, True, False, None)
    assert info == TensorInfo("w", "float32", (4, 4), (4, 1), storage, 0, True, False, None)
    assert _fields(_entries._tensor_entry(info)) == _fields(Entry(Kind.TENSOR, "torch.Tensor", info))


def _fields(entry: Entry) -> tuple[object, ...]:
    """An entry as comparable data (entries compare by identity): its fields, its children's, recursively."""
    children = tuple((k, _fields(e)) for k, e in entry.children)
    attrs = tuple((k, _fields(e)) for k, e in entry.attrs)
    return (entry.kind, entry.type_name, entry.value, children, attrs, entry.origin)


def _state(tmp: Path) -> Path:
    base = torch.arange(64, dtype=torch.float32)
    state = {
        "plain": torch.ones(4, 4),
        "view": base[8:24].view(4, 4),
        "strided": base.view(8, 8)[:, ::2],
        "transposed": base.view(8, 8).t(),
        "empty": torch.empty(0, 3),
        "scalar": torch.tensor(3.0),
        "tied": base,
        "param": torch.nn.Parameter(torch.zeros(2)),
        "nested": {"grad": torch.ones(2, requires_grad=True), 1: torch.zeros(3, dtype=torch.int64)},
        "meta": torch.empty(2, 2, device="meta"),
    }
    path = tmp / "state.pt"
    torch.save(state, path)
    return path


def test_the_inlined_path_reads_what_the_general_one_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (_state(tmp_path), SAMPLES / "training.pth"):
        fast = read_checkpoint(path)
        monkeypatch.setattr(_entries, "FAST_BUILD", False)
        general = read_checkpoint(path)
        monkeypatch.undo()
        assert _fields(fast.root) == _fields(general.root)
        assert fast.tensors == general.tensors and list(fast.tensors) == list(general.tensors)


@pytest.mark.parametrize(
    "keys", [("a", "b", "a"), (1, "1", "b"), ("x", 0, "0")], ids=["strings", "int then its string", "mixed"]
)
def test_child_finds_the_first_child_of_a_key_by_its_string_form(keys: tuple[object, ...]) -> None:
    children = tuple((k, Entry(Kind.VALUE, "int", n)) for n, k in enumerate(keys))
    entry = Entry(Kind.MAPPING, "dict", None, children)  # type: ignore[arg-type]
    for key in keys:
        first = next(n for n, k in enumerate(keys) if str(k) == str(key))
        assert entry.child(key).value == first  # type: ignore[union-attr]
        assert entry.child(str(key)).value == first  # type: ignore[union-attr]
    assert entry.child("missing") is None
