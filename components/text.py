"""User text in Markdown-rendering widgets: shown as exactly that text, never as markup.

Streamlit renders the body of st.markdown, st.error, st.info, st.success, st.warning, st.caption and
button labels as Markdown. A name like `![p](http://127.0.0.1:8899/x.png)` would become an image the
browser fetches. `md_text` escapes every ASCII punctuation character (CommonMark lets each be escaped),
which also stops links, autolinks, HTML, math (`$`) and Streamlit's `:color[...]` directives.
Plotly renders a little HTML in trace names and tick labels: `plot_text` escapes it.
"""

from __future__ import annotations

import html
import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(text: object) -> str:
    """`text` as Markdown that shows exactly `text`; its line breaks stay line breaks."""
    lines = str(text).splitlines() or [""]
    return "  \n".join(_PUNCTUATION.sub(r"\\\1", line) for line in lines)


def plot_text(text: object) -> str:
    """`text` for a Plotly label (trace name, tick, title): its <, > and & shown as themselves."""
    return html.escape(str(text), quote=False)
