"""A checkpoint in object storage: `inspect --json` by range requests vs downloading it, on a local S3 server (moto).

Run: `.venv/bin/python benchmarks/bench_remote.py [--gb 2]`. Prints the time of each whole process and, for
ckpt-tui, the bytes it fetched and the requests it made (from its own `--json` report) against the file's size.
The server is on localhost, so the times are a floor: over a real network each request costs a round trip and
each byte its share of the bandwidth, which is where reading 0.01 % of the bytes instead of all of them tells.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import PY, compare, make_training_checkpoint, python_snippet, report, size_gb


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen([PY, "-m", "moto.server", "-p", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    server, port = start_server()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
    )  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "training.pt"
            make_training_checkpoint(path, args.gb)
            # uploaded by a child: a child forked from a process that held the file would inherit its peak RSS
            upload = "import s3fs; fs = s3fs.S3FileSystem(); fs.exists('bench') or fs.mkdir('bench'); "
            upload += f"fs.put({str(path)!r}, 'bench/training.pt')"
            for _attempt in range(3):  # moto's multipart completion of GBs sometimes answers 500 on a busy machine
                if subprocess.run(python_snippet(upload), stderr=subprocess.DEVNULL).returncode == 0:
                    break
            else:
                raise RuntimeError("upload to the local S3 server failed three times")
            url = "s3://bench/training.pt"
            download = Path(tmp) / "downloaded.pt"
            results = compare(
                {
                    "ckpt-tui inspect --json s3://...": [PY, "-m", "ckpt_tui", "inspect", "--json", url],
                    "download (s3fs get) + ckpt-tui inspect": python_snippet(
                        f"import s3fs, subprocess, sys; s3fs.S3FileSystem().get({url!r}, {str(download)!r}); "
                        f"subprocess.run([sys.executable, '-m', 'ckpt_tui', 'inspect', '--json', {str(download)!r}],"
                        " check=True, stdout=subprocess.DEVNULL)"
                    ),
                },
                args.repeats,
            )
            report(f"open a {size_gb(path):.2f} GB checkpoint on a local S3 server", results,
                   "download (s3fs get) + ckpt-tui inspect")  # fmt: skip
            done = subprocess.run([PY, "-m", "ckpt_tui", "inspect", "--json", url], capture_output=True, check=True)
            remote = json.loads(done.stdout)["remote"]
            share = remote["bytes_fetched"] / path.stat().st_size
            print(
                f"  ckpt-tui fetched {remote['bytes_fetched']:,} bytes in {remote['requests']} requests: "
                f"{share:.4%} of the file's {path.stat().st_size:,}"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
