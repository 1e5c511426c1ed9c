"""User text shown as text: names, paths and messages never become Markdown or HTML."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """``text`` escaped for st.markdown/st.error/st.info and widget labels: shown as typed."""
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", "  \n")
