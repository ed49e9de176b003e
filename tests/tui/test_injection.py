"""Nothing a file says reaches the terminal as a control sequence or as markup, on any surface of the app.

One file whose keys, values and name hold OSC 52 (clipboard), OSC 0 (title), OSC 8 (link), C1 controls, bidi
overrides and Rich markup; every screen it appears on is rendered and checked character by character.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from textual.widgets import Input

from ckpt_tui.core.diff import DiffOptions
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.tui.app import CkptApp
from tests.tui.conftest import screen_text, settle

EVIL = (
    "[bold red]x[/][link=http://evil]y[/link]"
    "\x1b]52;c;cGF5bG9hZA==\x07\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\z\x1b]8;;\x1b\\"
    "\x9b31m\x9d0;c1\x9c\u202egnp.exe\u2066"
)
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def evil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    model = {EVIL + ".weight": torch.ones(3, 3), "head.bias": torch.zeros(3)}
    optimizer = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(3, 3), EVIL: torch.ones(3, 3)}},
        "param_groups": [{"params": [0, 1], "lr": 0.1, EVIL: EVIL}],
    }
    name = "e[bold]\x1b]0;t\x07.pt"
    torch.save({"model": model, "optimizer": optimizer, "meta": {EVIL: EVIL, "note": EVIL}}, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return name


def check(text: str) -> None:
    assert not RAW.search(text), repr(RAW.search(text))
    assert "[bold red]x[/]" in text or "[bold" in text  # markup shown as written, never applied


async def test_every_surface_shows_the_file_inert(evil: str) -> None:
    app = CkptApp(read_checkpoint(evil))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("right", "down")
        await settle(pilot)
        check(screen_text(app))  # header, tree, tensor facts, statistics
        await pilot.press("y")
        assert not RAW.search(app.clipboard)
        assert all(not RAW.search(n.message) for n in app._notifications)  # toasts
        for tab in ("o", "m", "n"):  # optimizer, metadata, notices
            await pilot.press(tab)
            await settle(pilot)
            check(screen_text(app)) if tab != "n" else None
            assert not RAW.search(screen_text(app))
        await pilot.press("m")
        await pilot.press("slash", *"note")
        await pilot.pause(0.4)
        check(screen_text(app))  # filtered metadata: value text
        await pilot.press("escape", "ctrl+f", *"weight")
        await pilot.pause(0.3)
        check(screen_text(app))  # the palette's hits
        await pilot.press("escape", "d")
        await pilot.pause()
        app.screen.query_one(Input).value = evil + ".missing"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "ErrorDialog"
        assert not RAW.search(screen_text(app))  # the error dialog names the path, escaped


async def test_the_diff_screen_shows_the_file_inert(evil: str) -> None:
    a = read_checkpoint(evil)
    torch.save({"model": {EVIL + ".weight": torch.zeros(3, 3)}, "meta": {EVIL: "other"}}, "b.pt")
    app = CkptApp.for_diff(a, read_checkpoint("b.pt"), DiffOptions())
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        check(screen_text(app))
        for _ in range(4):
            await pilot.press("down")
            await settle(pilot)
            assert not RAW.search(screen_text(app))
