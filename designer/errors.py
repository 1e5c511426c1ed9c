"""The error values the core hands to the command line and the page: never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DesignFileError(ValueError):
    """The text is not a readable design file at all (not JSON, not an object, wrong format marker)."""


@dataclass
class Issue:
    """A problem at a place in a design, in words a user can act on.

    `fix` says what to do; `action` (when a fix can be applied in one click) is an edit for
    `designer.edits.apply_action`.
    """

    path: str
    message: str
    fix: str | None = None
    action: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "fix": self.fix}

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text
