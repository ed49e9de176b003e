"""TensorTree: tensors grouped by dotted module path; children are created when a node is expanded."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ckpt_tui.core.grouping import TensorGroup, leaf_name, root_group
from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, human_count, printable

Item = TensorGroup | TensorInfo


class TensorTree(Tree[Item]):
    """The checkpoint's tensors as a lazily grown tree; a node's data is its `TensorGroup` or `TensorInfo`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "expand_node", "Expand", show=False, tooltip="Open the highlighted group"),
        Binding("left", "collapse_or_parent", "Collapse", show=False, tooltip="Close the group, or go to its parent"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"tensor-tree--meta", "tensor-tree--size"}
    DEFAULT_CSS = """
    TensorTree > .tensor-tree--meta { color: $text-muted; }
    TensorTree > .tensor-tree--size { color: $text-accent; }
    """

    def __init__(self, tensors: dict[str, TensorInfo], *, id: str | None = None) -> None:  # noqa: A002
        root = root_group(tensors)
        super().__init__(Text(f"{len(tensors):,} tensors"), root, id=id)
        self.show_root = False
        self.guide_depth = 2

    def on_mount(self) -> None:
        self._populate(self.root)
        self.root.expand()
        self.cursor_line = 0

    def _populate(self, node: TreeNode[Item]) -> None:
        group = node.data
        if not isinstance(group, TensorGroup) or node.children:
            return
        for child in group.children():
            if isinstance(child, TensorGroup):
                node.add(self._group_label(child), child, allow_expand=True)
            else:
                node.add_leaf(self._leaf_label(child, group), child)

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Item]) -> None:
        self._populate(event.node)

    def _group_label(self, group: TensorGroup) -> Text:
        label = Text(printable(group.name))
        count = len(group.items)
        label.append(
            f"  {count:,} tensor{'s' if count != 1 else ''}", self.get_component_rich_style("tensor-tree--meta")
        )
        label.append(f"  {_count(group.numel)}", self.get_component_rich_style("tensor-tree--size"))
        label.append(f"  {human_bytes(group.nbytes)}", self.get_component_rich_style("tensor-tree--meta"))
        return label

    def _leaf_label(self, info: TensorInfo, group: TensorGroup) -> Text:
        label = Text(printable(leaf_name(info, group)))
        label.append(f"  {list(info.shape)} {info.dtype}", self.get_component_rich_style("tensor-tree--meta"))
        label.append(f"  {human_bytes(info.nbytes)}", self.get_component_rich_style("tensor-tree--size"))
        return label

    def reveal(self, key: str) -> bool:
        """Open the groups above `key`, then move the cursor to it."""
        node: TreeNode[Item] = self.root
        while True:
            self._populate(node)
            node.expand()
            match = next((c for c in node.children if _holds(c.data, key)), None)
            if match is None:
                return False
            if isinstance(match.data, TensorInfo):  # its line is known only once the opened groups are laid out
                self.call_after_refresh(self.move_cursor, match, animate=False)
                return True
            node = match

    def action_expand_node(self) -> None:
        if self.cursor_node is not None and self.cursor_node.allow_expand:
            self.cursor_node.expand()

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)


def _holds(data: Item | None, key: str) -> bool:
    if isinstance(data, TensorInfo):
        return data.key == key
    return data is not None and key.startswith(data.prefix + ".")


def _count(n: int) -> str:
    return f"{human_count(n) or n} params"
