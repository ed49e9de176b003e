"""MetadataView: every non-tensor value of the checkpoint as a tree (epoch, loss, hyper-parameters, RNG states)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ckpt_tui.core.labels import friendly_label
from ckpt_tui.model import Entry, Key, Kind, tensor_count, walk
from ckpt_tui.render import key_label, printable
from ckpt_tui.render.text import short_repr

Node = tuple[tuple[Key, ...], Entry]


class MetadataView(Tree[Node]):
    """Non-tensor entries, grown on expand; a container of only tensors is one line pointing at the tensor tree."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"metadata-view--type", "metadata-view--label"}
    DEFAULT_CSS = """
    MetadataView > .metadata-view--type { color: $text-muted; }
    MetadataView > .metadata-view--label { color: $text-accent; }
    """

    def __init__(self, root: Entry, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(Text("checkpoint"), ((), root), id=id)
        self.show_root = False
        self._populated: set[int] = set()  # a node whose entries are all tensors stays childless: fill it once

    def on_mount(self) -> None:
        self._populate(self.root)
        self.root.expand()

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Node]) -> None:
        self._populate(event.node)

    def _populate(self, node: TreeNode[Node]) -> None:
        if node.data is None or node.children or node.id in self._populated:
            return
        self._populated.add(node.id)
        path, entry = node.data
        for key, child in (*entry.attrs, *entry.children):
            child_path = (*path, key)
            if child.kind is Kind.TENSOR and friendly_label(child_path, child) is None:
                continue  # weights live in the tensor tree
            tensors_only = child.is_container and _only_tensors(child)
            expandable = child.is_container and bool(child.children) and not tensors_only
            node.add(self._label(child_path, child, tensors_only), (child_path, child), allow_expand=expandable)

    def _label(self, path: tuple[Key, ...], entry: Entry, tensors_only: bool) -> Text:
        text = Text(key_label(path[-1]))
        dim = self.get_component_rich_style("metadata-view--type")
        if entry.kind is Kind.VALUE:
            text.append(" = ")
            text.append(printable(short_repr(entry.value, 80)))
            text.append(f"  {entry.type_name}", dim)
        elif entry.kind is Kind.TENSOR:
            text.append(f"  {entry.tensor.dtype} {list(entry.tensor.shape)}", dim)  # type: ignore[union-attr]
        else:
            count = f"{len(entry.children)} tensors — see the tensor tree" if tensors_only else f"{len(entry.children)}"
            text.append(f"  {printable(entry.type_name)} of {count}", dim)
        label = friendly_label(path, entry)
        if label:
            text.append(f"  {label}", self.get_component_rich_style("metadata-view--label"))
        return text


def _only_tensors(entry: Entry) -> bool:
    """Containers of tensors (and of such containers) only: shown as one line pointing at the tensor tree."""
    return tensor_count(entry) > 0 and all(e.kind is Kind.TENSOR or e.is_container for _, e in walk(entry))
