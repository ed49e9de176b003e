"""Key rules: strip wrapper prefixes (`module.`, `_orig_mod.`, FSDP), add prefixes, rename by regex.

Shared by convert, diff and check, so that the same flags mean the same thing everywhere. Rules are applied in
order: strip, rename, add. Two keys that end up with one name are an error that lists them.

`module.` (DataParallel/DDP) and any `--strip-prefix` are removed at the START of a key only, once, as
`torch.nn.modules.utils.consume_prefix_in_state_dict_if_present` does: a submodule really named `module`
(`encoder.module.weight`) keeps its name. The names torch itself reserves for its wrappers (`_orig_mod.` from
torch.compile, `_fsdp_wrapped_module.`, `_checkpoint_wrapped_module.`) sit wherever the wrapped submodule sits, so
they are removed as a whole path component anywhere (FSDP's own `clean_tensor_name` does the same).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from ckpt_tui.errors import UsageError
from ckpt_tui.reports import RESERVED_WRAPPERS, KeyRules, strip_component

MODULE_PREFIX = "module."
WRAPPER_PREFIXES = (MODULE_PREFIX, *RESERVED_WRAPPERS)

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


def carries(key: str, prefix: str) -> bool:
    """Whether `strip_component` would remove `prefix` from `key`."""
    return key.startswith(prefix) or (prefix in RESERVED_WRAPPERS and "." + prefix in key)


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
            if carries(key, prefix):
                counts[prefix] = counts.get(prefix, 0) + 1
    return counts


def explain_key_mismatch(
    left: Sequence[str],
    right: Sequence[str],
    labels: tuple[str, str] = ("keys only in A", "keys only in B"),
    right_is_fixed: bool = False,
) -> str | None:
    """A one-line hint when a prefix on all the keys of one side explains the keys missing on the other: a wrapper's
    (`module.`, `_orig_mod.`, ...) or one shared first component (Lightning's `model.`/`net.`). `right_is_fixed`:
    rules cannot rename the right side (check's model keys), so a prefix there is added to the left instead."""
    for keys, others, label in ((left, right, labels[0]), (right, left, labels[1])):
        prefix = _explaining_prefix(keys, others)
        if prefix is None:
            continue
        if keys is right and right_is_fixed:
            return f"all {len(keys)} {label} carry '{prefix}' — use --add-prefix {prefix}"
        flag = {MODULE_PREFIX: "--strip-module"}.get(prefix, "--strip-wrappers")
        if prefix not in WRAPPER_PREFIXES:
            flag = f"--strip-prefix {prefix}"
        return f"all {len(keys)} {label} carry '{prefix}' — use {flag}"
    return None


def _explaining_prefix(keys: Sequence[str], others: Sequence[str]) -> str | None:
    if not keys:
        return None
    other_set = set(others)
    for prefix in WRAPPER_PREFIXES:
        if all(carries(k, prefix) for k in keys) and {strip_component(k, prefix) for k in keys} & other_set:
            return prefix
    first = keys[0].split(".", 1)[0] + "."
    if len(keys) > 1 and all(k.startswith(first) for k in keys) and {k[len(first) :] for k in keys} & other_set:
        return first
    return None
