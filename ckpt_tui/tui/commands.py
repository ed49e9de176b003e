"""Command palette providers: fuzzy-find a tensor by key (100k keys stay responsive: cheap prefilter first)."""

from __future__ import annotations

import asyncio
import re
from functools import partial

from textual.command import Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from ckpt_tui.render import printable

MAX_HITS = 200


class TensorFinder(Provider):
    """Every tensor key; choosing one reveals it in the tree."""

    @property
    def _screen(self):  # type: ignore[no-untyped-def]
        return self.screen

    async def search(self, query: str) -> Hits:
        screen = self._screen
        keys: list[str] = list(getattr(screen, "tensor_keys", []))
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
                yield Hit(score, _highlight(matcher, key), partial(screen.reveal_tensor, key), text=key)

    async def discover(self) -> Hits:
        screen = self._screen
        for key in list(getattr(screen, "tensor_keys", []))[:50]:
            yield Hit(1.0, Content(printable(key)), partial(screen.reveal_tensor, key), text=key)


def _highlight(matcher: Matcher, key: str) -> Content:
    """Matched characters in bold, from plain text: Matcher.highlight would parse the key as markup."""
    text = printable(key)
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        content = content.stylize("bold underline", offset, offset + 1)
    return content
