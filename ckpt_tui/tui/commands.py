"""Command palette providers: fuzzy-find a tensor by key (100k keys stay responsive: cheap prefilter first)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from ckpt_tui.render import printable

MAX_HITS = 200


@runtime_checkable
class TensorFinding(Protocol):
    """What a screen offers the tensor finder: its keys, and a way to show one."""

    def tensor_keys(self) -> Sequence[str]: ...

    def reveal_tensor(self, key: str) -> None: ...


class TensorFinder(Provider):
    """Every tensor key of the screen it was opened on; choosing one reveals it in the tree."""

    def _target(self) -> TensorFinding | None:
        screen = self.screen
        return screen if isinstance(screen, TensorFinding) else None

    async def search(self, query: str) -> Hits:
        target = self._target()
        if target is None:
            return
        keys = target.tensor_keys()
        pattern = re.compile(".*?".join(map(re.escape, query)), re.IGNORECASE)
        matcher = self.matcher(query)
        candidates = []
        for i, key in enumerate(keys):
            if pattern.search(key):
                candidates.append(key)
            if i % 5000 == 4999:
                await asyncio.sleep(0)  # keep the UI live while scanning
        for key in sorted(candidates, key=len)[:MAX_HITS]:
            score = matcher.match(key)
            if score > 0:
                yield Hit(score, _highlight(matcher, key), partial(target.reveal_tensor, key), text=printable(key))

    async def discover(self) -> Hits:
        target = self._target()
        for key in list(target.tensor_keys() if target else ())[:50]:
            yield Hit(1.0, Content(printable(key)), partial(target.reveal_tensor, key), text=printable(key))  # type: ignore[union-attr]


def _highlight(matcher: Matcher, key: str) -> Content:
    """Matched characters in bold, from plain text: Matcher.highlight would parse the key as markup."""
    text = printable(key)
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        content = content.stylize("bold underline", offset, offset + 1)
    return content
