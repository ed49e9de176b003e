"""A checkpoint on a server: `inspect --json` by range requests vs downloading it first.

Run: `.venv/bin/python benchmarks/bench_remote.py [--gb 2]`. The server is a local HTTP server that answers range
requests (the `https://` path of ckpt-tui: fsspec's HTTP filesystem), so what is measured is ckpt-tui's own cost and
the bytes it asks for. (moto's S3 server, which the tests use, reads a whole object for every range request: fine
for the tests' small files, misleading for a 2 GB timing.) It prints whole-process times and, for ckpt-tui, the
bytes fetched and requests made (from its own `--json` report) against the file's size. Over a real network each
request costs a round trip and each byte its share of the bandwidth: reading 0.01 % of the bytes is what tells.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _bench import PY, compare, make_training_checkpoint, python_snippet, report, size_gb


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files with `Range: bytes=a-b` support (what object stores and CDNs answer)."""

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = int(match[1]), min(int(match[2] or size - 1), size - 1)
        f = open(path, "rb")  # noqa: SIM115 - closed by the handler after copying
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.range_left = end - start + 1
        return f

    def copyfile(self, source, outputfile):  # type: ignore[no-untyped-def]
        left = getattr(self, "range_left", None)
        while left is None or left > 0:
            block = source.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            outputfile.write(block)
            if left is not None:
                left -= len(block)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training.pt"
        make_training_checkpoint(path, args.gb)
        handler = lambda *a: RangeHandler(*a, directory=tmp)  # noqa: E731
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/training.pt"
        download = Path(tmp) / "downloaded.pt"
        fetch = f"import urllib.request; urllib.request.urlretrieve({url!r}, {str(download)!r})"
        results = compare(
            {
                "ckpt-tui inspect --json http://...": [PY, "-m", "ckpt_tui", "inspect", "--json", url],
                "download + ckpt-tui inspect --json": python_snippet(
                    f"{fetch}; import subprocess, sys; subprocess.run([sys.executable, '-m', 'ckpt_tui', 'inspect', "
                    f"'--json', {str(download)!r}], check=True, stdout=subprocess.DEVNULL)"
                ),
            },
            args.repeats,
        )
        report(f"open a {size_gb(path):.2f} GB checkpoint on a local HTTP server (range requests)", results,
               "download + ckpt-tui inspect --json")  # fmt: skip
        done = subprocess.run([PY, "-m", "ckpt_tui", "inspect", "--json", url], capture_output=True, check=True)
        remote = json.loads(done.stdout)["remote"]
        size = path.stat().st_size
        print(f"  ckpt-tui fetched {remote['bytes_fetched']:,} bytes in {remote['requests']} requests: "
              f"{remote['bytes_fetched'] / size:.4%} of the file's {size:,}")  # fmt: skip
        server.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
