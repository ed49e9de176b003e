"""MetadataView: every non-tensor value of the checkpoint as a tree (epoch, loss, hyper-parameters, RNG states).

OmegaConf/Hydra configs are shown as the mappings they hold. `filter()` turns the tree into a flat list of the
values whose path or value holds the query (hyper-parameters found by name or by value).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ckpt_tui.core.labels import friendly_label
from ckpt_tui.model import Entry, Key, Kind, tensor_count, walk
from ckpt_tui.render import key_label, printable
from ckpt_tui.render.text import short_repr
from ckpt_tui.tui.configs import plain
from ckpt_tui.tui.copying import python_path

Node = tuple[tuple[Key, ...], Entry]
MAX_MATCHES = 500


class MetadataView(Tree[Node]):
    """Non-tensor entries, grown on expand; a container of only tensors is one line pointing at the tensor tree."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"metadata-view--type", "metadata-view--label"}
    DEFAULT_CSS = """
    MetadataView > .metadata-view--type { color: $text-muted; }
    MetadataView > .metadata-view--label { color: $text-accent; }
    """

    def __init__(self, root: Entry, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(Text("checkpoint"), ((), plain(root)), id=id)
        self.show_root = False
        self.query_text = ""
        self._populated: set[int] = set()

    def on_show(self) -> None:
        """Grown when first shown, not before the first paint (its tab is hidden then): the root of a flat state
        dict has a child per tensor, 100,000 to look at."""
        self._populate(self.root)
        self.root.expand()

    def filter(self, query: str) -> int:
        """Show only values whose path or value holds `query` (case-insensitive); '' shows the tree again.
        Returns how many matched."""
        self.query_text = query
        self.clear()
        self._populated.clear()
        if not query:
            self._populate(self.root)
            self.root.expand()
            return 0
        matches = list(self._matches(query.lower()))
        for path, entry in matches[:MAX_MATCHES]:
            self.root.add_leaf(self._label(path, entry, False, full_path=True), (path, entry))
        self.root.expand()
        self.cursor_line = 0
        return len(matches)

    def _matches(self, query: str) -> Iterator[Node]:
        assert self.root.data is not None
        for path, entry in _walk_plain(self.root.data[1]):
            if not path or entry.kind is Kind.TENSOR:
                continue
            named = query in ".".join(map(str, path)).lower()
            valued = entry.kind is Kind.VALUE and query in short_repr(entry.value, 200).lower()
            if named or valued:
                yield path, entry

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Node]) -> None:
        self._populate(event.node)

    def _populate(self, node: TreeNode[Node]) -> None:
        if node.data is None or node.id in self._populated or self.query_text:
            return
        self._populated.add(node.id)
        path, entry = node.data
        for key, child in (*entry.attrs, *entry.children):
            child_path = (*path, key)
            if child.kind is Kind.OPAQUE:
                child = plain(child)
            if child.kind is Kind.TENSOR and friendly_label(child_path, child) is None:
                continue  # weights live in the tensor tree
            tensors_only = child.is_container and _only_tensors(child)
            expandable = child.is_container and bool(child.children) and not tensors_only
            node.add(self._label(child_path, child, tensors_only), (child_path, child), allow_expand=expandable)

    def _label(self, path: tuple[Key, ...], entry: Entry, tensors_only: bool, full_path: bool = False) -> Text:
        text = Text(printable(".".join(map(str, path))) if full_path else key_label(path[-1]))
        dim = self.get_component_rich_style("metadata-view--type")
        if entry.kind is Kind.VALUE:
            text.append(" = ")
            text.append(printable(short_repr(entry.value, 80)))
            text.append(f"  {printable(entry.type_name)}", dim)
        elif entry.kind is Kind.TENSOR:
            text.append(f"  {entry.tensor.dtype} {list(entry.tensor.shape)}", dim)
        else:
            count = f"{len(entry.children)} tensors — see the tensor tree" if tensors_only else f"{len(entry.children)}"
            text.append(f"  {printable(entry.type_name)} of {count}", dim)
        label = friendly_label(path, entry)
        if label:
            text.append(f"  {label}", self.get_component_rich_style("metadata-view--label"))
        return text

    def highlighted_path(self) -> str | None:
        """The highlighted entry as Python source (`ckpt["hyper_parameters"]["lr"]`)."""
        node = self.cursor_node
        return python_path(node.data[0]) if node is not None and node.data is not None else None

    def highlighted_value(self) -> str | None:
        node = self.cursor_node
        if node is None or node.data is None or node.data[1].kind is not Kind.VALUE:
            return None
        return printable(repr(node.data[1].value))


def _walk_plain(root: Entry) -> Iterator[Node]:
    """`walk`, with configs read as the mappings they hold; an entry reachable twice is opened once."""
    seen: set[int] = set()
    stack: list[Node] = [((), root)]
    while stack:
        path, entry = stack.pop()
        yield path, entry
        if id(entry) not in seen:
            seen.add(id(entry))
            children = [((*path, k), plain(c)) for k, c in (*entry.attrs, *entry.children)]
            stack.extend(reversed(children))


def _only_tensors(entry: Entry) -> bool:
    """Containers of tensors (and of such containers) only: shown as one line pointing at the tensor tree."""
    return tensor_count(entry) > 0 and all(e.kind is Kind.TENSOR or e.is_container for _, e in walk(entry))
