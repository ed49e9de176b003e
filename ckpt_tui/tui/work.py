"""The one worker pattern: a thread runs one core call and raises; the app's one handler reports failures.

`start_work` runs `work` on the app's worker manager, so that every `Worker.StateChanged` reaches
`CkptApp.on_worker_state_changed`; the widget that asked is remembered, and told with `WorkFailed` when its work
fails, so that no pane stays at "computing…".
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from textual.dom import DOMNode
from textual.worker import Worker

ORIGINS: weakref.WeakKeyDictionary[Worker[object], DOMNode] = weakref.WeakKeyDictionary()


def start_work(origin: DOMNode, work: Callable[[], object], *, name: str, group: str) -> Worker[object]:
    """Run `work` in a thread (one per `group`: a newer one cancels the older); `name` titles its error."""
    worker: Worker[object] = origin.app.run_worker(
        work, name=name, group=group, thread=True, exclusive=True, exit_on_error=False
    )
    ORIGINS[worker] = origin
    return worker


def origin_of(worker: Worker[object]) -> DOMNode | None:
    return ORIGINS.get(worker)
