"""`vouch(data)` started early, in a forked child, so that a reader does other work while the pickle is scanned.

Opening a torch zip of 100k tensors spends ~0.12 s scanning data.pkl (`vouch`, before the C unpickler may run) and
~0.12 s parsing the zip's central directory; neither needs the other. torch.save writes data.pkl first, so the
reader finds it from the directory's first entry, starts the scan here, parses the whole directory meanwhile, and
uses the scan only if the directory names that same member as data.pkl.

A child is forked only where that is safe and worth it: Linux, one Python thread (the CLI's main thread; never
the app's workers), a pickle big enough for the fast path. The child scans, writes 8 bytes, and leaves with
`os._exit` (no atexit, no flushing of the parent's buffers). Anywhere else, and whenever the child gives no answer,
the scan runs in this process when asked: the result is the same either way.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
from contextlib import suppress

from ckpt_tui.formats import _unpickler
from ckpt_tui.formats._unpickler import vouch

ANSWER = struct.Struct("<q")  # the STOP position vouch found, or -1 for None


class ScanAhead:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self._child: tuple[int, int] | None = None  # (pid, read end of the pipe)
        if len(data) >= _unpickler.FAST_MIN_BYTES and _unpickler.C_UNPICKLER is not None and _may_fork():
            self._child = _fork_scan(data)

    def result(self) -> int | None:
        """`vouch(self.data)`: the child's answer (waiting for it), else scanned here."""
        if self._child is None:
            return vouch(self.data)
        pid, pipe = self._child
        self._child = None
        try:
            answer = os.read(pipe, ANSWER.size)
        finally:
            os.close(pipe)
            os.waitpid(pid, 0)
        if len(answer) != ANSWER.size:  # the child died before answering
            return vouch(self.data)
        (position,) = ANSWER.unpack(answer)
        return None if position < 0 else position

    def close(self) -> None:
        """Stop a child whose answer is not wanted (the read failed or found data.pkl elsewhere)."""
        if self._child is not None:
            pid, pipe = self._child
            self._child = None
            os.close(pipe)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

    def __enter__(self) -> ScanAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _may_fork() -> bool:
    return sys.platform == "linux" and threading.active_count() == 1


def _fork_scan(data: bytes) -> tuple[int, int] | None:
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            position = vouch(data)
            os.write(write_end, ANSWER.pack(-1 if position is None else position))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end
