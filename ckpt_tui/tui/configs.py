"""OmegaConf/Hydra configs as the plain mappings they hold, not their internals.

A pickled `omegaconf.DictConfig` arrives as an opaque object whose state is `_metadata`, `_parent`,
`_flags_cache` and `_content`; each value in `_content` is itself a node object (`AnyNode`, `IntegerNode`, ...)
holding `_val`. Nothing is imported: the entries are re-read as a mapping of plain values.
"""

from __future__ import annotations

from ckpt_tui.model import Entry, Kind

CONTAINERS = {"omegaconf.dictconfig.DictConfig": Kind.MAPPING, "omegaconf.listconfig.ListConfig": Kind.SEQUENCE}
NODES = "omegaconf.nodes."


def _state(entry: Entry, name: str) -> Entry | None:
    found = entry.child(name)
    if found is None and entry.child("state") is not None:
        found = entry.child("state").child(name)  # type: ignore[union-attr]
    return found


def is_config(entry: Entry) -> bool:
    return entry.kind is Kind.OPAQUE and entry.type_name in CONTAINERS and _state(entry, "_content") is not None


def plain(entry: Entry, depth: int = 0) -> Entry:
    """`entry` with every OmegaConf container and node replaced by what it holds (other entries unchanged)."""
    if depth > 64:
        return entry
    if is_config(entry):
        content = _state(entry, "_content")
        assert content is not None
        if not content.is_container:
            return content  # None, "???" (missing) or an interpolation string
        kind = CONTAINERS[entry.type_name]
        short = "DictConfig" if kind is Kind.MAPPING else "ListConfig"
        children = tuple((k, plain(v, depth + 1)) for k, v in content.children)
        return Entry(kind, short, None, children)
    if entry.kind is Kind.OPAQUE and entry.type_name.startswith(NODES):
        value = _state(entry, "_val")
        return plain(value, depth + 1) if value is not None else entry
    return entry
