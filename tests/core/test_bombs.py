"""Bombs, hangs and crashes: every verb on every such file finishes in seconds, within 300 MB of what the same
verb costs on a benign file, with a clear outcome (exit 0, 1 or 2; no traceback, no signal).

Each class runs in a child process (all verbs in-process, one after another), which reports each verb's exit code
and time and its own peak RSS; the children run two at a time."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.zipcraft import Item, build_zip, call, floats, g, i, mapping, pickle_of, s, storage, tensor, torch_items

ROOT = Path(__file__).resolve().parents[2]
CHILD = r"""
import contextlib, io, json, sys, time
from ckpt_tui.cli import main

def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

report = {}
for name, argv in json.loads(sys.argv[1]):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS (VmHWM) to the current RSS: each verb gets its own peak
    start = time.monotonic()
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code = f"escaped: {type(e).__name__}: {e}"
    verb = argv[0] + (" --stats" if "--stats" in argv else "")
    report[f"{name} | {verb}"] = [code, time.monotonic() - start, peak_mb(), err.getvalue()[-400:]]
print("REPORT " + json.dumps(report))
"""
SECONDS = 20.0  # per verb, generous: these finish in well under a second
OVER_BASELINE_MB = 300


def verbs(path: Path, out: Path) -> list[list[str]]:
    return [
        ["inspect", str(path)],
        ["inspect", "--json", "--stats", str(path)],
        ["diff", str(path), str(path)],
        ["convert", str(path), "-o", str(out / "out.safetensors"), "--force"],
        ["check", str(path), "--model", "sample_checkpoints.models:TinyNet", "--device", "meta", "--no-strict"],
        ["audit", str(path)],
        ["runs", str(path.parent)],
    ]


# -- the files ------------------------------------------------------------------------------------------------------


def deflate_bomb(d: Path) -> Path:
    """data.pkl deflated: a BINBYTES8 of 256 MB of zeros in ~1 MB, its directory entry claiming 100 bytes (a
    truthful 4 GB entry is refused before inflating anything)."""
    inflater = zlib.compressobj(1, zlib.DEFLATED, -15)
    zeros = bytes(16 << 20)
    stream = inflater.compress(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 30))
    stream += b"".join(inflater.compress(zeros) for _ in range(16)) + inflater.flush()
    items = torch_items(b"", {})
    items[0] = Item(b"archive/data.pkl", b"", payload=stream, size_override=100)
    path = d / "deflate.pt"
    path.write_bytes(build_zip(items))
    return path


def stride0_terabytes(d: Path) -> Path:
    body = pickle_of(mapping([(s("w"), tensor(storage("0", 1), 0, (1 << 20, 1 << 20), (0, 0)))]))
    path = d / "stride0.pt"
    path.write_bytes(build_zip(torch_items(body, {"0": floats(1.0)})))
    return path


def self_index(d: Path) -> Path:
    sub = d / "shards"
    sub.mkdir()
    names = [f"./{'./' * n}model.safetensors.index.json" for n in range(200)] + ["model.safetensors.index.json"]
    (sub / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {f"w{n}": x for n, x in enumerate(names)}})
    )
    (sub / "loop").symlink_to(".")
    (sub / "a.index.json").write_text(json.dumps({"weight_map": {"x": "loop"}}))
    return sub / "model.safetensors.index.json"


def dcp_multiply(d: Path) -> Path:
    """.metadata whose one list of 10,000 chunks (memo-shared) is referenced by 2,000 tensors: 2e7 chunk visits."""
    sub = d / "dcp"
    sub.mkdir()
    module = "torch.distributed.checkpoint.metadata"

    def obj(name: str, state: bytes) -> bytes:
        return g(module, name) + b")\x81" + state + b"b"

    zero, one = b"(" + i(0) + i(0) + b"t", b"(" + i(1) + i(1) + b"t"
    chunk = obj("ChunkStorageMetadata", mapping([(s("offsets"), zero), (s("sizes"), one)]))
    chunks = b"](" + chunk * 10_000 + b"e" + b"r" + struct.pack("<I", 1)
    props = obj("TensorProperties", mapping([(s("dtype"), g("torch", "float32"))]))
    size = b"(" + i(100) + i(100) + b"t"

    def meta(chunk_list: bytes) -> bytes:
        return obj(
            "TensorStorageMetadata", mapping([(s("properties"), props), (s("size"), size), (s("chunks"), chunk_list)])
        )

    shared = b"j" + struct.pack("<I", 1)
    items = s("t0") + meta(chunks) + b"".join(s(f"t{n}") + meta(shared) for n in range(1, 2_000))
    info = (
        g("torch.distributed.checkpoint.filesystem", "_StorageInfo")
        + b")\x81"
        + mapping([(s("relative_path"), s("d.distcp")), (s("offset"), i(0)), (s("length"), i(4))])
        + b"b"
    )
    index = b"".join(
        g(module, "MetadataIndex") + b")\x81" + mapping([(s("fqn"), s(f"t{n}")), (s("offset"), zero)]) + b"b" + info
        for n in range(2_000)
    )
    meta_obj = obj(
        "Metadata",
        mapping([(s("state_dict_metadata"), b"}(" + items + b"u"), (s("storage_data"), b"}(" + index + b"u")]),
    )
    (sub / ".metadata").write_bytes(pickle_of(meta_obj))
    (sub / "d.distcp").write_bytes(bytes(4))
    return sub


def nested_key(d: Path) -> Path:
    path = d / "nested.pt"
    path.write_bytes(build_zip(torch_items(pickle_of(b"}" + s("x") + b"\x85" * 1_000_000 + s("v") + b"s"))))
    return path


def nested_ordered_dict_key(d: Path) -> Path:
    """OrderedDict([(key nested 1M deep, v)]) in a pickle the C unpickler's scan refuses (a text opcode), so the
    pure-Python unpickler reads it, on the main thread's stack: dict's __init__ would hash the key (SIGSEGV)."""
    pair = b"(" + s("x") + b"\x85" * 1_000_000 + s("v") + b"t"
    odict = call(g("collections", "OrderedDict"), b"]" + pair + b"a")
    path = d / "nested_odict.pt"
    path.write_bytes(build_zip(torch_items(pickle_of(b"I1\n0}" + s("d") + odict + b"s"))))
    return path


def huge_int(d: Path) -> Path:
    big = (1 << 1_000_000) - 1
    raw = big.to_bytes((big.bit_length() + 8) // 8, "little", signed=True)
    long4 = b"\x8b" + struct.pack("<I", len(raw)) + raw
    path = d / "bigint.pt"
    path.write_bytes(build_zip(torch_items(pickle_of(b"}" + s("n") + long4 + b"s" + long4 + s("v") + b"s"))))
    return path


def benign(d: Path) -> Path:
    path = d / "benign.pt"
    path.write_bytes(
        build_zip(
            torch_items(
                pickle_of(mapping([(s("fc.weight"), tensor(storage("0", 4), 0, (2, 2), (2, 1)))])),
                {"0": floats(1, 2, 3, 4)},
            )
        )
    )
    return path


def memo_fanout(d: Path) -> Path:
    """A tuple of a tuple of ... 60 levels deep, each level the previous one twice through the memo: 2**60 paths
    to walk for anything that follows paths instead of entries (the audit's object search once did: a hang)."""
    from tests.helpers import write_torch_zip

    level = b"h%ch%c\x86\x94"  # BINGET the previous level twice, TUPLE2, MEMOIZE
    levels = b"0".join(level % (2 + i, 2 + i) for i in range(60))  # POP between levels; the last one stays
    return write_torch_zip(d / "fanout.pt", b"\x80\x04}\x94\x8c\x01x\x94N\x940" + levels + b"s.")


BOMBS: dict[str, Callable[[Path], Path]] = {
    "memo fan-out, 2**60 paths": memo_fanout,
    "deflated data.pkl of 256 MB": deflate_bomb,
    "stride-0 tensor claiming 4 TB": stride0_terabytes,
    "shard index listing itself": self_index,
    "DCP chunks multiplied through the memo": dcp_multiply,
    "dict key nested 1M deep": nested_key,
    "OrderedDict key nested 1M deep, pure-Python unpickler": nested_ordered_dict_key,
    "int of 300k digits (value and key)": huge_int,
}


def run_child(jobs: list[tuple[str, list[str]]], cwd: Path) -> subprocess.Popen[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(jobs)], cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE, text=True
    )


def report_of(child: subprocess.Popen[str]) -> dict[str, list[object]]:
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, f"the child died (signal or crash): rc {child.returncode}: {stderr[-600:]}"
    line = next(x for x in stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[object]], float]:
    """Every verb on every bomb in one child (torch is imported once), a benign file in another, side by side."""
    root = tmp_path_factory.mktemp("bombs")
    jobs = []
    for n, (name, build) in enumerate(BOMBS.items()):
        (root / str(n)).mkdir()
        jobs += [(name, argv) for argv in verbs(build(root / str(n)), root / str(n))]
    (root / "benign").mkdir()
    baseline = [("benign", argv) for argv in verbs(benign(root / "benign"), root / "benign")]
    children = [run_child(jobs, root), run_child(baseline, root)]
    bombs, benign_report = (report_of(c) for c in children)
    shutil.rmtree(root, ignore_errors=True)
    return bombs, max(float(v[2]) for v in benign_report.values())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_verb_finishes_bounded_and_clear(reports: tuple[dict[str, list[object]], float], name: str) -> None:
    bombs, baseline_mb = reports
    for key, (code, seconds, peak, err) in ((k, v) for k, v in bombs.items() if k.startswith(name + " |")):
        assert code in (0, 1, 2), f"{key}: {code}"
        assert "Traceback" not in str(err) and "internal error" not in str(err), f"{key}: {err}"
        assert float(seconds) < SECONDS, f"{key} took {seconds} s"  # type: ignore[arg-type]
        assert float(peak) < baseline_mb + OVER_BASELINE_MB, f"{key}: peak {peak} MB vs {baseline_mb:.0f} MB benign"  # type: ignore[arg-type]


def test_the_bombs_are_refused_or_shown_as_they_should(reports: tuple[dict[str, list[object]], float]) -> None:
    def code(name: str, verb: str) -> object:
        return reports[0][f"{name} | {verb}"][0]

    assert code("deflated data.pkl of 256 MB", "inspect") == 2
    assert code("stride-0 tensor claiming 4 TB", "inspect") == 0  # showing it is fine
    assert code("stride-0 tensor claiming 4 TB", "inspect --stats") == 2
    assert code("stride-0 tensor claiming 4 TB", "convert") == 2
    # refused for what it is, before the output is sized for 4 TB (which failed later, as a full disk)
    assert "zero strides" in str(reports[0]["stride-0 tensor claiming 4 TB | convert"][3])
    assert code("dict key nested 1M deep", "inspect") == 2
    assert code("OrderedDict key nested 1M deep, pure-Python unpickler", "inspect") == 2
    assert code("int of 300k digits (value and key)", "inspect") == 0
    assert code("DCP chunks multiplied through the memo", "inspect") == 2
    assert code("shard index listing itself", "inspect") in (0, 2)
