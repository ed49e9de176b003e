"""The scan of data.pkl started ahead (in a forked child) answers what `vouch` answers, and leaves nothing behind."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from ckpt_tui.formats import _scan_ahead
from ckpt_tui.formats._scan_ahead import ScanAhead
from ckpt_tui.formats._unpickler import FAST_MIN_BYTES, vouch

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the scan is forked on Linux only")

FILLER = b"\x8c\x05abcde0" * (FAST_MIN_BYTES // 8 + 1)  # SHORT_BINUNICODE then POP, over and over
ACCEPTED = b"\x80\x02" + FILLER + b"N."
REFUSED = b"\x80\x02" + FILLER + b"I1\n."  # a text opcode: the C unpickler is not vouched for


@pytest.fixture
def may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork here even if the test process runs a thread of its own (tqdm's monitor, once transformers ran): the
    child only scans bytes, and these tests check the child's side."""
    monkeypatch.setattr(_scan_ahead, "_may_fork", lambda: True)


def children() -> set[int]:
    """This process's child processes, zombies included."""
    me = str(os.getpid())
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    found.add(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("data", [ACCEPTED, REFUSED], ids=["accepted", "refused"])
@pytest.mark.usefixtures("may_fork")
def test_the_child_answers_what_vouch_answers(data: bytes) -> None:
    before = children()
    scan = ScanAhead(data)
    assert scan._child is not None  # forked
    assert scan.result() == vouch(data)
    assert children() == before  # reaped


@pytest.mark.usefixtures("may_fork")
def test_an_unwanted_scan_is_stopped_and_reaped() -> None:
    before = children()
    with ScanAhead(ACCEPTED * 8) as scan:
        assert scan._child is not None
    assert children() == before


@pytest.mark.usefixtures("may_fork")
def test_a_child_that_dies_silently_is_answered_for_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_scan_ahead, "vouch", lambda data: os._exit(3))  # the child leaves without answering
    scan = ScanAhead(ACCEPTED)
    monkeypatch.setattr(_scan_ahead, "vouch", vouch)
    assert scan._child is not None and scan.result() == vouch(ACCEPTED)


def test_no_fork_from_a_process_with_threads_or_for_a_small_pickle() -> None:
    found: list[ScanAhead] = []
    worker = threading.Thread(target=lambda: found.append(ScanAhead(ACCEPTED)))
    worker.start()
    worker.join()
    assert found[0]._child is None and found[0].result() == vouch(ACCEPTED)
    assert ScanAhead(b"\x80\x02N.")._child is None
