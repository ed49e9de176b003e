"""`ckpt-tui serve` in a real headless browser: the page connects, the app paints (about 10 s; skipped without
chromium or textual-serve)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser_smoke import CHROMIUM, REPO, main

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium")


def test_served_app_paints_in_a_browser(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    out = tmp_path / "served.png"
    assert main([str(REPO / "sample_checkpoints" / "training.pth"), str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
