"""A pickle cannot change the allow-listed builders that every later read in the process uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckpt_tui.errors import CkptError
from ckpt_tui.formats import _unpickler, read_checkpoint
from tests.helpers import SAMPLES, write_torch_zip

# BUILD on the builder itself (not on what it built), with slot state: setattr(builder, name, value)
SET_DEFAULTS = (
    b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(N}X\x0c\x00\x00\x00__defaults__X\x04\x00\x00\x00evil\x85stb."
)
SET_CLASS_ATTR = b"\x80\x02ccollections\nOrderedDict\n(N}X\x05\x00\x00\x00attrsX\x04\x00\x00\x00evilstb."


@pytest.mark.parametrize("body", [SET_DEFAULTS, SET_CLASS_ATTR], ids=["function defaults", "class attribute"])
@pytest.mark.parametrize("fast", [False, True], ids=["python", "C"])
def test_a_build_on_a_builder_is_refused_and_changes_nothing(tmp_path: Path, body: bytes, fast: bool) -> None:
    before = {key: _unpickler_state(v) for key, v in _unpickler.BUILDERS.items()}
    saved = _unpickler.FAST_MIN_BYTES
    _unpickler.FAST_MIN_BYTES = 0 if fast else 1 << 62
    try:
        with pytest.raises(CkptError):
            read_checkpoint(write_torch_zip(tmp_path / "poison.pt", body))
    finally:
        _unpickler.FAST_MIN_BYTES = saved
    assert {key: _unpickler_state(v) for key, v in _unpickler.BUILDERS.items()} == before
    sample = read_checkpoint(SAMPLES / "training.pth")  # a later read is unaffected
    assert sample.tensors["model_state_dict.head.weight"].shape == (4, 16)


def _unpickler_state(value: object) -> object:
    fn = getattr(value, "_fn", None)
    if fn is not None:
        return (fn.__defaults__, fn.__kwdefaults__, dict(fn.__dict__))
    return dict(vars(value)) if isinstance(value, type) else value
