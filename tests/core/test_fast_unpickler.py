"""The fast path (CPython's C unpickler behind `vouch`) reads exactly what the pure-Python unpickler reads: the same
entries, notices and errors, on every sample, on hostile files, on mutated samples and on generated pickles; and
the memo bomb and the BYTEARRAY8 allocation never reach it."""

from __future__ import annotations

import io
import pickle
import random
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ckpt_tui.errors import CkptError
from ckpt_tui.formats import _pickled, _unpickler, read_checkpoint
from ckpt_tui.formats._entries import EntryBuilder
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._unpickler import memo_limit, vouch
from ckpt_tui.model import Checkpoint, Entry, Storage
from tests.core.test_hostile import g, payloads, pickle_of, s
from tests.fuzzing import CORPUS, mutate
from tests.helpers import data_pkl_of, write_torch_zip

SAMPLES = [p for p in CORPUS if p.suffix == ".pth"]


@contextmanager
def fast_path(enabled: bool) -> Iterator[list[bool]]:
    """Force the fast path on every pickle (however small) or turn it off; yields, per pickle read, whether the
    C unpickler produced the result."""
    used: list[bool] = []
    saved, original = _unpickler.FAST_MIN_BYTES, _pickled.fast_load

    def recording(data: bytes, persistent_load: Any) -> Any:
        result = original(data, persistent_load) if enabled else None
        used.append(result is not None)
        return result

    _unpickler.FAST_MIN_BYTES, _pickled.fast_load = 0, recording
    try:
        yield used
    finally:
        _unpickler.FAST_MIN_BYTES, _pickled.fast_load = saved, original


def outcome(read: Callable[[], Checkpoint]) -> tuple[str, Any]:
    try:
        ckpt = read()
    except CkptError as e:
        return "error", (type(e).__name__, str(e))
    walked = type(ckpt).tensors.func(ckpt)  # type: ignore[attr-defined] # what the cached property computes
    assert list(ckpt.tensors.items()) == list(walked.items()), "tensors gathered while building differ from a walk"
    return "ok", (ckpt.format, ckpt.notices, shape_of(ckpt.root, {}), list(ckpt.tensors.items()))


def shape_of(entry: Entry, seen: dict[int, int]) -> Any:
    """A comparable picture of an entry tree; a shared entry appears once, then as a back-reference (which
    also checks that the two readers share the same subtrees)."""
    if id(entry) in seen:
        return ("ref", seen[id(entry)])
    seen[id(entry)] = len(seen)
    return (
        entry.kind,
        entry.type_name,
        repr(entry.value),
        tuple((repr(k), shape_of(c, seen)) for k, c in entry.children),
        tuple((repr(k), shape_of(c, seen)) for k, c in entry.attrs),
    )


def both(path: Path) -> tuple[tuple[str, Any], tuple[str, Any], list[bool]]:
    with fast_path(True) as used:
        fast = outcome(lambda: read_checkpoint(path))
    with fast_path(False):
        slow = outcome(lambda: read_checkpoint(path))
    return fast, slow, used


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_read_identically(sample: Path) -> None:
    fast, slow, used = both(sample)
    assert fast == slow
    if sample.name != "legacy.pth":  # legacy files stream several pickles from the file: always the Python path
        assert used and all(used), "the C unpickler should have read every pickle of this sample"


@pytest.mark.parametrize("name", sorted(payloads(Path("x"))))
def test_hostile_payloads_read_identically(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "MARKER"
    body = b"}(" + s("payload") + payloads(marker)[name] + b"u"
    path = write_torch_zip(tmp_path / "evil.pt", pickle_of(body))
    fast, slow, _ = both(path)
    assert fast == slow
    assert not marker.exists()


def test_mutated_samples_read_identically(tmp_path: Path) -> None:
    rng = random.Random(16)
    corpus = [p.read_bytes() for p in SAMPLES]
    fast_used = 0
    for case in range(150):
        path = tmp_path / f"case{case}.pt"
        if case % 2:  # the reader checks data.pkl's CRC: mutate the pickle inside, and write the CRC it then has
            data = _with_mutated_pickle(rng.choice([c for c in corpus if c[:2] == b"PK"]), rng)
        else:
            data = mutate(rng.choice(corpus), rng, corpus)
        path.write_bytes(data)
        fast, slow, used = both(path)
        assert fast == slow, f"case {case}"
        fast_used += any(used)
    assert fast_used > 20  # the comparison meant something: many mutants went through the C unpickler


def _with_mutated_pickle(data: bytes, rng: random.Random) -> bytes:
    """A zip sample rebuilt with its data.pkl mutated at the opcode level (and its CRC right)."""
    import zipfile

    from tests.differential_sweep import mutate_pickle
    from tests.zipcraft import Item, build_zip

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            items = [Item(i.filename.encode(), z.read(i)) for i in z.infolist()]
    except zipfile.BadZipFile:
        return data
    for item in items:
        if item.name.endswith(b"data.pkl"):
            item.data = mutate_pickle(item.data, rng)  # one int, string or storage class re-encoded
    return build_zip(items)


# -- generated pickles: random opcode sequences from the vouched-for set, and some that are not ------------------

OPCODE = st.one_of(
    st.sampled_from(
        [
            b"(",
            b")",
            b"0",
            b"1",
            b"2",
            b"N",
            b"\x88",
            b"\x89",
            b"]",
            b"}",
            b"\x8f",
            b"t",
            b"\x85",
            b"\x86",
            b"\x87",
            b"l",
            b"d",
            b"a",
            b"e",
            b"s",
            b"u",
            b"\x90",
            b"\x91",
            b"R",
            b"b",
            b"\x81",
            b"Q",
            b"\x93",
            b"\x94",
            g("collections", "OrderedDict"),
            g("torch", "FloatStorage"),
            g("torch._utils", "_rebuild_tensor_v2"),
            g("torch", "Size"),
            g("builtins", "set"),
            g("os", "system"),
            g("__builtin__", "eval"),
            s("storage"),
            s("cpu"),
            s("a"),
            b"\x8c\x01b",
            b"U\x01c",
            b"C\x02\x00\x01",
            b"G" + struct.pack(">d", 1.5),
            b"\x8a\x01\x05",
            b"\x96" + struct.pack("<Q", 2) + b"ab",
            b"I1\n",  # text opcodes: never vouched for
            b"p3\n",
            b"g0\n",
        ]
    ),
    st.integers(0, 255).map(lambda i: b"K" + bytes([i])),
    st.integers(0, 2**16 - 1).map(lambda i: b"M" + struct.pack("<H", i)),
    st.integers(-(2**31), 2**31 - 1).map(lambda i: b"J" + struct.pack("<i", i)),
    st.integers(0, 6).map(lambda i: b"q" + bytes([i])),
    st.integers(0, 6).map(lambda i: b"h" + bytes([i])),
    st.integers(0, 6).map(lambda i: b"j" + struct.pack("<I", i)),
    st.sampled_from([0, 1, 5, 300, 2**31]).map(lambda i: b"r" + struct.pack("<I", i)),
)


def unpickled(data: bytes, fast: bool) -> tuple[str, Any]:
    """What one unpickler makes of `data`: ("ok", entries and unknown globals), ("entry error", message) when the
    objects make no valid entry tree, ("error", kind) when unpickling fails, ("declined", None) from fast_load."""

    def to_storage(ref: StorageRef) -> Storage:
        return Storage("x", ref.key, ref.dtype, ref.numel, ref.location)

    try:
        if fast:
            result = _unpickler.fast_load(data, _unpickler.storage_from_pid)
            if result is None:
                return "declined", None
            raw, unpickler = result
        else:
            unpickler = _unpickler.SafeUnpickler(io.BytesIO(data), _unpickler.storage_from_pid)
            raw = unpickler.load()
        entry = EntryBuilder(to_storage, "x").build(raw)
        return "ok", (shape_of(entry, {}), unpickler.unknown_globals)
    except CkptError as e:
        return "entry error", str(e)
    except Exception as e:  # noqa: BLE001 - any unpickling error
        return "error", type(e).__name__


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPCODE, max_size=40), proto=st.integers(2, 5))
@example(ops=[b")", b"(", b"\x90"], proto=2)  # ADDITEMS on a tuple with nothing to add: C did nothing, Python failed
@example(ops=[b")", b"(", b"e"], proto=2)  # the same for APPENDS
def test_generated_pickles_unpickle_identically(ops: list[bytes], proto: int) -> None:
    """Whatever the C unpickler reads (behind the scan, without error), the Python one reads the same."""
    data = b"\x80" + bytes([proto]) + b"".join(ops) + b"."
    saved = _unpickler.FAST_MIN_BYTES
    _unpickler.FAST_MIN_BYTES = 0
    try:
        fast = unpickled(data, True)
    finally:
        _unpickler.FAST_MIN_BYTES = saved
    if fast[0] != "declined":
        assert unpickled(data, False) == fast


# -- what the scan refuses ---------------------------------------------------------------------------------------


def padded(body: bytes, size: int = 4096) -> bytes:
    """A pickle of about `size` bytes (so that memo limits are realistic): `body`, then POPped filler strings."""
    filler = b"".join(s("x" * 100) + b"0" for _ in range(size // 106))
    return b"\x80\x02" + filler + body + b"."


def test_vouch_accepts_torch_pickles_and_refuses_the_rest() -> None:
    assert vouch(pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)]}, protocol=2)) is not None
    limit = memo_limit(len(padded(b"N")))
    assert vouch(padded(b"N" + b"r" + struct.pack("<I", limit - 1) + b"0")) is not None
    refused = {
        "memo bomb": b"N" + b"r" + struct.pack("<I", limit + 8) + b"0",
        "memo bomb, top index": b"N" + b"r\xff\xff\xff\xff" + b"0",
        "text PUT": b"Np99999999999\n0",
        "BYTEARRAY8 longer than the pickle": b"\x96" + struct.pack("<Q", 16 << 30) + b"abc",
        "BINUNICODE8 longer than the pickle": b"\x8d" + struct.pack("<Q", 1 << 40) + b"abc",
        "BINBYTES8 longer than the pickle": b"\x8e" + struct.pack("<Q", 1 << 62),
        "BINUNICODE longer than the pickle": b"X" + struct.pack("<I", 1 << 31),
        "FRAME": b"\x95" + struct.pack("<Q", 4) + b"N0",
        "text INT": b"I010\n0",
        "EXT1": b"\x82\x01",
        "INST": b"(ios\nsystem\n",
        "NEWOBJ_EX": b"N)}\x92",
    }
    for name, body in refused.items():
        assert vouch(padded(body)) is None, name
    assert vouch(b"\x80\x02N") is None  # no STOP: truncated


BOMB = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a safety net: the bombs ask for 16-64 GiB
from ckpt_tui.formats import _unpickler, read_checkpoint
from ckpt_tui.errors import CkptError
_unpickler.FAST_MIN_BYTES = 0
ran = []
class Watched(_unpickler.FastUnpickler):
    def load(self):
        ran.append(True)
        return super().load()
_unpickler.FastUnpickler = Watched
start = time.monotonic()
try:
    read_checkpoint(sys.argv[1])
    verdict = "ok"
except CkptError as e:
    verdict = "error"
# VmHWM, not ru_maxrss: the latter keeps the peak of the pytest process this child was forked from
rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(verdict, time.monotonic() - start, rss, "C" if ran else "Python")
"""


@pytest.mark.parametrize(
    "body",
    [
        b"]r\xff\xff\xff\xff",  # LONG_BINPUT 2**32 - 1: the C unpickler would size its memo array at 64 GiB
        b"]r\x00\x00\x00\x40",  # 2**30: 16 GiB, zeroed
        b"\x96" + struct.pack("<Q", 16 << 30) + b"abc",  # BYTEARRAY8 of 16 GiB
    ],
    ids=["memo 2**32", "memo 2**30", "bytearray8"],
)
def test_bombs_stay_bounded_in_a_child_process(tmp_path: Path, body: bytes) -> None:
    path = write_torch_zip(tmp_path / "bomb.pt", padded(body, 300_000))
    run = subprocess.run([sys.executable, "-c", BOMB, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    verdict, seconds, peak_mb, unpickler = run.stdout.split()
    assert verdict in ("ok", "error") and float(seconds) < 10 and float(peak_mb) < 500
    assert unpickler == "Python"  # the scan refused it: the C unpickler never saw it


def test_deep_nesting_through_the_fast_path_is_a_clean_error(tmp_path: Path) -> None:
    path = write_torch_zip(tmp_path / "deep.pt", pickle_of(b"]" * 100_000 + b"a" * 99_999))
    with fast_path(True) as used, pytest.raises(CkptError, match="nested deeper than"):
        read_checkpoint(path)
    assert used == [True]


def test_a_big_state_dict_takes_the_fast_path_by_default(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {f"layers.{i}.weight": torch.zeros(2) for i in range(6000)}  # a pickle over FAST_MIN_BYTES
    torch.save(state, tmp_path / "big.pt")
    used: list[bool] = []
    original = _pickled.fast_load

    def recording(data: bytes, persistent_load: Any) -> Any:
        result = original(data, persistent_load)
        used.append(result is not None)
        return result

    _pickled.fast_load = recording
    try:
        ckpt = read_checkpoint(tmp_path / "big.pt")
    finally:
        _pickled.fast_load = original
    assert used == [True] and len(ckpt.tensors) == 6000
    fast, slow, _ = both(tmp_path / "big.pt")
    assert fast == slow


def test_streamed_inspect_json_is_what_emit_json_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """inspect --json to a pipe formats tensor rows directly: byte for byte what json.dumps of the document gives."""
    torch = pytest.importorskip("torch")
    from ckpt_tui.commands._output import emit_json
    from ckpt_tui.commands.inspect import emit_summary_json
    from ckpt_tui.core.summary import summarize
    from ckpt_tui.render.summary import summary_json

    weight = torch.nn.Parameter(torch.ones(2, 3))
    odd = {
        'q"uote\\back\nline': torch.ones(0),
        "\x1b[2J\x85\u202eevil\u2028": torch.ones(()),
        "ünï·cødé": weight,
        "view": weight.data.t(),
        "nested": {"int8": torch.zeros(4, 1, 2, dtype=torch.int8), "bf16": torch.zeros(3, dtype=torch.bfloat16)},
    }
    torch.save(odd, tmp_path / "odd.pt")
    from ckpt_tui.commands import inspect

    def generic_not_used(document: Any) -> None:
        raise AssertionError("the rows were not formatted directly")

    for path in [tmp_path / "odd.pt", *SAMPLES]:
        ckpt = read_checkpoint(path)
        summary = summarize(ckpt)
        emit_json(summary_json(summary, ckpt))
        expected = capsys.readouterr().out
        saved, inspect.emit_json = inspect.emit_json, generic_not_used
        try:
            emit_summary_json(summary, ckpt)
        finally:
            inspect.emit_json = saved
        assert capsys.readouterr().out == expected, path.name


def test_tensors_gathered_while_building_match_a_walk(tmp_path: Path) -> None:
    """Checkpoint.tensors comes from the builder where the tree allows it: the same keys, order and infos as the
    walk over the entry tree, on trees made to differ (empty keys, dotted keys, sharing, attributes, cycles)."""
    torch = pytest.importorskip("torch")
    from collections import OrderedDict

    t, u = torch.ones(2), torch.zeros(3)
    shared = {"w": t, "v": u}
    with_attrs: Any = OrderedDict(a=t)
    with_attrs._metadata = {"hidden": u, "": {"v": 1}}
    cyclic: list[Any] = [t]
    cyclic.append(cyclic)
    trees = {
        "empty first key": {"": {"w": t, "": {"x": u}}, "b": u},
        "dotted keys": {"a.b": t, "a": {"c": u}, "c": [t, {"d": u}]},  # colliding ones are refused (differential)
        "shared": {"x": shared, "y": shared, "z": {"in": shared}},
        "attrs": {"m": with_attrs, "n": u},
        "cycle": {"c": cyclic},
        "root tensor": t,
        "root list": [t, {"a": u}, (t, u)],
        "int keys": {0: t, 1: {2: u, (3, 4): t}, None: u, 1.5: t},
        "module": torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)),
    }
    for name, tree in trees.items():
        torch.save(tree, tmp_path / "t.pt")
        for enabled in (True, False):
            with fast_path(enabled):
                kind, result = outcome(lambda: read_checkpoint(tmp_path / "t.pt"))  # asserts gathered == walked
            assert kind == "ok", name
            assert result[-1], name  # some tensors were found


@pytest.mark.parametrize(
    "depth_of",
    [
        lambda n: b"\x80\x02" + b"N" + b"\x85" * n + b".",  # TUPLE1 chains
        lambda n: b"\x80\x02" + b"(" * n + b"N" + b"t" * n + b".",  # MARK ... TUPLE
        lambda n: b"\x80\x04" + b"(" * n + b"N" + b"\x91" * n + b".",  # MARK ... FROZENSET
        lambda n: b"\x80\x02c__builtin__\nfrozenset\nq\x00" + b"h\x00]" * n + b"N" + b"a\x85R" * n + b".",
    ],
    ids=["TUPLE1", "MARK TUPLE", "FROZENSET", "REDUCE frozenset"],
)
def test_the_nesting_bound_is_never_below_the_depth_a_pickle_builds(depth_of: Callable[[int], bytes]) -> None:
    def depth(obj: Any) -> int:
        level = 0
        while isinstance(obj, tuple | frozenset) and obj:
            obj, level = next(iter(obj)), level + 1
        return level

    for n in (1, 5, 300):
        data = depth_of(n)
        built = pickle.loads(data)  # the stdlib's objects: how deep they nest, not how ckpt-tui reads them
        assert _unpickler.nesting_bound(data) >= depth(built) >= n - 1


def test_the_unpickling_thread_stack_is_sized_by_nesting_not_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sized by length, a 115 MB pickle (1M tensors) asked for a 29 GB stack: the thread could not start and every
    # such file took the pure-Python unpickler, at twice the time per tensor
    torch = pytest.importorskip("torch")
    torch.save({f"layers.{i}.weight": torch.zeros(2) for i in range(6000)}, tmp_path / "big.pt")
    asked: list[int] = []
    real = threading.stack_size
    monkeypatch.setattr(threading, "stack_size", lambda size=0: asked.append(size) or real(size))
    read_checkpoint(tmp_path / "big.pt")
    pickle_size = len(data_pkl_of(tmp_path / "big.pt"))
    stacks = [size for size in asked if size]
    assert stacks and max(stacks) - (64 << 20) < _unpickler.STACK_PER_LEVEL * pickle_size // 4
