"""The frame around every page: navigation, page style, and the one-time messages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import state as S

PAGES_DIR = Path(__file__).resolve().parent / "pages"
# (file, title, icon, url path): Design first, the default.
PAGES = (
    ("design.py", "Design", ":material/account_tree:", "design"),
    ("code.py", "Code", ":material/code:", "code"),
    ("summary.py", "Summary", ":material/table_rows:", "summary"),
    ("train.py", "Train", ":material/model_training:", "train"),
    ("runs.py", "Runs", ":material/history:", "runs"),
)

# Tighter page margins than Streamlit's, so the designer fits one 1440×900 screen.
PAGE_CSS = """
<style>
.stMainBlockContainer { padding-top: 3.6rem; padding-bottom: 0.5rem; padding-left: 1.2rem; padding-right: 1.2rem; }
.st-key-nw-side { max-height: calc(100vh - 4.6rem); overflow-y: auto; overflow-x: hidden; padding-right: 0.2rem; }
.st-key-nw-side [data-testid="stAlert"] { padding: 0.1rem 0; }
/* A saved design's name wraps on its button instead of being cut (the sidebar is narrow). */
[data-testid="stSidebar"] [class*="st-key-open_"] button p { white-space: normal; overflow-wrap: anywhere; text-overflow: clip; }
</style>
"""


def navigation():
    """The app's pages, in the top bar."""
    pages = [st.Page(str(PAGES_DIR / file), title=title, icon=icon, url_path=url, default=(i == 0))
             for i, (file, title, icon, url) in enumerate(PAGES)]
    return st.navigation(pages, position="top")


def render_page_style() -> None:
    st.html(PAGE_CSS)


def render_flash() -> None:
    """The message left by the last action (shown once). Flash text is Markdown whose user text
    was escaped where it was made (components.text.md_text)."""
    flash = st.session_state.get(S.FLASH)
    if flash:
        kind, message = flash
        getattr(st, kind, st.info)(message)
        st.session_state[S.FLASH] = None


def lazy_expander(label: str, key: str, draw, *args, where=None) -> None:
    """An expander whose contents, `draw(*args)`, run and are sent to the browser only while it is open.

    Streamlit's lazy expander (`on_change="rerun"`): opening it reruns the page once, and a closed
    one costs the server nothing and the browser one header. Its open state is
    `st.session_state[key]` (set it to True before this call to open it from code)."""
    box = (where or st).expander(label, key=key, on_change="rerun")
    if box.open:
        with box:
            draw(*args)
