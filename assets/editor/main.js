// Netwright model editor: the Streamlit Components v2 module behind components/editor.py.
// components/editor.py joins the files of this folder in order (util, edits, palette, lanes,
// drag, keys, drawing, main) into one module: no build step.
//
// Streamlit calls the default export once on mount and again whenever `data` (the payload
// from build_payload) or the theme changes, always with the same `parentElement`. Listeners
// are attached once; every call re-renders from the new payload. Local UI state (search text,
// collapsed groups, selection, zoom, unconfirmed edits) lives in a WeakMap keyed by the root.
//
// The wire: each gesture becomes an action with a sequence number. The trigger value
// "action" carries {op: "batch", client, actions: [every action not yet confirmed]}; the
// server applies those it has not seen (by seq) and confirms with payload.ack. So an action
// is applied exactly once and none is lost, however fast the gestures come: a trigger that a
// busy server merged into another is covered by the next one, or by the resend timer.

const STATES = new WeakMap();
const RESEND_MS = 2500;

export default function mountEditor(component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".nw-editor");
  if (!root) return undefined;
  let st = STATES.get(root);
  if (!st) {
    st = createState(root);
    STATES.set(root, st);
    attachListeners(st);
    attachDrag(st);
    createDrawing(st, root.querySelector(".nw-draw-view"));
  }
  st.setTrigger = setTriggerValue;
  attachKeys(st);
  update(st, data || {});
  return undefined;
}

function createState(root) {
  return {
    root,
    client: Math.random().toString(36).slice(2, 12),
    seq: 0,
    pending: [], // actions sent, not yet confirmed
    resendTimer: 0,
    model: root.querySelector(".nw-model"),
    groups: root.querySelector(".nw-groups"),
    search: root.querySelector(".nw-search"),
    paletteEmpty: root.querySelector(".nw-palette-empty"),
    info: root.querySelector(".nw-toolbar-info"),
    undoBtn: root.querySelector('[data-action="undo"]'),
    redoBtn: root.querySelector('[data-action="redo"]'),
    zoomLabel: root.querySelector(".nw-zoom-label"),
    wrapButtons: Array.from(root.querySelectorAll('[data-action="wrap"]')),
    indicator: h("div", { class: "nw-indicator", "data-testid": "nw-indicator", "aria-hidden": "true" }),
    data: {},
    rows: {},
    rowsOf: new WeakMap(),
    view: {}, // the design as shown: the server's, with unconfirmed edits applied
    pendingView: false,
    families: {},
    familyOfType: {},
    templates: { nodes: {}, wrap: {} },
    catalogueKey: null,
    collapsedGroups: new Set(),
    selection: [], // paths, all in one lane (selSlot)
    selSlot: null,
    anchor: null, // where a shift-click range starts
    primary: null, // the card Delete acts on
    drag: null,
    dropLane: null,
    leaveTimer: 0,
  };
}

// ---------------------------------------------------------------- the wire

/** Record one gesture, show it at once where the browser can, and send every unconfirmed one. */
function act(st, action) {
  action = { ...action, seq: ++st.seq };
  st.pending.push(action);
  let selectAfter;
  if (LOCAL_OPS.has(action.op)) {
    try {
      applyLocal(deepClone(st.view, null, null, null), action, st.templates); // would it apply?
      selectAfter = applyLocal(st.view, action, st.templates); // then on the shown copy, rows kept
      st.pendingView = true;
    } catch {
      selectAfter = undefined; // the server will refuse it and say why
    }
  }
  if (SERVER_OPS.has(action.op)) st.root.classList.add("nw-waiting");
  if (selectAfter !== undefined) {
    setSelection(st, selectAfter ? [selectAfter] : [], selectAfter);
    if ((selectAfter ?? null) !== null || action.op === "remove") {
      st.seq += 1;
      st.pending.push({ op: "select", path: selectAfter, seq: st.seq });
    }
  }
  // Send first: the server works on it while the browser draws the optimistic view.
  flush(st);
  if (LOCAL_OPS.has(action.op)) setTimeout(() => render(st), 0); // after the trigger is on its way
}

function flush(st) {
  clearTimeout(st.resendTimer);
  if (!st.pending.length) return;
  const batch = { op: "batch", client: st.client, actions: st.pending.map((a) => ({ ...a })) };
  st.root.dataset.lastAction = JSON.stringify(st.pending[st.pending.length - 1]);
  st.root.dataset.pending = String(st.pending.length);
  st.setTrigger("action", batch);
  st.resendTimer = setTimeout(() => flush(st), RESEND_MS);
}

// ---------------------------------------------------------------- rendering

function update(st, data) {
  st.data = data;
  st.rows = data.rows || {};
  st.families = data.families || {};
  st.templates = { nodes: {}, wrap: data.wrap || {} };
  st.familyOfType = {};
  for (const c of data.catalogue || []) {
    if (c.node) st.templates.nodes[c.type] = c.node;
    st.familyOfType[c.type] = c.family;
  }

  const catalogueKey = JSON.stringify([(data.catalogue || []).map((c) => c.type), st.families]);
  if (catalogueKey !== st.catalogueKey) {
    st.catalogueKey = catalogueKey;
    renderPalette(st);
  }

  // Confirmed actions leave the queue; the rest are shown on top of the server's design.
  const ack = data.ack || {};
  const hadPending = st.pending.length;
  if (ack.client === st.client) st.pending = st.pending.filter((a) => a.seq > (Number(ack.seq) || 0));
  else if (st.seq === 0) st.pending = [];
  if (!st.pending.some((a) => SERVER_OPS.has(a.op))) st.root.classList.remove("nw-waiting");
  st.rowsOf = new WeakMap();
  st.view = deepClone(data.design || {}, st.rowsOf, st.rows, null);
  st.pendingView = false;
  for (const action of st.pending) {
    if (!LOCAL_OPS.has(action.op)) continue;
    try {
      applyLocal(st.view, action, st.templates);
      st.pendingView = true;
    } catch {
      /* the server will refuse it */
    }
  }
  if (hadPending && !st.pending.length) clearTimeout(st.resendTimer);

  // The server's selection wins once it has seen every gesture; before, the local one stands.
  const selected = data.selected ?? null;
  if (!st.pending.length && selected !== (st.primary ?? null)) setSelection(st, selected ? [selected] : [], selected);
  else if (!st.pending.length) dropMissing(st);
  render(st);
  // After the cards and the drawing show the server's answer (what the browser tests wait on).
  st.root.dataset.pending = String(st.pending.length);
  st.root.dataset.ack = String(ack.seq ?? "");
  st.root.dataset.ready = "1";
}

function render(st) {
  const t0 = performance.now();
  renderModel(st);
  const t1 = performance.now();
  renderDrawing(st);
  applySelection(st);
  // How long the browser took to draw (read by the benchmark and the 5,000-layer test).
  st.root.dataset.renderMs = `${Math.round(t1 - t0)}+${Math.round(performance.now() - t1)}`;
}

// ---------------------------------------------------------------- selection

function setSelection(st, paths, primary) {
  st.selection = paths.slice();
  st.primary = primary ?? paths[paths.length - 1] ?? null;
  st.anchor = st.primary;
  st.selSlot = paths.length ? parentSlot(paths[0])?.slot ?? null : null;
}

function dropMissing(st) {
  const present = new Set(Array.from(st.model.querySelectorAll(".nw-card")).map((c) => c.dataset.path));
  if (st.selection.every((p) => present.has(p))) return;
  setSelection(st, [], null);
}

function selectionIndices(st) {
  return st.selection
    .map((p) => parentSlot(p)?.index)
    .filter((i) => i !== undefined)
    .sort((a, b) => a - b);
}

function selectionContiguous(st) {
  const idx = selectionIndices(st);
  return idx.length > 0 && idx.every((v, i) => i === 0 || v === idx[i - 1] + 1);
}

function applySelection(st) {
  const chosen = new Set(st.selection);
  let primaryCard = null;
  for (const card of st.model.querySelectorAll(".nw-card")) {
    const on = chosen.has(card.dataset.path);
    card.classList.toggle("nw-selected", on);
    const primary = on && card.dataset.path === st.primary;
    card.classList.toggle("nw-primary", primary);
    if (primary) primaryCard = card;
  }
  const ok = selectionContiguous(st);
  for (const btn of st.wrapButtons) {
    btn.disabled = !ok;
    btn.title = ok
      ? `Wrap the ${st.selection.length === 1 ? "selected card" : `${st.selection.length} selected cards`} in a ${btn.dataset.block}`
      : "Select one card, or shift/ctrl-click neighbouring cards of one lane";
  }
  const info = st.info.querySelector(".nw-selection-info");
  const said = st.selection.length > 1 ? `${st.selection.length} selected` : "";
  if (info && info.textContent !== said) info.textContent = said;
  markDrawingSelection(st);
  return primaryCard;
}

/** Select one path (null: none) everywhere: cards, drawing, and the server's inspector. */
function selectOnly(st, path) {
  setSelection(st, path ? [path] : [], path);
  act(st, { op: "select", path: path ?? null }); // sent before the browser's own work
  const card = applySelection(st);
  card?.scrollIntoView({ block: "nearest" });
  if (path) revealInDrawing(st, path);
}

function clickPath(st, path, event) {
  const ps = parentSlot(path);
  if (!ps) return;
  const extend = event.shiftKey || event.ctrlKey || event.metaKey;
  if (extend && st.selection.length && st.selSlot === ps.slot) {
    if (event.shiftKey && st.anchor) {
      const a = parentSlot(st.anchor).index;
      const paths = [];
      for (let i = Math.min(a, ps.index); i <= Math.max(a, ps.index); i++) paths.push(`${ps.slot}[${i}]`);
      st.selection = paths;
      st.primary = path;
    } else if (st.selection.includes(path)) {
      st.selection = st.selection.filter((p) => p !== path);
      st.primary = st.selection[st.selection.length - 1] ?? null;
      st.anchor = st.primary;
      if (!st.selection.length) st.selSlot = null;
    } else {
      st.selection = [...st.selection, path];
      st.primary = path;
      st.anchor = path;
    }
    applySelection(st);
    // The inspector follows the primary card; the multi-selection stays in the browser.
    act(st, { op: "select", path: st.primary });
    return;
  }
  selectOnly(st, path);
}

function orderedSelection(st) {
  return st.selection.slice().sort((a, b) => parentSlot(a).index - parentSlot(b).index);
}

// ---------------------------------------------------------------- gestures

function insertAfterSelection(st, type) {
  const layers = st.view?.layers || [];
  const ps = st.primary ? parentSlot(st.primary) : null;
  if (ps) act(st, { op: "insert", slot: ps.slot, index: ps.index + 1, type });
  else act(st, { op: "insert", slot: "layers", index: layers.length, type });
}

function attachListeners(st) {
  const { root } = st;
  st.search.addEventListener("input", () => filterPalette(st));

  root.addEventListener("click", (event) => {
    const t = elementTarget(event);
    if (!t) return;
    const actionEl = t.closest("[data-action]");
    if (actionEl && root.contains(actionEl)) {
      if (actionEl.disabled) return;
      const card = actionEl.closest(".nw-card");
      const path = card?.dataset.path;
      switch (actionEl.dataset.action) {
        case "toggle-group": {
          const fam = actionEl.dataset.family;
          if (st.collapsedGroups.has(fam)) st.collapsedGroups.delete(fam);
          else st.collapsedGroups.add(fam);
          filterPalette(st);
          return;
        }
        case "duplicate":
          if (path) act(st, { op: "duplicate", path });
          return;
        case "remove":
          if (path) act(st, { op: "remove", path });
          return;
        case "fix":
          if (path) act(st, { op: "fix", path, index: Number(actionEl.dataset.index) || 0 });
          return;
        case "add-branch":
          if (path) act(st, { op: "add_branch", path });
          return;
        case "wrap":
          if (selectionContiguous(st)) act(st, { op: "wrap", paths: orderedSelection(st), block: actionEl.dataset.block });
          return;
        case "undo":
        case "redo":
          act(st, { op: actionEl.dataset.action });
          return;
        case "zoom-in":
        case "zoom-out": {
          const p = st.draw.pane;
          zoomAt(st, actionEl.dataset.action === "zoom-in" ? 1.25 : 0.8, p.clientWidth / 2, p.clientHeight / 2);
          return;
        }
        case "fit":
          fitDrawing(st);
          return;
        case "expand-all":
        case "collapse-all":
          setAllCollapsed(st, actionEl.dataset.action === "collapse-all");
          return;
        default:
          return;
      }
    }
    const chip = t.closest(".nw-chip");
    if (chip) {
      insertAfterSelection(st, chip.dataset.type);
      return;
    }
    const card = t.closest(".nw-card");
    if (card && st.model.contains(card)) {
      clickPath(st, card.dataset.path, event);
      root.focus({ preventScroll: true });
    }
  });

  root.addEventListener("keydown", (event) => {
    const t = elementTarget(event);
    if (t === st.search && event.key === "Escape" && st.search.value) {
      st.search.value = "";
      filterPalette(st);
      event.stopPropagation();
      return;
    }
    const chip = t?.closest?.(".nw-chip");
    if (chip && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      insertAfterSelection(st, chip.dataset.type);
    }
  });
}
