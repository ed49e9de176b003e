"""Serve a checkpoint with `ckpt-tui serve` and screenshot it in headless Chromium (a real browser, a real socket).

    python tests/browser_smoke.py [CHECKPOINT] [OUT.png]

Prints the screenshot's path and how long it took; exits 1 if the page never painted the app. The test
`tests/tui/test_browser.py` runs it when chromium is installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_served(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing served at {url} after {timeout:.0f} s")


def screenshot(url: str, out: Path, size: tuple[int, int] = (1280, 800), timeout: float = 30.0) -> None:
    """Open `url` in headless Chromium, wait until the app has painted, save a PNG (over the DevTools protocol)."""
    import asyncio
    import base64
    import json

    import aiohttp  # textual-serve's own dependency

    port = free_port()
    flags = [
        "--headless",
        "--no-sandbox",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='ckpt-chromium-')}",
        f"--window-size={size[0]},{size[1]}",
        f"--remote-debugging-port={port}",
        "about:blank",
    ]
    browser = subprocess.Popen([CHROMIUM, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def drive() -> bytes:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                        target = next(t for t in await r.json() if t["type"] == "page")
                    break
                except (aiohttp.ClientError, StopIteration):
                    if time.monotonic() > deadline:
                        raise TimeoutError("chromium did not start") from None
                    await asyncio.sleep(0.2)
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                ids = iter(range(1, 1_000_000))

                async def call(method: str, **params: object) -> dict[str, object]:
                    n = next(ids)
                    await ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
                    while True:
                        reply = json.loads((await ws.receive()).data)
                        if reply.get("id") == n:
                            return reply.get("result", {})  # type: ignore[no-any-return]

                await call("Page.navigate", url=url)
                painted = "!!(document.body && document.body.classList.contains('-first-byte'))"
                while not (await call("Runtime.evaluate", expression=painted)).get("result", {}).get("value"):  # type: ignore[attr-defined]
                    if time.monotonic() > deadline:
                        raise TimeoutError("the app never painted in the browser")
                    await asyncio.sleep(0.25)
                await asyncio.sleep(1.0)  # the first frames arrive in several messages
                shot = await call("Page.captureScreenshot", format="png")
                return base64.b64decode(shot["data"])  # type: ignore[arg-type]

    try:
        out.write_bytes(asyncio.run(drive()))
    finally:
        browser.terminate()
        browser.wait(timeout=10)


def main(argv: list[str]) -> int:
    checkpoint = argv[0] if argv else str(REPO / "sample_checkpoints" / "training.pth")
    out = Path(argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="ckpt-serve-") + "/served.png").resolve()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "ckpt_tui", "serve", checkpoint, "--port", str(port)]
    start = time.monotonic()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_served(f"http://127.0.0.1:{port}/")
        screenshot(f"http://127.0.0.1:{port}/", out)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{out}  ({time.monotonic() - start:.1f} s)")
    return 0 if out.exists() and out.stat().st_size > 10_000 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
