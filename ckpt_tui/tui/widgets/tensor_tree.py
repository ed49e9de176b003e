"""TensorTree: tensors grouped by dotted module path; children are created when a node is expanded.

A group's children are added a page at a time (PAGE rows, then a "… N more" row that adds the next page when
chosen), so a flat state dict of 100,000 tensors opens as fast as a small one and stays responsive.

Rows are drawn for the width the tree gets: the name on the left (cut with `…` when it must be), then tensor
count, parameters and bytes right-justified in aligned columns; when the pane is narrow the count goes first,
then the bytes, so that a name always keeps room. The rows never overflow, so no horizontal scrollbar appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ckpt_tui.core.grouping import TensorGroup, leaf_name, root_group
from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, human_count, printable

ICON = 2  # "▶ "
MIN_NAME = 16
PAGE = 1000  # rows added at a time under one group


@dataclass(eq=False)
class MoreRows:
    """A row standing for `group`'s children `start` to `end` (not included), not in the tree yet."""

    group: TensorGroup
    children: list[TensorGroup | TensorInfo]
    start: int
    end: int
    shown: bool = False  # replaced by its rows already (a second Enter, queued before the first was handled)

    @property
    def remaining(self) -> int:
        return self.end - self.start

    def index_of(self, key: str) -> int | None:
        """Where the child that is or holds `key` is among `children`, if it is one of these rows."""
        return next((i for i in range(self.start, self.end) if _holds(self.children[i], key)), None)


Item = TensorGroup | TensorInfo | MoreRows


@dataclass(frozen=True)
class Column:
    title: str
    width: int


COUNT, PARAMS, BYTES = Column("tensors", 7), Column("params", 7), Column("bytes", 9)
DROP_ORDER = (COUNT, BYTES, PARAMS)  # least useful first


class TensorTree(Tree[Item]):
    """The checkpoint's tensors as a lazily grown tree; a node's data is its `TensorGroup` or `TensorInfo`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "expand_node", "Expand", show=False, tooltip="Open the highlighted group"),
        Binding("left", "collapse_or_parent", "Collapse", show=False, tooltip="Close the group, or go to its parent"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"tensor-tree--meta", "tensor-tree--size"}
    DEFAULT_CSS = """
    TensorTree { overflow-x: hidden; }
    TensorTree > .tensor-tree--meta { color: $text-muted; }
    TensorTree > .tensor-tree--size { color: $text-accent; }
    """

    @dataclass
    class ColumnsChanged(Message):
        """The columns shown changed (a resize): `header` is the line that titles them."""

        header: Text

    def __init__(self, tensors: dict[str, TensorInfo], *, id: str | None = None) -> None:  # noqa: A002
        self._columns: tuple[Column, ...] = (COUNT, PARAMS, BYTES)
        super().__init__(Text(f"{len(tensors):,} tensors"), root_group(tensors), id=id)
        self.show_root = False
        self.guide_depth = 2

    def on_mount(self) -> None:
        self._populate(self.root)
        self.root.expand()
        self.cursor_line = 0

    def show(self, tensors: dict[str, TensorInfo]) -> None:
        """Show only `tensors` (a filter), grown lazily as before."""
        self.clear()
        self.root.data = root_group(tensors)
        self._populate(self.root)
        self.root.expand()
        line, self.cursor_line = self.cursor_line, 0
        if line == 0 and self.cursor_node is not None:  # a new row on the same line: the tree posted nothing
            self.post_message(self.NodeHighlighted(self.cursor_node))

    def _populate(self, node: TreeNode[Item]) -> None:
        group = node.data
        if not isinstance(group, TensorGroup) or node.children:
            return
        children = group.children()
        self._add_rows(node, MoreRows(group, children, 0, len(children)), 0, 0)

    def _add_rows(self, node: TreeNode[Item], rows: MoreRows, at: int, index: int) -> None:
        """Add a page of `rows` from row `at` (as far as they go) under `node`, as its children from `index` on,
        with a "more" row for what is left before it and after it."""
        first = max(rows.start, min(at, rows.end - PAGE))
        last = min(rows.end, first + PAGE)
        if first > rows.start:
            index = self._add_more(node, MoreRows(rows.group, rows.children, rows.start, first), index)
        index = self._add_page(node, rows, range(first, last), index)
        if last < rows.end:
            self._add_more(node, MoreRows(rows.group, rows.children, last, rows.end), index)

    def _add_more(self, node: TreeNode[Item], more: MoreRows, index: int) -> int:
        node.add_leaf(Text(f"… {more.remaining:,} more (Enter)"), more, before=index)
        return index + 1

    def _add_page(self, node: TreeNode[Item], rows: MoreRows, page: range, index: int) -> int:
        group = rows.group
        for i in page:
            child = rows.children[i]
            if isinstance(child, TensorGroup):
                node.add(Text(printable(child.name)), child, before=index, allow_expand=True)
            else:
                node.add_leaf(Text(printable(leaf_name(child, group))), child, before=index)
            index += 1
        return index

    def _show_more(self, node: TreeNode[Item], at: int | None = None) -> int:
        """Replace a "more" row with a page of its rows (from its first, or from row `at`) and "more" rows for the
        rest; the cursor, if it was on it, goes to the first row added. Returns where that row is."""
        rows, parent = node.data, node.parent
        if not isinstance(rows, MoreRows) or rows.shown or parent is None:
            return -1
        rows.shown = True
        at_cursor = node is self.cursor_node
        index = parent.children.index(node)
        node.remove()
        self._add_rows(parent, rows, rows.start if at is None else at, index)
        if at_cursor:
            self.call_after_refresh(self._highlight, parent.children[index])
        return index

    def _highlight(self, node: TreeNode[Item]) -> None:
        """Put the cursor on `node` and say so, also when its line is the one the cursor was on."""
        line = self.cursor_line
        self.move_cursor(node)
        if self.cursor_line == line:  # the tree moved no cursor, so it posted nothing
            self.post_message(self.NodeHighlighted(node))

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Item]) -> None:
        self._populate(event.node)

    def _on_tree_node_selected(self, event: Tree.NodeSelected[Item]) -> None:
        if isinstance(event.node.data, MoreRows):
            self._show_more(event.node)

    def on_resize(self, event: events.Resize) -> None:
        self._columns = fit_columns(self._width())
        self.post_message(self.ColumnsChanged(self.header()))

    def _width(self) -> int:
        return max(1, self.size.width - (self.scrollbar_size_vertical if self.show_vertical_scrollbar else 0) - 1)

    def header(self) -> Text:
        """Column titles over the rows, aligned with them."""
        cells = "".join(c.title.rjust(c.width) for c in self._columns)
        name = max(0, self._width() + 1 - len(cells))
        return Text(" name".ljust(name) + cells)

    def get_label_width(self, node: TreeNode[Item]) -> int:
        """Every row is drawn to the width there is (see render_label): no label is rendered to be measured (the
        lines are laid out again on a resize, so a width taken before the first one does not stay)."""
        return max(1, self._width() - _depth(node) * self.guide_depth)

    def render_label(self, node: TreeNode[Item], base_style: Style, style: Style) -> Text:
        """Name, then the aligned columns, in exactly the room left by the guides."""
        label = super().render_label(node, base_style, style)
        data = node.data
        if data is None or not self.is_mounted:  # styles exist once mounted
            return label
        depth = _depth(node)
        columns = () if isinstance(data, MoreRows) else self._columns  # a "more" row has the whole width
        room = self._width() - depth * self.guide_depth - sum(c.width for c in columns)
        if not node.allow_expand:
            label = Text.assemble(" " * ICON, label)
        if isinstance(data, MoreRows):
            label.stylize(self.get_component_rich_style("tensor-tree--meta"))
        if isinstance(data, TensorInfo) and room - label.cell_len > 12:
            label.append(
                f" {list(data.shape)} {data.dtype}", self.get_component_rich_style("tensor-tree--meta") + style
            )
        label.truncate(max(1, room - 1), overflow="ellipsis")
        label.append(" " * max(0, room - label.cell_len), style)
        for column, (value, component) in zip(columns, self._cells(data), strict=True):
            label.append(value.rjust(column.width), self.get_component_rich_style(component) + style)
        return label

    def _cells(self, data: Item) -> list[tuple[str, str]]:
        if isinstance(data, MoreRows):
            return []
        if isinstance(data, TensorGroup):
            values = {COUNT: f"{len(data.items):,}", PARAMS: _count(data.numel), BYTES: human_bytes(data.nbytes)}
        else:
            values = {COUNT: "", PARAMS: _count(data.numel), BYTES: human_bytes(data.nbytes)}
        component = {COUNT: "tensor-tree--meta", PARAMS: "tensor-tree--size", BYTES: "tensor-tree--meta"}
        return [(values[c], component[c]) for c in self._columns]

    def reveal(self, key: str) -> bool:
        """Open the groups above `key`, then move the cursor to it."""
        node: TreeNode[Item] = self.root
        while True:
            self._populate(node)
            node.expand()
            match = self._child_holding(node, key)
            if match is None:
                return False
            if isinstance(match.data, TensorInfo):  # its line is known only once the opened groups are laid out
                self.call_after_refresh(self.move_cursor, match, animate=False)
                return True
            node = match

    def _child_holding(self, node: TreeNode[Item], key: str) -> TreeNode[Item] | None:
        """The child of `node` that is or holds `key`; if a "more" row stands for it, the page around it is added."""
        for child in node.children:
            if _holds(child.data, key):
                return child
            index = child.data.index_of(key) if isinstance(child.data, MoreRows) else None
            if index is not None:
                added = self._show_more(child, at=index - PAGE // 2)
                return next(c for c in node.children[added:] if _holds(c.data, key))
        return None

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is not None and isinstance(node.data, MoreRows):
            self._show_more(node)
        elif node is not None and node.allow_expand:
            node.expand()

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)


def fit_columns(width: int) -> tuple[Column, ...]:
    """The columns that leave a name at least MIN_NAME cells, dropping the least useful first."""
    columns = [COUNT, PARAMS, BYTES]
    for column in DROP_ORDER:
        if width - ICON - sum(c.width for c in columns) >= MIN_NAME:
            break
        columns.remove(column)
    return tuple(columns)


def _depth(node: TreeNode[Item]) -> int:
    depth, parent = 0, node.parent
    while parent is not None and parent.parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth


def _holds(data: Item | None, key: str) -> bool:
    if isinstance(data, TensorInfo):
        return data.key == key
    return isinstance(data, TensorGroup) and key.startswith(data.prefix + ".")


def _count(n: int) -> str:
    return human_count(n) or str(n)
