"""AppTest: the page runs on every template and the page-level actions do what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import state as S
from components.text import md_text
from designer.codegen import export_files
from designer.templates import list_templates, load_template

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _db(tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))


def _app(design: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if design is not None:
        S.init_state(at.session_state, design)  # AppTest's session state behaves like a mapping
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _design(at: AppTest) -> dict:
    return at.session_state[S.DESIGN]


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


PAGES = ("design", "code", "summary", "train", "runs")


def _page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"components/pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("template", [t["id"] for t in list_templates()])
def test_design_page_runs_on_every_template(template):
    at = _app(load_template(template))
    assert at.get("bidi_component"), "the editor is on the first page"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("template", ["lenet5", "resnet_small"])
def test_every_page_runs(template):
    at = _app(load_template(template))
    for name in PAGES:
        _page(at, name)
        assert not at.error, (name, [e.value for e in at.error])


def test_template_edit_add_move_remove_undo_redo():
    at = _app(S.blank_design())
    assert not any(b.key == "tpl_lenet5" for b in at.button)  # a lazy expander: drawn once opened
    at.session_state["nw_open_templates"] = True
    _button(at.run(), "tpl_lenet5").click().run()
    assert _design(at)["name"] == load_template("lenet5")["name"]
    assert not any(b.key == "tpl_lenet5" for b in at.button)  # the choice made, the list folded away
    original = json.loads(json.dumps(_design(at)))

    # select the first conv and change out_channels through the inspector
    at.session_state[S.SELECTED] = "layers[0]"
    at.run()
    rev = at.session_state[S.REVISION]
    field = next(w for w in at.number_input if w.key == f"insp:{rev}:layers[0]:out_channels")
    field.set_value(12).run()
    assert _design(at)["layers"][0]["out_channels"] == 12

    # add a layer after the selection, move it down, remove it (with "Edit with buttons" opened)
    n = len(_design(at)["layers"])
    assert not any(b.key == "add_layer" for b in at.button)
    at.session_state["nw_open_buttons"] = True
    at.run()
    at.selectbox(key="add_type").set_value("Dropout")
    _button(at, "add_layer").click().run()
    assert len(_design(at)["layers"]) == n + 1
    assert _design(at)["layers"][1]["type"] == "Dropout"
    assert at.session_state[S.SELECTED] == "layers[1]"
    _button(at, "move_down").click().run()
    assert _design(at)["layers"][2]["type"] == "Dropout"
    assert at.session_state[S.SELECTED] == "layers[2]"
    _button(at, "del_layer").click().run()
    assert len(_design(at)["layers"]) == n

    # undo three times: back to the edited conv; twice more: the template as loaded
    for _ in range(3):
        _button(at, "undo").click().run()
    assert _design(at)["layers"][0]["out_channels"] == 12
    _button(at, "undo").click().run()
    assert _design(at) == original
    _button(at, "redo").click().run()
    assert _design(at)["layers"][0]["out_channels"] == 12


def test_invalid_inspector_value_is_refused_and_last_good_kept():
    at = _app(load_template("lenet5"))
    at.session_state[S.SELECTED] = "layers[0]"
    at.run()
    rev = at.session_state[S.REVISION]
    field = next(w for w in at.text_input if w.key == f"insp:{rev}:layers[0]:kernel_size")
    field.set_value("three").run()
    assert _design(at)["layers"][0]["kernel_size"] == load_template("lenet5")["layers"][0]["kernel_size"]
    assert any("kept the last good value" in e.value for e in at.error)


def test_editor_actions_through_state_and_one_click_fix():
    design = load_template("lenet5")
    at = _app(design)
    # the component's actions go through do_action: removing Flatten leaves a Linear after a 4-D tensor
    flatten = next(i for i, n in enumerate(design["layers"]) if n["type"] == "Flatten")
    S.do_action(at.session_state, {"op": "remove", "path": f"layers[{flatten}]"})
    at.run()
    analysis = S.analysis_of(_design(at))
    assert not analysis.valid and analysis.errors[0].fix == f"insert Flatten before layers[{flatten}]"
    fix = next(b for b in at.button if b.key and b.key.startswith("fix_"))
    fix.click().run()
    assert _design(at)["layers"][flatten]["type"] == "Flatten"
    assert S.analysis_of(_design(at)).valid


def test_bad_import_keeps_the_design():
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    before = json.dumps(state[S.DESIGN])
    problems = S.import_design(state, b'{"format": "netwright.design", "version": 1, "input": {"shape": [0]},'
                                      b' "layers": [{"type": "Conv9d"}]}')
    assert any("input.shape" in p for p in problems) and any("layers[0]" in p for p in problems)
    assert json.dumps(state[S.DESIGN]) == before
    assert S.import_design(state, b"not json")[0].startswith("not valid JSON")
    assert json.dumps(state[S.DESIGN]) == before
    good = json.dumps(load_template("resnet_small")).encode()
    assert S.import_design(state, good) == []
    assert state[S.DESIGN]["name"] == load_template("resnet_small")["name"]


def test_code_view_equals_export():
    design = load_template("resnet_small")
    at = _page(_app(design), "code")
    files = export_files(design)
    shown = [c.value.rstrip("\n") for c in at.code]  # st.code drops the final newline
    assert files["model.py"].rstrip("\n") in shown
    assert files["train.py"].rstrip("\n") in shown


def test_summary_shows_computed_totals():
    design = load_template("lenet5")
    at = _page(_app(design), "summary")
    analysis = S.analysis_of(design)
    values = {m.label: m.value for m in at.metric}
    assert values["Parameters"] == f"{analysis.params:,}"
    assert values["Size (float32)"] == f"{analysis.params * 4 / 1e6:.2f} MB"


def test_autosave_restores_after_restart(tmp_path):
    at = _app(load_template("inception"))
    session_id = at.session_state[S.SESSION_ID]
    # a new browser session with no state (a restart): the latest autosave comes back
    at2 = AppTest.from_file(APP, default_timeout=120)
    at2.run()
    assert at2.session_state[S.DESIGN]["name"] == load_template("inception")["name"]
    assert at2.session_state[S.SESSION_ID] == session_id


def test_a_message_does_not_move_the_user_off_their_page():
    """A flash message (say, a refused value) shows once; the next rerun stays on the page the user
    was on (tabs used to jump back to Graph and hide Train's errors)."""
    at = _page(_app(load_template("lenet5")), "train")
    S.flash(at.session_state, "error", "refused: " + md_text("**bold** [link](http://127.0.0.1:1/x.png)"))
    at.run()
    assert any("refused" in e.value for e in at.error)
    # user text is shown as typed, never as Markdown
    assert any(r"\*\*bold\*\*" in e.value and r"\[link\]" in e.value for e in at.error)
    at.run()
    assert any(b.key == "train_start" for b in at.button)  # still the Train page
    assert not any("refused" in e.value for e in at.error)  # shown once


def test_tie_weights_offers_the_embeddings_before_the_layer():
    at = _app(load_template("gpt_decoder"))
    at.session_state[S.SELECTED] = "layers[4]"  # the LM head, tied to layers[0]
    at.run()
    rev = at.session_state[S.REVISION]
    tie = next(w for w in at.selectbox if w.key == f"insp:{rev}:layers[4]:tie_weights")
    assert tie.options == ["none (own weight)", "layers[0]"] and tie.value == "layers[0]"
    tie.set_value("none (own weight)").run()
    assert "tie_weights" not in _design(at)["layers"][4] or _design(at)["layers"][4]["tie_weights"] is None
    assert S.analysis_of(_design(at)).valid


@pytest.mark.parametrize("merge, shows_dim", [("concat", True), ("add", False), ("mul", False)])
def test_parallel_shows_dim_only_for_concat(merge, shows_dim):
    design = load_template("inception")
    path = next(f"layers[{i}]" for i, n in enumerate(design["layers"]) if n["type"] == "Parallel")
    at = _app(design)
    S.do_action(at.session_state, {"op": "set", "path": path, "key": "merge", "value": merge})
    at.session_state[S.SELECTED] = path
    at.run()
    rev = at.session_state[S.REVISION]
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert f"insp:{rev}:{path}:merge" in keys
    assert (f"insp:{rev}:{path}:dim" in keys) == shows_dim


@pytest.mark.parametrize("type_, param, text, value", [
    ("Upsample", "size", "[20]", [20]),  # a one-entry list (1-D Upsample)
    ("Upsample", "size", "20,", [20]),
    ("Upsample", "size", "20", 20),
    ("AdaptiveAvgPool2d", "output_size", "none, 7", [None, 7]),  # keep the height, pool the width to 7
    ("AdaptiveAvgPool2d", "output_size", "7", 7),
])
def test_size_fields_take_one_entry_lists_and_kept_entries(type_, param, text, value):
    from components.inspector import parse_text, value_text
    from designer.registry import get_spec

    spec = next(p for p in get_spec(type_).params if p.name == param)
    assert parse_text(spec, text) == value
    assert parse_text(spec, value_text(value)) == value  # what the field shows reads back the same
