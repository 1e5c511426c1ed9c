"""Undo and redo over whole designs (designs are small plain data; snapshots are simplest and exact)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field


@dataclass
class History:
    """A bounded undo/redo stack of design snapshots."""

    limit: int = 100
    undo_stack: list[dict] = field(default_factory=list)
    redo_stack: list[dict] = field(default_factory=list)

    def record(self, before: dict) -> None:
        """Call with the design as it was before an edit."""
        self.undo_stack.append(copy.deepcopy(before))
        del self.undo_stack[: -self.limit]
        self.redo_stack.clear()

    def undo(self, current: dict) -> dict | None:
        """The previous design, or None when there is nothing to undo."""
        if not self.undo_stack:
            return None
        self.redo_stack.append(copy.deepcopy(current))
        return self.undo_stack.pop()

    def redo(self, current: dict) -> dict | None:
        """The design undone last, or None."""
        if not self.redo_stack:
            return None
        self.undo_stack.append(copy.deepcopy(current))
        return self.redo_stack.pop()

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)
