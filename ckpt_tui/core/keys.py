"""Key rules: strip wrapper prefixes (`module.`, `_orig_mod.`, FSDP), add prefixes, rename by regex.

Shared by convert, diff and check, so that the same flags mean the same thing everywhere. Rules are applied in
order: strip, rename, add. Two keys that end up with one name are an error that lists them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from ckpt_tui.errors import UsageError
from ckpt_tui.reports import KeyRules, strip_component

MODULE_PREFIX = "module."
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")

V = TypeVar("V")


def make_rules(
    strip_module: bool = False,
    strip_wrappers: bool = False,
    strip_prefix: Iterable[str] = (),
    add_prefix: str = "",
    rename: Iterable[str] = (),
) -> KeyRules:
    strip = list(WRAPPER_PREFIXES if strip_wrappers else (MODULE_PREFIX,) if strip_module else ())
    strip += [p if p.endswith(".") else p + "." for p in strip_prefix]
    renames = []
    for rule in rename:
        pattern, sep, replacement = rule.partition("=")
        if not sep or not pattern:
            raise UsageError(f"--rename takes REGEX=REPLACEMENT, got {rule!r}")
        try:
            re.compile(pattern)
        except re.error as e:
            raise UsageError(f"--rename {rule!r}: invalid regex ({e})") from None
        renames.append((pattern, replacement))
    return KeyRules(tuple(strip), tuple(renames), add_prefix)


def rename_keys(items: Mapping[str, V], rules: KeyRules) -> dict[str, V]:
    """`items` with keys rewritten; raises UsageError listing every group of keys that collide."""
    if rules.is_identity:
        return dict(items)
    out: dict[str, V] = {}
    sources: dict[str, list[str]] = {}
    for key, value in items.items():
        new = rules.apply(key)
        sources.setdefault(new, []).append(key)
        out[new] = value
    collisions = {new: old for new, old in sources.items() if len(old) > 1}
    if collisions:
        shown = "; ".join(f"{', '.join(old)} -> {new}" for new, old in list(collisions.items())[:5])
        raise UsageError(f"{len(collisions)} key collision(s) after renaming: {shown}")
    return out


def wrapper_prefixes(keys: Iterable[str]) -> dict[str, int]:
    """{prefix: number of keys carrying it} for the wrapper prefixes found in `keys`."""
    counts: dict[str, int] = {}
    for key in keys:
        if "mod" not in key:  # every wrapper prefix contains it: skips most keys of big checkpoints
            continue
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix) or "." + prefix in key:
                counts[prefix] = counts.get(prefix, 0) + 1
    return counts


def explain_key_mismatch(
    left: Sequence[str], right: Sequence[str], labels: tuple[str, str] = ("keys only in A", "keys only in B")
) -> str | None:
    """A one-line hint when a wrapper prefix on one side explains the keys missing on the other."""
    for keys, others, label in ((left, right, labels[0]), (right, left, labels[1])):
        if not keys:
            continue
        for prefix in WRAPPER_PREFIXES:
            carrying = [k for k in keys if k.startswith(prefix) or "." + prefix in k]
            if len(carrying) == len(keys) and {strip_component(k, prefix) for k in keys} & set(others):
                flag = "--strip-module" if prefix == MODULE_PREFIX else "--strip-wrappers"
                return f"all {len(keys)} {label} carry '{prefix}' — use {flag}"
    return None
