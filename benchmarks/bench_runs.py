"""A run of 100 checkpoints of several GB each: `ckpt-tui runs --json` beside torch.load of the same files.

Disk stays small: the big tensors are zeros, written as holes (sparse files). One template is written by
torch.save through a writer that seeks over all-zero blocks; each of the 100 checkpoints copies the template's
data extents (SEEK_DATA/SEEK_HOLE) with its own epoch, step and metrics patched into data.pkl (fixed-width pickle
opcodes: BININT and BINFLOAT) and the zip's CRCs fixed, so every file is a valid torch.save zip that torch.load
reads and whose values differ. Reading a sparse hole costs no disk I/O, so torch.load without mmap is measured on
a few files and scaled: it is the memory copy that costs, not the disk.

Run: `.venv/bin/python benchmarks/bench_runs.py [--count 100] [--gb 2]`. Target (issue 13): about a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path

from _bench import PY, compare, report

SENTINELS = {"epoch": 888_888, "global_step": 999_999}
FLOAT_SENTINELS = {"loss": 1234.5678, "val_loss": 2345.6789, "lr": 3456.789}

TEMPLATE = """
import io, sys, numpy as np, torch
path, gigabytes, tensors = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

class Sparse(io.RawIOBase):
    def __init__(self, path): self.f, self.pos = open(path, "wb"), 0
    def writable(self): return True
    def write(self, b):
        view = memoryview(b).cast("B")
        if len(view) >= 1 << 16 and not np.frombuffer(view, np.uint8).any():
            self.f.seek(len(view), 1)  # a hole: no disk used
        else:
            self.f.write(view)
        self.pos += len(view)
        return len(view)
    def close(self):
        self.f.truncate(self.pos); self.f.close(); super().close()

n = int(gigabytes * 1e9 / 4 / tensors)
model = {f"layers.{i}.weight": torch.zeros(n) for i in range(tensors)}
model["head.bias"] = torch.ones(16)  # one small real tensor
state = {"epoch": 888888, "global_step": 999999, "model_state_dict": model,
         "loss": 1234.5678, "val_loss": 2345.6789, "lr": 3456.789}
out = Sparse(path)
torch.save(state, out)
out.close()
"""

TORCH_LOAD = """
import sys, time, torch
paths, mmap = sys.argv[2:], sys.argv[1] == "mmap"
rows = []
start = time.perf_counter()
for p in paths:
    d = torch.load(p, mmap=mmap, weights_only=True, map_location="cpu")
    rows.append((d["epoch"], d["global_step"], d["val_loss"]))
    del d
print(time.perf_counter() - start)
assert len(rows) == len(paths)
"""
READ_RUN = """
import sys, time
from ckpt_tui.core.runs import read_run
start = time.perf_counter()
report = read_run(sys.argv[1])
print(time.perf_counter() - start)
assert len(report.members) == int(sys.argv[2])
"""


def in_process(argv: list[str], repeats: int = 3) -> float:
    """The median time a child reports for its own loop (interpreter start and imports excluded)."""
    runs = [subprocess.run(argv, check=True, capture_output=True, text=True) for _ in range(repeats)]
    return statistics.median(float(r.stdout.split()[-1]) for r in runs)


def data_extents(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of the non-hole parts of a sparse file."""
    extents, fd = [], os.open(path, os.O_RDONLY)
    try:
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, end - start))
            pos = end
    finally:
        os.close(fd)
    return extents


def patched_pickle(pkl: bytes, i: int) -> bytes:
    for name, sentinel in SENTINELS.items():
        value = i if name == "epoch" else 1000 * (i + 1)
        pkl = pkl.replace(b"J" + struct.pack("<i", sentinel), b"J" + struct.pack("<i", value), 1)
    values = {"loss": 2.0 / (i + 1), "val_loss": 1.0 + abs(i - 60) / 60, "lr": 1e-3 * 0.97**i}
    for name, sentinel in FLOAT_SENTINELS.items():
        pkl = pkl.replace(b"G" + struct.pack(">d", sentinel), b"G" + struct.pack(">d", values[name]), 1)
    return pkl


def make_run(directory: Path, count: int, gigabytes: float, tensors: int) -> None:
    template = directory.parent / "template.pt"
    subprocess.run([PY, "-c", TEMPLATE, str(template), str(gigabytes), str(tensors)], check=True)
    with zipfile.ZipFile(template) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
        start_dir = z.start_dir  # type: ignore[attr-defined]
    size = template.stat().st_size
    with open(template, "rb") as f:
        pieces = []
        for offset, length in data_extents(template):
            f.seek(offset)
            pieces.append((offset, f.read(length)))
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
    pkl_start = info.header_offset + 30 + name_len + extra_len
    template.unlink()
    image = {offset: bytearray(data) for offset, data in pieces}
    head = image[min(image)]
    pkl = bytes(head[pkl_start : pkl_start + info.file_size])
    for i in range(count):
        new = patched_pickle(pkl, i)
        assert len(new) == len(pkl) and new != pkl
        path = directory / f"ckpt_step_{1000 * (i + 1):06d}.pt"
        write_member(path, image, size, pkl_start, new, start_dir, info.filename.encode())


def write_member(
    path: Path, image: dict[int, bytearray], size: int, pkl_start: int, pkl: bytes, cd: int, name: bytes
) -> None:
    crc = struct.pack("<I", zlib.crc32(pkl))
    with open(path, "wb") as f:
        for offset, data in image.items():
            data = bytearray(data)
            if offset <= pkl_start < offset + len(data):
                local = pkl_start - offset
                data[local : local + len(pkl)] = pkl
                data[14:18] = crc  # the local header's CRC (data.pkl is the first member, at offset 0)
            if offset <= cd < offset + len(data):  # data.pkl's central record: its name follows 46 bytes
                record = data.index(name, cd - offset) - 46
                data[record + 16 : record + 20] = crc
            f.seek(offset)
            f.write(data)
        f.truncate(size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--gb", type=float, default=2.0, help="size of each checkpoint")
    parser.add_argument("--tensors", type=int, default=8)
    parser.add_argument("--full-load-files", type=int, default=3, help="files torch.load reads without mmap")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        make_run(run, args.count, args.gb, args.tensors)
        files = sorted(str(p) for p in run.iterdir())
        total = sum(os.path.getsize(p) for p in files)
        on_disk = sum(os.stat(p).st_blocks * 512 for p in files)
        results = compare(
            {
                "ckpt-tui runs --json": [PY, "-m", "ckpt_tui", "runs", "--json", str(run)],
                "torch.load(mmap=True, weights_only=True) each": [PY, "-c", TORCH_LOAD, "mmap", *files],
                "python -c 'import torch' (floor)": [PY, "-c", "import torch"],
            }
        )
        title = (
            f"read a run of {len(files)} checkpoints, {args.gb:g} GB each ({total / 1e9:.0f} GB in all, "
            f"{on_disk / 1e6:.0f} MB on disk: sparse)"
        )
        report(title, results, "ckpt-tui runs --json")
        ours = in_process([PY, "-c", READ_RUN, str(run), str(len(files))])
        theirs = in_process([PY, "-c", TORCH_LOAD, "mmap", *files])
        print("\n  the reading loop alone (imports and interpreter start excluded, median of 3):")
        print(f"  {'read_run (ckpt-tui)':44} {ours:7.3f}s")
        print(f"  {'torch.load(mmap=True, weights_only=True)':44} {theirs:7.3f}s {theirs / ours:10.2f}x")
        few = files[: args.full_load_files]
        full = compare({"torch.load(weights_only=True)": [PY, "-c", TORCH_LOAD, "full", *few]}, repeats=1)
        per_file = full["torch.load(weights_only=True)"].seconds - results["python -c 'import torch' (floor)"].seconds
        per_file /= len(few)
        print(
            f"  torch.load without mmap: {per_file:.2f}s per {args.gb:g} GB file (measured on {len(few)}; peak RSS "
            f"{full['torch.load(weights_only=True)'].peak_rss_mb:.0f}MB) -> about {per_file * len(files):.0f}s "
            f"for the run"
        )
        check = subprocess.run(
            [PY, "-m", "ckpt_tui", "runs", str(run)], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        print("\n".join(["", *check[:4], "  ...", *check[-3:]]))


if __name__ == "__main__":
    main()
