"""Hostile and broken files, built by code. Every payload would create MARKER if it ever ran: it must never
appear, and the outcome must be a safe view (opaque placeholders) or a clean CkptError — also through the CLI."""

from __future__ import annotations

import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ckpt_tui.cli import main
from ckpt_tui.core.summary import summarize
from ckpt_tui.errors import CkptError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Kind
from tests.fuzzing import exercise
from tests.helpers import write_torch_zip
from tests.zipcraft import call, g, s

# -- a tiny pickle assembler (protocol 2/4 opcodes) --------------------------------------------------------------


def pickle_of(body: bytes, proto: int = 2) -> bytes:
    return b"\x80" + bytes([proto]) + body + b"."


def in_dict(value: bytes) -> bytes:
    return b"}(" + s("payload") + value + b"u"


# -- payloads ----------------------------------------------------------------------------------------------------


def payloads(marker: Path) -> dict[str, bytes]:
    cmd = f"touch {marker}"
    py = f"open({str(marker)!r}, 'w').close()"
    nested = pickle_of(call(g("os", "system"), s(cmd)))
    return {
        "os.system": call(g("os", "system"), s(cmd)),
        "posix.system": call(g("posix", "system"), s(cmd)),
        "subprocess.call": call(g("subprocess", "call"), b"(" + s("touch") + s(str(marker)) + b"l"),
        "subprocess.Popen": call(g("subprocess", "Popen"), b"(" + s("touch") + s(str(marker)) + b"l"),
        "builtins.eval": call(g("builtins", "eval"), s(py)),
        "builtins.exec": call(g("builtins", "exec"), s(py)),
        "__builtin__.eval": call(g("__builtin__", "eval"), s(py)),
        "getattr chain": call(
            call(g("builtins", "getattr"), call(g("builtins", "__import__"), s("os")), s("system")), s(cmd)
        ),
        "importlib": call(
            call(g("builtins", "getattr"), call(g("importlib", "import_module"), s("os")), s("system")), s(cmd)
        ),
        "runpy": call(g("runpy", "run_path"), s("/dev/null")),
        "nested pickle.loads": call(
            g("pickle", "loads"), call(g("_codecs", "encode"), s(nested.decode("latin-1")), s("latin1"))
        ),
        "marshal.loads": call(g("marshal", "loads"), call(g("_codecs", "encode"), s("\xe3"), s("latin1"))),
        "functools.partial": call(
            call(g("functools", "partial"), g("os", "system"), s(cmd)),
        ),
        "operator.methodcaller": call(
            call(g("operator", "methodcaller"), s("system"), s(cmd)), call(g("builtins", "__import__"), s("os"))
        ),
        "operator.attrgetter": call(
            call(g("operator", "attrgetter"), s("system")), call(g("builtins", "__import__"), s("os"))
        ),
        "BUILD on OrderedDict": call(g("collections", "OrderedDict"))
        + b"}("
        + s("__class__")
        + g("os", "system")
        + b"ub",
        "setstate trick": call(g("collections", "OrderedDict")) + b"(" + g("os", "system") + s(cmd) + b"tb",
        "NEWOBJ of os._wrap_close": g("os", "_wrap_close") + b")\x81",
        "smuggled torch._utils": call(g("torch._utils", "_import_dotted_name"), s("os.system")),
        "smuggled collections": call(g("collections", "defaultdict"), g("os", "system")),
        "torch.storage._load_from_bytes": call(g("torch.storage", "_load_from_bytes"), b"C\x00"),
        "torch.load itself": call(g("torch", "load"), s("/etc/passwd")),
        "tensor rebuilder with junk": call(
            g("torch._utils", "_rebuild_tensor_v2"), g("os", "system"), b"K\x00", b")", b")", b"\x89", b"N"
        ),
    }


def stack_global_memo(marker: Path) -> bytes:
    """Protocol 4: STACK_GLOBAL with its names fetched from the memo (the picklescan confusion)."""

    def short(text: str) -> bytes:
        return b"\x8c" + bytes([len(text)]) + text.encode()

    return (
        b"\x80\x04"
        + short("os")
        + b"\x94"
        + short("system")
        + b"\x94"
        + b"h\x00h\x01\x93"
        + short(f"touch {marker}")
        + b"\x85R."
    )


def assert_safe(path: Path, marker: Path) -> None:
    """Reading, summarising, statistics, inspecting (text and JSON) either work or fail cleanly, and run nothing."""
    assert exercise(path) in ("ok", "error")  # what the fuzzer runs: anything but a CkptError propagates
    for argv in (["inspect", str(path)], ["inspect", "--json", str(path)]):
        assert main(argv) in (0, 2)
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("name", sorted(payloads(Path("x"))))
def test_payload_in_zip_data_pkl(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    path = write_torch_zip(tmp_path / "evil.pt", pickle_of(in_dict(payloads(marker)[name])))
    assert_safe(path, marker)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "nested pickle.loads", "functools.partial"])
def test_payload_in_legacy_format_and_plain_pickle(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "MARKER"
    body = pickle_of(in_dict(payloads(marker)[name]))
    magic = pickle_of(b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little"))
    header = magic + pickle_of(b"M\xe9\x03") + pickle_of(b"}")
    (tmp_path / "legacy.pt").write_bytes(header + body + pickle_of(b"]"))
    (tmp_path / "plain.pkl").write_bytes(body)
    assert_safe(tmp_path / "legacy.pt", marker)
    assert_safe(tmp_path / "plain.pkl", marker)
    root = read_checkpoint(tmp_path / "legacy.pt").root
    assert root.child("payload") is not None and root.child("payload").kind is Kind.OPAQUE  # type: ignore[union-attr]


def test_stack_global_from_memo(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    path = write_torch_zip(tmp_path / "evil.pt", stack_global_memo(marker))
    assert_safe(path, marker)
    assert read_checkpoint(path).root.type_name == "<call>" or read_checkpoint(path).root.kind is Kind.OPAQUE


def test_payload_in_numpy_object_array(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            import os

            return os.system, (f"touch {marker}",)

    import numpy as np

    array = np.empty(2, dtype=object)
    array[:] = [Payload(), 1]
    torch.save({"arr": array}, tmp_path / "np.pt")
    assert_safe(tmp_path / "np.pt", marker)
    arr = read_checkpoint(tmp_path / "np.pt").root.child("arr")
    assert arr is not None and arr.type_name == "numpy.ndarray[object]"


def test_polyglot_zip_and_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    evil = pickle_of(in_dict(payloads(marker)["os.system"]))
    benign = write_torch_zip(tmp_path / "benign.pt", pickle_of(b"}")).read_bytes()
    (tmp_path / "pickle_then_zip.pt").write_bytes(evil + benign)
    (tmp_path / "zip_then_pickle.pt").write_bytes(benign + evil)
    assert_safe(tmp_path / "pickle_then_zip.pt", marker)
    assert_safe(tmp_path / "zip_then_pickle.pt", marker)


def test_zip_with_two_data_pkl_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    path = tmp_path / "dup.pt"
    with zipfile.ZipFile(path, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr("archive/data.pkl", pickle_of(b"}"))
        z.writestr("archive/data.pkl", pickle_of(in_dict(payloads(marker)["os.system"])))
    with pytest.raises(CkptError, match="names 'archive/data.pkl' twice"):
        read_checkpoint(path)
    assert_safe(path, marker)


def test_traversal_member_names_and_lying_sizes(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    rebuild = g("torch._utils", "_rebuild_tensor_v2")
    storage = (
        b"(" + s("storage") + g("torch", "FloatStorage") + s("../../../etc/passwd") + s("cpu") + b"J\x00\x00\x10\x00tQ"
    )
    tensor = (
        rebuild
        + b"("
        + storage
        + b"K\x00(J\x00\x00\x10\x00t(K\x01t\x89"
        + call(g("collections", "OrderedDict"))
        + b"tR"
    )
    path = write_torch_zip(
        tmp_path / "t.pt", pickle_of(b"}(" + s("w") + tensor + b"u"), {"../../../etc/passwd": b"\0" * 16}
    )
    with pytest.raises(CkptError, match="tensor 'w': its storage 'data/../../../etc/passwd' holds 16 bytes"):
        read_checkpoint(path)  # checked on open, from the zip's directory
    assert_safe(path, marker)


# -- bombs and lies -----------------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], limit: float = 5.0) -> None:
    start = time.monotonic()
    fn()
    assert time.monotonic() - start < limit


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write_torch_zip(tmp_path / "deep.pt", pickle_of(b"]" * 100_000 + b"a" * 99_999))
    timed(lambda: pytest.raises(CkptError, read_checkpoint, path))
    with pytest.raises(CkptError, match="nested deeper than"):
        read_checkpoint(path)


def test_billion_laughs_stays_linear(tmp_path: Path) -> None:
    body = b"]q\x00" + b"".join(
        b"(" + b"h" + bytes([i]) * 1 + b"h" + bytes([i]) * 1 + b"h" + bytes([i]) + b"l" + b"q" + bytes([i + 1])
        for i in range(60)
    )
    path = write_torch_zip(tmp_path / "laughs.pt", pickle_of(body))
    timed(lambda: summarize(read_checkpoint(path)))
    assert main(["inspect", "--json", str(path)]) == 0


def test_shape_overflow_is_rejected(tmp_path: Path) -> None:
    storage = b"(" + s("storage") + g("torch", "FloatStorage") + s("0") + s("cpu") + b"K\x04tQ"
    huge = b"(" + b"\x8a\x08" + (2**62).to_bytes(8, "little") + b"\x8a\x08" + (2**62).to_bytes(8, "little") + b"t"
    tensor = call(
        g("torch._utils", "_rebuild_tensor_v2"),
        storage,
        b"K\x00",
        huge,
        b"(K\x01K\x01t",
        b"\x89",
        call(g("collections", "OrderedDict")),
    )
    path = write_torch_zip(tmp_path / "huge.pt", pickle_of(tensor), {"0": b"\0" * 16})
    with pytest.raises(CkptError, match="spans .* elements but its storage holds 4"):
        read_checkpoint(path)


SAFETENSORS_LIES = {
    "offset past EOF": b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}',
    "overlap": b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
    "hole": b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    "size lies": b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}',
    "duplicate key": b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
    b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    "non-utf8": b'{"\xff\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    "bad dtype": b'{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}',
    "metadata not str": b'{"__metadata__":{"n":1},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
}


@pytest.mark.parametrize("case", sorted(SAFETENSORS_LIES))
def test_safetensors_lies(tmp_path: Path, case: str) -> None:
    header = SAFETENSORS_LIES[case]
    (tmp_path / "lie.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(CkptError):
        read_checkpoint(tmp_path / "lie.safetensors")


def test_four_gigabyte_header_length(tmp_path: Path) -> None:
    (tmp_path / "big.safetensors").write_bytes(struct.pack("<Q", 4 << 30) + b'{"a": 1}')
    with pytest.raises(CkptError):
        read_checkpoint(tmp_path / "big.safetensors")
    (tmp_path / "big.pkl").write_bytes(b"\x80\x04\x8d" + struct.pack("<Q", 4 << 30) + b"abc")
    timed(lambda: pytest.raises(CkptError, read_checkpoint, tmp_path / "big.pkl"))
    # BYTEARRAY8: the stdlib's pure-Python unpickler allocated (and zeroed) the declared length before reading
    (tmp_path / "ba8.pkl").write_bytes(b"\x80\x05\x96" + struct.pack("<Q", 16 << 30) + b"abc.")
    timed(lambda: pytest.raises(CkptError, read_checkpoint, tmp_path / "ba8.pkl"), limit=2.0)


# -- display safety ---------------------------------------------------------------------------------------------


def test_cli_prints_hostile_text_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "[bold red]key[/]\x1b[2J\x1b]0;title\x07\u202eevil"
    torch.save({evil: torch.ones(1), "note": evil}, tmp_path / "evil.pt")
    assert main(["inspect", str(tmp_path / "evil.pt")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "[bold red]key[/]\\x1b[2J\\x1b]0;title\\x07\\u202eevil" in out
    assert main(["diff", str(tmp_path / "evil.pt"), str(tmp_path / "evil.pt")]) == 0
    assert "\x1b" not in capsys.readouterr().out


LIVE = [
    "os.system",
    "subprocess.call",
    "builtins.eval",
    "builtins.exec",
    "getattr chain",
    "importlib",
    "nested pickle.loads",
    "functools.partial",
    "operator.methodcaller",
]


@pytest.mark.parametrize("name", LIVE)
def test_the_payloads_are_live(tmp_path: Path, name: str) -> None:
    """The suite means something only if these payloads do run under a plain unpickler (in a subprocess)."""
    import subprocess
    import sys

    marker = tmp_path / "MARKER"
    (tmp_path / "p.pkl").write_bytes(pickle_of(in_dict(payloads(marker)[name])))
    code = f"import pickle; pickle.loads(open({str(tmp_path / 'p.pkl')!r}, 'rb').read())"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert marker.exists()


def test_memo_shared_subtrees_convert_in_bounded_time(tmp_path: Path) -> None:
    """A DAG whose paths multiply (each level references the previous one 3 times) with a tensor at the bottom:
    reading, summarising and converting visit each distinct object once."""
    from ckpt_tui.converters.convert import ConvertOptions, convert

    storage = b"(" + s("storage") + g("torch", "FloatStorage") + s("0") + s("cpu") + b"K\x02tQ"
    tensor = call(
        g("torch._utils", "_rebuild_tensor_v2"),
        storage,
        b"K\x00",
        b"(K\x02t",
        b"(K\x01t",
        b"\x89",
        call(g("collections", "OrderedDict")),
    )
    body = b"}(" + s("w") + tensor + b"u" + b"q\x00"
    for i in range(40):  # level i+1 = {"a": level i, "b": level i, "c": level i}
        ref = b"j" + struct.pack("<I", i)
        body += b"}(" + s("a") + ref + s("b") + ref + s("c") + ref + b"ur" + struct.pack("<I", i + 1)
    path = write_torch_zip(tmp_path / "dag.pt", pickle_of(body), {"0": b"\0" * 8})
    timed(lambda: summarize(read_checkpoint(path)))
    timed(lambda: convert(read_checkpoint(path), ConvertOptions(output=str(tmp_path / "o.pt"), to="pth")))
    assert read_checkpoint(tmp_path / "o.pt").root.child("a") is not None
