"""Long differential run: mutated checkpoints judged by the oracle (tests/oracle.py) against torch.load.

    python tests/differential_sweep.py --seconds 600 --seed 1

Zip-level mutations (member names: case, NUL, prefix; duplicate and missing entries; directory order; local
headers that name another file; flags; extra fields; compression; sizes and CRCs that lie), pickle-level ones
(storage records: keys, classes, sizes; tensor offsets, shapes and strides; dict keys; the byteorder record),
safetensors header edits and plain byte flips, on the samples. Every case must be identical to torch or refused by
ckpt-tui; anything else is a finding, saved under --findings. Counts go in SECURITY.md.
"""

from __future__ import annotations

import argparse
import io
import json
import pickletools
import random
import struct
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fuzzing import CORPUS, mutate  # noqa: E402
from tests.oracle import compare_files  # noqa: E402
from tests.zipcraft import Item, build_zip  # noqa: E402

STORAGE_CLASSES = ["FloatStorage", "DoubleStorage", "HalfStorage", "LongStorage", "ByteStorage", "BFloat16Storage"]


# -- pickle-level --------------------------------------------------------------------------------------------------


def encode(op: str, arg: object) -> bytes:
    if op == "int":
        n = int(arg)  # type: ignore[call-overload]
        if -(2**31) <= n < 2**31:
            return b"J" + struct.pack("<i", n)
        raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw
    data = str(arg).encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(data)) + data


def mutate_pickle(data: bytes, rng: random.Random) -> bytes:
    """Re-encode one int, string or global of a protocol-2 pickle with a nearby or hostile value."""
    ops = list(pickletools.genops(data))
    ends = [pos for _, _, pos in ops[1:]] + [len(data)]
    spans = [(op, arg, pos, end) for (op, arg, pos), end in zip(ops, ends, strict=True)]
    ints = [x for x in spans if x[0].name in ("BININT", "BININT1", "BININT2", "LONG1")]
    strings = [x for x in spans if x[0].name in ("BINUNICODE", "SHORT_BINUNICODE", "BINSTRING", "SHORT_BINSTRING")]
    globals_ = [x for x in spans if x[0].name == "GLOBAL" and "Storage" in str(x[1])]
    pool = [("int", ints), ("str", strings), ("global", globals_)]
    kind, choices = rng.choice([p for p in pool if p[1]] or [("none", [])])
    if kind == "none":
        return data
    op, arg, pos, end = rng.choice(choices)
    if kind == "int":
        n = int(arg)  # type: ignore[call-overload]
        new = encode("int", rng.choice([n + 1, n - 1, 0, 1, -1, 2 * n, n + 2**31, 2**62, n // 2 + 1]))
    elif kind == "str":
        text = str(arg)
        new = encode("str", rng.choice([text.upper(), text + "x", "0", "1", text + "\0", "", "../" + text, "storage"]))
    else:
        new = b"ctorch\n" + rng.choice(STORAGE_CLASSES).encode() + b"\n"
    return data[:pos] + new + data[end:]


# -- zip-level ------------------------------------------------------------------------------------------------------


def items_of(data: bytes) -> list[Item]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [Item(info.filename.encode(), z.read(info)) for info in z.infolist()]


def mutate_zip(data: bytes, rng: random.Random) -> bytes:
    items = items_of(data)
    order = list(range(len(items)))
    kind = rng.randrange(14)
    target = rng.randrange(len(items))
    item = items[target]
    if kind == 0:  # a name equal but for case, as a second entry
        items.insert(rng.randrange(len(items) + 1), Item(item.name.swapcase(), rng.choice(items).data))
    elif kind == 1:
        item.name = item.name.swapcase()
    elif kind == 2:  # a NUL byte in a name
        at = rng.randrange(len(item.name) + 1)
        item.name = item.name[:at] + b"\0" + item.name[at:]
    elif kind == 3:  # a second entry with the same name
        items.insert(rng.randrange(len(items) + 1), Item(item.name, rng.choice(items).data))
    elif kind == 4:
        del items[target]
    elif kind == 5:
        rng.shuffle(order)
        return build_zip(items, order)
    elif kind == 6:
        item.local_name = rng.choice(items).name
    elif kind == 7:
        item.flags = rng.choice([1, 8, 0x800, 0x40])
    elif kind == 8:
        item.extra = struct.pack("<HH", rng.choice([1, 0x5455, 0xCAFE]), 4) + bytes(4)
    elif kind == 9:
        item.deflate = True
    elif kind == 10:
        item.size_override = max(0, len(item.data) + rng.choice([-4, -1, 1, 4, 1 << 20]))
    elif kind == 11:
        item.crc_override = rng.randrange(2**32)
    elif kind == 12:  # another archive folder for one member
        item.name = b"other/" + item.name.split(b"/", 1)[-1]
    else:
        pkl = next((x for x in items if x.name.endswith(b"data.pkl")), None)
        order_item = next((x for x in items if x.name.endswith(b"byteorder")), None)
        if order_item is not None and rng.random() < 0.3:
            order_item.data = rng.choice([b"big", b"middle", b"LITTLE", b""])
        elif pkl is not None:
            pkl.data = mutate_pickle(pkl.data, rng)
    return build_zip(items)


# -- legacy and safetensors -----------------------------------------------------------------------------------------


def mutate_legacy(data: bytes, rng: random.Random) -> bytes:
    """Mutate one of the legacy format's five pickles (magic, protocol, sys info, objects, storage keys)."""
    bounds, pos = [], 0
    for _ in range(5):
        end = pos + max(p for _, _, p in pickletools.genops(data[pos:])) + 1
        bounds.append((pos, end))
        pos = end
    start, end = bounds[rng.choice([2, 3, 3, 3, 4])]
    return data[:start] + mutate_pickle(data[start:end], rng) + data[end:]


def mutate_safetensors(data: bytes, rng: random.Random) -> bytes:
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    kind = rng.randrange(6)
    if kind == 0:
        header[name]["data_offsets"][rng.randrange(2)] += rng.choice([-4, 4, 2])
    elif kind == 1:
        header[name]["shape"] = header[name]["shape"][::-1] + ([1] if rng.random() < 0.5 else [])
    elif kind == 2:
        header[name]["dtype"] = rng.choice(["F16", "BF16", "I32", "F64", "U8", "F8_E4M3", "C64"])
    elif kind == 3:
        body += bytes(rng.choice([1, 8, 64]))
    elif kind == 4:
        header["__metadata__"] = {"format": "pt", "x": rng.choice(["1", "\x1b]52;c;AAAA\x07"])}
    else:
        body = body[: -rng.choice([1, 4])]
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def case(rng: random.Random, corpus: dict[Path, bytes]) -> tuple[str, str, bytes]:
    path = rng.choice(list(corpus))
    data = corpus[path]
    if path.suffix == ".safetensors":
        return "safetensors", ".safetensors", mutate_safetensors(data, rng)
    if rng.random() < 0.15:
        return "bytes", path.suffix, mutate(data, rng, list(corpus.values()))
    if data[:2] == b"PK":
        return (
            ("zip" if rng.random() < 0.5 else "pickle"),
            ".pt",
            (mutate_zip(data, rng) if rng.random() < 0.5 else _pickle_in_zip(data, rng)),
        )
    return "legacy", ".pt", mutate_legacy(data, rng)


def _pickle_in_zip(data: bytes, rng: random.Random) -> bytes:
    items = items_of(data)
    for item in items:
        if item.name.endswith(b"data.pkl"):
            for _ in range(rng.randint(1, 3)):
                item.data = mutate_pickle(item.data, rng)
    return build_zip(items)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--findings", type=Path, default=Path(tempfile.gettempdir()) / "ckpt-tui-differential")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = {p: p.read_bytes() for p in CORPUS}
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    findings: list[str] = []
    deadline = time.monotonic() + args.seconds
    args.findings.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < deadline:
            batch = []
            for n in range(args.batch):
                kind, suffix, data = case(rng, corpus)
                path = Path(tmp) / f"{n}-{kind}{suffix}"
                path.write_bytes(data)
                batch.append(path)
                kinds[kind] += 1
            for path, verdict in compare_files(batch).items():
                outcomes[verdict.outcome] += 1
                if not verdict.ok:
                    saved = args.findings / f"finding-{len(findings)}{path.suffix}"
                    saved.write_bytes(path.read_bytes())
                    findings.append(f"{saved}: {verdict.detail[:300]}")
    total = sum(outcomes.values())
    print(
        f"{total} cases in {args.seconds:.0f} s (seed {args.seed}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )
    print("by mutation: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for finding in findings[:20]:
        print("---", finding)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
