"""Reading leaves the process's garbage collector as it found it: no freeze, and no pause from a worker thread."""

from __future__ import annotations

import gc
import threading

import pytest

from ckpt_tui.formats import read_checkpoint
from tests.helpers import SAMPLES


def test_a_read_freezes_nothing_and_restores_the_gc() -> None:
    before = gc.get_freeze_count()
    read_checkpoint(SAMPLES / "training.pth")
    assert gc.get_freeze_count() == before and gc.isenabled()


def test_a_read_in_a_worker_thread_never_switches_the_gc_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("gc.disable() from a worker thread stops the GC of the UI thread too")

    monkeypatch.setattr(gc, "disable", refuse)
    found: list[object] = []
    worker = threading.Thread(target=lambda: found.append(read_checkpoint(SAMPLES / "training.pth")))
    worker.start()
    worker.join()
    assert len(found) == 1
