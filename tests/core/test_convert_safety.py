"""The write side's promises: outputs never more dangerous than inputs, never over an input, verified honestly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ckpt_tui.cli import main
from ckpt_tui.converters import copy as copy_module
from ckpt_tui.converters.convert import ConvertOptions, convert
from ckpt_tui.converters.safe_globals import NUMPY, WEIGHTS_ONLY, globals_in
from ckpt_tui.errors import CkptError, UsageError, VerificationError
from ckpt_tui.formats import read_checkpoint
from tests.core.test_hostile import in_dict, payloads, pickle_of
from tests.helpers import SAMPLES, data_pkl_of, write_torch_zip

PAYLOADS = sorted(payloads(Path("/nonexistent")))


def run_convert(source: Path, out: Path, **options: object):  # type: ignore[no-untyped-def]
    return convert(read_checkpoint(source), ConvertOptions(output=str(out), **options))  # type: ignore[arg-type]


def loads_weights_only(*paths: Path, numpy_allowlist: bool = False) -> list[str]:
    """torch.load(weights_only=True) in a child process (the judge): the repr of each file's contents, or ERROR."""
    allow = (
        "import numpy as np\n"
        "torch.serialization.add_safe_globals([np._core.multiarray._reconstruct, np._core.multiarray.scalar, "
        "np.ndarray, np.dtype, type(np.dtype(np.uint32)), type(np.dtype(np.float64)), type(np.dtype(np.int64)), "
        "(np._core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'), "
        "(np._core.multiarray.scalar, 'numpy.core.multiarray.scalar')])\n"
        if numpy_allowlist
        else ""
    )
    code = f"""import sys, torch
{allow}for path in sys.argv[1:]:
    try:
        print(repr(torch.load(path, weights_only=True)).replace(chr(10), " "))
    except Exception as e:
        print("ERROR", type(e).__name__)
"""
    result = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=60)
    return result.stdout.splitlines()


def test_our_safe_globals_are_torchs() -> None:
    from torch._weights_only_unpickler import _get_allowed_globals

    assert WEIGHTS_ONLY <= set(_get_allowed_globals())


@pytest.mark.parametrize("name", PAYLOADS)
def test_a_payload_never_converts_into_a_loadable_payload(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "MARKER"
    source = write_torch_zip(tmp_path / "evil.pt", pickle_of(in_dict(payloads(marker)[name])))
    out = tmp_path / "out.pt"
    try:
        run_convert(source, out, to="pth")
    except CkptError as e:
        assert "\n" not in str(e) and not out.exists()
    else:  # converted: then only into what torch's safe loader accepts
        assert globals_in(data_pkl_of(out)) <= WEIGHTS_ONLY | NUMPY
    assert not marker.exists()


def test_refusal_names_the_globals_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    source = write_torch_zip(tmp_path / "evil.pt", pickle_of(in_dict(payloads(marker)["os.system"])))
    assert main(["convert", str(source), "--to", "pth", "-o", str(tmp_path / "out.pt")]) == 2
    err = capsys.readouterr().err
    assert "os.system" in err and "--carry-unsafe-globals" in err and err.count("\n") == 1
    assert not (tmp_path / "out.pt").exists() and not marker.exists()


def test_carrying_unsafe_globals_is_explicit_and_loud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    source = write_torch_zip(tmp_path / "evil.pt", pickle_of(in_dict(payloads(marker)["os.system"])))
    out = tmp_path / "out.pt"
    argv = ["convert", str(source), "--to", "pth", "-o", str(out), "--carry-unsafe-globals", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["unsafe_globals"] == ["os.system"]
    assert "no safer than the input" in captured.err
    assert "os.system" in globals_in(data_pkl_of(out))  # carried, as asked ...
    assert loads_weights_only(out)[0].startswith("ERROR")  # ... and torch's safe loader refuses it, as it did the input
    assert not marker.exists()


def test_default_pth_output_loads_weights_only(tmp_path: Path) -> None:
    import numpy as np

    state = {"w": torch.arange(6.0).reshape(2, 3), "rng": np.random.default_rng(0).integers(0, 9, 4, dtype=np.uint32),
             "loss": np.float64(0.25), "step": 3}  # fmt: skip
    torch.save(state, tmp_path / "in.pt")
    run_convert(tmp_path / "in.pt", tmp_path / "out.pt", to="pth")
    found = globals_in(data_pkl_of(tmp_path / "out.pt"))
    assert found <= WEIGHTS_ONLY | NUMPY
    assert found & NUMPY == globals_in(data_pkl_of(tmp_path / "in.pt")) & NUMPY  # numpy named exactly as read
    original, converted = loads_weights_only(tmp_path / "in.pt", tmp_path / "out.pt", numpy_allowlist=True)
    assert converted == original and "array([" in original


def test_numpy_globals_keep_the_module_path_they_were_read_with(tmp_path: Path) -> None:
    """A numpy 1.x file names numpy.core.multiarray; the output must too (an allowlist names that exact path)."""
    import numpy as np

    torch.save({"a": np.arange(3, dtype=np.int64), "s": np.float64(1.5)}, tmp_path / "new.pt")
    old = data_pkl_of(tmp_path / "new.pt").replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    write_torch_zip(tmp_path / "old.pt", old)
    run_convert(tmp_path / "old.pt", tmp_path / "out.pt", to="pth")
    found = globals_in(data_pkl_of(tmp_path / "out.pt"))
    assert {"numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar"} <= found
    assert not any(g.startswith("numpy._core") for g in found)
    assert "array([0, 1, 2])" in loads_weights_only(tmp_path / "out.pt", numpy_allowlist=True)[0]


# -- outputs over inputs -----------------------------------------------------------------------------------------


@pytest.fixture
def shard_set(tmp_path: Path) -> Path:
    directory = tmp_path / "set"
    directory.mkdir()
    run_convert(SAMPLES / "training.pth", directory / "model.safetensors", all_tensors=True, max_shard_size=3000)
    return directory


def test_no_output_replaces_an_input_even_with_force(shard_set: Path, tmp_path: Path) -> None:
    index = shard_set / "model.safetensors.index.json"
    before = {p.name: p.read_bytes() for p in shard_set.iterdir()}
    shard = sorted(shard_set.glob("model-*.safetensors"))[0]
    (tmp_path / "link.safetensors").symlink_to(shard)
    os.link(shard, tmp_path / "hard.safetensors")
    for out in (shard, index, tmp_path / "link.safetensors", tmp_path / "hard.safetensors"):
        with pytest.raises(UsageError, match="never written over"):
            run_convert(index, out, force=True)
    with pytest.raises(UsageError, match="never written over"):  # its shards would be the input's shards
        run_convert(index, shard_set / "model.safetensors", force=True, max_shard_size=3000)
    assert {p.name: p.read_bytes() for p in shard_set.iterdir()} == before


def test_shards_linked_from_elsewhere_are_reported(shard_set: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shard = sorted(shard_set.glob("model-*.safetensors"))[0]
    shard.rename(elsewhere / shard.name)
    shard.symlink_to(elsewhere / shard.name)
    report = run_convert(shard_set / "model.safetensors.index.json", tmp_path / "one.safetensors")
    assert any(shard.name in n and "outside" in n for n in report.notices)


# -- verification is honest --------------------------------------------------------------------------------------


def flipping_writes(monkeypatch: pytest.MonkeyPatch, which: int) -> None:
    """From now on, the `which`-th write of a conversion reaches the file with one bit flipped (a disk, a driver or
    a bug corrupting what was written); every other write is faithful."""
    calls = [0]
    faithful = copy_module.write_all

    def write_all(fd: int, data: bytes | memoryview) -> None:
        calls[0] += 1
        if calls[0] == which:
            corrupted = bytearray(data)
            corrupted[len(corrupted) // 2] ^= 0x10
            data = corrupted
        faithful(fd, data)

    monkeypatch.setattr(copy_module, "write_all", write_all)


@pytest.mark.parametrize(("case", "which"), [("header", 1), ("first tensor", 2), ("a later tensor", 9)])
def test_a_bit_flipped_on_the_way_to_the_file_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, which: int
) -> None:
    torch.save({f"w{i}": torch.randn(64, 64) for i in range(10)}, tmp_path / "in.pt")
    flipping_writes(monkeypatch, which)
    with pytest.raises(VerificationError, match="differs from its source|read back"):
        run_convert(tmp_path / "in.pt", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_a_bit_flipped_in_a_cast_tensor_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save({"w": torch.randn(64, 64)}, tmp_path / "in.pt")
    flipping_writes(monkeypatch, 2)
    with pytest.raises(VerificationError, match="differs from its source"):
        run_convert(tmp_path / "in.pt", tmp_path / "out.safetensors", dtype="bf16")
    assert not (tmp_path / "out.safetensors").exists()


def test_without_verification_the_same_flip_goes_unnoticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flips above are real: unverified, the corrupted file is written (and differs from its source)."""
    torch.save({"w": torch.randn(64, 64)}, tmp_path / "in.pt")
    flipping_writes(monkeypatch, 2)
    run_convert(tmp_path / "in.pt", tmp_path / "out.safetensors", verify=False)
    from safetensors.torch import load_file

    assert not torch.equal(load_file(tmp_path / "out.safetensors")["w"], torch.load(tmp_path / "in.pt")["w"])


RSS_SCRIPT = """
import sys


def peak_kb():  # VmHWM, not ru_maxrss: the latter keeps the peak of the pytest process this child was forked from
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])


from ckpt_tui.converters.convert import ConvertOptions, convert
from ckpt_tui.formats import read_checkpoint
ckpt = read_checkpoint(sys.argv[1])
convert(ckpt, ConvertOptions(sys.argv[2] + ".small.safetensors"))  # every import and first use paid for
before = peak_kb()
convert(ckpt, ConvertOptions(sys.argv[2]))
convert(ckpt, ConvertOptions(sys.argv[2] + ".bf16.safetensors", dtype="bf16"))
print((peak_kb() - before) // 1024)
"""


def test_verified_convert_memory_does_not_grow_with_the_tensor(tmp_path: Path) -> None:
    """A 384 MB tensor converted (copied, and cast) with verification: peak RSS grows by a few chunks (the issue's
    bound is 100 MB whatever the size), far less than the tensor."""
    torch.save({"big": torch.ones(96 << 20)}, tmp_path / "in.pt")
    script = RSS_SCRIPT
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "in.pt"), str(tmp_path / "out.safetensors")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) < 100, result.stdout
