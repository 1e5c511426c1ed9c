// Netwright model editor: the Streamlit Components v2 module behind components/editor.py.
//
// Streamlit calls the default export once on mount and again whenever `data` (the payload
// from build_payload) or the theme changes, always with the same `parentElement`. So all
// listeners are attached once, to the editor's own root, and every call only re-renders
// from the new payload. Local UI state (search text, collapsed groups, multi-selection)
// lives in a WeakMap keyed by that root, so it survives reruns and dies with the element.
//
// Every user gesture becomes one action dict sent with setTriggerValue("action", ...):
// Python reads it for exactly one rerun. The editor never edits the design itself.

const STATES = new WeakMap();

const BLOCKS = {
  Sequential: "Layers in order, as one group",
  Residual: "body(x) + shortcut(x); an empty shortcut is the identity",
  Parallel: "Branches on the same input, concatenated or added",
  Repeat: "The body N times in a row, each copy with its own weights",
};

const ICONS = {
  duplicate:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="5" width="8.5" height="8.5" rx="1.6"/><path d="M10.5 3.2V3A1.5 1.5 0 0 0 9 1.5H3A1.5 1.5 0 0 0 1.5 3v6A1.5 1.5 0 0 0 3 10.5h.2"/></svg>',
  remove:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8"/></svg>',
  chevron:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M6 4l4 4-4 4"/></svg>',
  grip:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="6" cy="4" r="1.1"/><circle cx="10" cy="4" r="1.1"/><circle cx="6" cy="8" r="1.1"/><circle cx="10" cy="8" r="1.1"/><circle cx="6" cy="12" r="1.1"/><circle cx="10" cy="12" r="1.1"/></svg>',
  warn:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M8 1.8 15 14H1z"/><path d="M8 6.2v3.6M8 11.6v.4"/></svg>',
};

// ---------------------------------------------------------------- small helpers

/** Create an element; attrs with null/false values are skipped; children may be strings. */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An element holding one of the constant ICONS (never user text). */
function icon(name) {
  const span = h("span", { class: `nw-icon nw-icon-${name}` });
  span.innerHTML = ICONS[name];
  return span;
}

/** "layers[4].body[0]" -> {slot: "layers[4].body", index: 0}. */
function parentSlot(path) {
  const m = /^(.*)\[(\d+)\]$/.exec(path || "");
  return m ? { slot: m[1], index: Number(m[2]) } : null;
}

/** [64, 16, 16] -> "64×16×16"; null -> "—". */
export function formatShape(shape) {
  if (!Array.isArray(shape)) return "—";
  if (shape.length === 0) return "scalar";
  return shape.map((d) => (d === null || d === undefined || d < 0 ? "?" : String(d))).join("×");
}

/** 1234 -> "1.2k", 3_400_000 -> "3.4M", 999 -> "999". */
export function formatCount(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const sign = n < 0 ? "-" : "";
  const a = Math.abs(n);
  if (a < 1000) return sign + String(Math.round(a));
  const units = ["k", "M", "B", "T"];
  for (let i = 0; i < units.length; i++) {
    const v = a / 1000 ** (i + 1);
    const s = v >= 100 ? v.toFixed(0) : v.toFixed(1);
    // Rounding can carry into the next unit: 999_950 is "1M", not "1000k".
    if (Number(s) < 1000 || i === units.length - 1) return sign + s.replace(/\.0$/, "") + units[i];
  }
  return String(n);
}

function lower(s) {
  return String(s ?? "").toLowerCase();
}

// ---------------------------------------------------------------- entry point

export default function mountEditor(component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".nw-editor");
  if (!root) return undefined;
  let st = STATES.get(root);
  if (!st) {
    st = createState(root);
    STATES.set(root, st);
    attachListeners(st);
  }
  st.send = (action) => {
    st.lastAction = action;
    root.dataset.lastAction = JSON.stringify(action);
    setTriggerValue("action", action);
  };
  update(st, data || {});
  // Listeners live on `root` only, so they go away with it; nothing to clean up here.
  return undefined;
}

function createState(root) {
  return {
    root,
    model: root.querySelector(".nw-model"),
    groups: root.querySelector(".nw-groups"),
    search: root.querySelector(".nw-search"),
    paletteEmpty: root.querySelector(".nw-palette-empty"),
    info: root.querySelector(".nw-toolbar-info"),
    wrapButtons: Array.from(root.querySelectorAll('[data-action="wrap"]')),
    indicator: h("div", { class: "nw-indicator", "data-testid": "nw-indicator", "aria-hidden": "true" }),
    data: {},
    rows: {},
    families: {},
    catalogueKey: null,
    designKey: null,
    serverSelected: undefined,
    collapsed: new Set(),
    selection: [], // paths, all in one lane (selSlot)
    selSlot: null,
    anchor: null, // where a shift-click range starts
    primary: null, // the card Delete acts on
    drag: null, // {kind: "chip", type} | {kind: "card", path}
    dropLane: null,
    leaveTimer: 0,
    send: () => {},
  };
}

// ---------------------------------------------------------------- rendering

function update(st, data) {
  st.data = data;
  st.rows = data.rows || {};
  st.families = data.families || {};

  const catalogueKey = JSON.stringify([data.catalogue || [], st.families]);
  if (catalogueKey !== st.catalogueKey) {
    st.catalogueKey = catalogueKey;
    renderPalette(st);
  }

  // A new design or a new server-side selection resets the local (multi-)selection.
  const designKey = JSON.stringify(data.design ?? null);
  const selected = data.selected ?? null;
  if (designKey !== st.designKey || selected !== st.serverSelected) {
    setSelection(st, selected ? [selected] : [], selected);
  }
  st.designKey = designKey;
  st.serverSelected = selected;

  renderModel(st);
  applySelection(st);
}

function familyOf(st, name) {
  const fam = st.families[name];
  if (fam) return { label: fam.label || name, fill: fam.fill, accent: fam.accent };
  const label = name === "block" ? "Blocks" : name ? name[0].toUpperCase() + name.slice(1) : "Other";
  return { label, fill: null, accent: null };
}

function paletteItems(st) {
  const items = (st.data.catalogue || []).map((c) => ({
    type: String(c.type),
    family: String(c.family || "other"),
    help: String(c.help || ""),
  }));
  const known = new Set(items.map((i) => i.type));
  for (const [type, help] of Object.entries(BLOCKS)) {
    if (!known.has(type)) items.push({ type, family: "block", help });
  }
  return items;
}

function renderPalette(st) {
  const items = paletteItems(st);
  const order = Object.keys(st.families);
  for (const it of items) if (!order.includes(it.family)) order.push(it.family);
  const groups = [];
  for (const family of order) {
    const members = items.filter((it) => it.family === family);
    if (!members.length) continue;
    const fam = familyOf(st, family);
    const chips = members.map((it) => {
      const chip = h(
        "div",
        {
          class: "nw-chip",
          "data-testid": "nw-chip",
          "data-type": it.type,
          "data-family": family,
          "data-search": lower(`${it.type} ${family} ${fam.label} ${it.help}`),
          draggable: "true",
          tabindex: "0",
          role: "button",
          title: it.help ? `${it.type}: ${it.help}` : it.type,
        },
        h("span", { class: "nw-chip-dot" }),
        h("span", { class: "nw-chip-name", text: it.type }),
      );
      if (fam.accent) chip.style.setProperty("--fam", fam.accent);
      return chip;
    });
    const toggle = h(
      "button",
      {
        type: "button",
        class: "nw-group-toggle",
        "data-action": "toggle-group",
        "data-family": family,
        "data-testid": "nw-group-toggle",
        "aria-expanded": "true",
      },
      icon("chevron"),
      h("span", { class: "nw-group-label", text: fam.label }),
      h("span", { class: "nw-group-count", text: String(members.length) }),
    );
    const group = h(
      "div",
      { class: "nw-group", "data-testid": "nw-group", "data-family": family },
      toggle,
      h("div", { class: "nw-chips" }, chips),
    );
    if (fam.accent) group.style.setProperty("--fam", fam.accent);
    groups.push(group);
  }
  st.groups.replaceChildren(...groups);
  filterPalette(st);
}

function filterPalette(st) {
  const tokens = lower(st.search.value).split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const group of st.groups.querySelectorAll(".nw-group")) {
    let inGroup = 0;
    for (const chip of group.querySelectorAll(".nw-chip")) {
      const hay = chip.dataset.search;
      const match = tokens.every((t) => hay.includes(t));
      chip.hidden = !match;
      if (match) inGroup += 1;
    }
    group.hidden = inGroup === 0;
    const collapsed = !tokens.length && st.collapsed.has(group.dataset.family);
    group.classList.toggle("nw-collapsed", collapsed);
    group.querySelector(".nw-group-toggle").setAttribute("aria-expanded", String(!collapsed));
    group.querySelector(".nw-group-count").textContent = String(inGroup);
    shown += inGroup;
  }
  st.paletteEmpty.hidden = shown > 0;
}

function renderModel(st) {
  const design = st.data.design || {};
  const input = st.data.input || design.input || {};
  const layers = Array.isArray(design.layers) ? design.layers : [];

  const inputCard = h(
    "div",
    { class: "nw-io nw-input", "data-testid": "nw-input" },
    h("span", { class: "nw-io-title", text: "Input" }),
    h("span", { class: "nw-shape", text: formatShape(input.shape) }),
    h("span", { class: "nw-dtype", text: input.dtype || "float32" }),
  );
  const lane = renderLane(st, layers, "layers", "Drag layers here from the palette");
  lane.classList.add("nw-lane-root");
  const out = st.data.output_shape;
  const outputCard = h(
    "div",
    {
      class: `nw-io nw-output${Array.isArray(out) ? "" : " nw-io-unknown"}`,
      "data-testid": "nw-output",
    },
    h("span", { class: "nw-io-title", text: "Output" }),
    h("span", { class: "nw-shape", text: formatShape(out) }),
  );
  st.model.replaceChildren(inputCard, lane, outputCard);
  st.dropLane = null;

  const total = layers.reduce((sum, _n, i) => sum + (Number(st.rows[`layers[${i}]`]?.params) || 0), 0);
  const count = countNodes(layers);
  st.info.replaceChildren(
    h("span", { class: "nw-model-name", text: design.name || "Model" }),
    h("span", { class: "nw-model-stats", text: `${count} layer${count === 1 ? "" : "s"} · ${formatCount(total)} params` }),
    h("span", { class: "nw-selection-info", "data-testid": "nw-selection-info" }),
  );
}

function countNodes(nodes) {
  let n = 0;
  for (const node of nodes || []) {
    if (!node || typeof node !== "object") continue;
    if (node.type in BLOCKS) {
      for (const key of ["layers", "body", "shortcut"]) n += countNodes(node[key]);
      for (const br of node.branches || []) n += countNodes(br);
    } else n += 1;
  }
  return n;
}

function renderLane(st, nodes, slot, emptyText) {
  const lane = h("div", { class: "nw-lane", "data-testid": "nw-lane", "data-slot": slot });
  const list = Array.isArray(nodes) ? nodes : [];
  list.forEach((node, i) => lane.append(renderNode(st, node, `${slot}[${i}]`)));
  if (!list.length) lane.append(h("div", { class: "nw-empty", text: emptyText }));
  return lane;
}

function laneWrap(title, lane, extraClass) {
  return h(
    "div",
    { class: `nw-lane-wrap${extraClass ? ` ${extraClass}` : ""}` },
    h("div", { class: "nw-lane-title", text: title }),
    lane,
  );
}

function cardActions() {
  return h(
    "div",
    { class: "nw-card-actions" },
    h(
      "button",
      { type: "button", class: "nw-icon-btn", "data-action": "duplicate", "data-testid": "nw-duplicate", title: "Duplicate", "aria-label": "Duplicate" },
      icon("duplicate"),
    ),
    h(
      "button",
      { type: "button", class: "nw-icon-btn nw-danger", "data-action": "remove", "data-testid": "nw-remove", title: "Delete (Del)", "aria-label": "Delete" },
      icon("remove"),
    ),
  );
}

function renderErrors(row) {
  const errors = Array.isArray(row.errors) ? row.errors : [];
  if (!errors.length) return null;
  return h(
    "div",
    { class: "nw-errors", "data-testid": "nw-errors" },
    errors.map((err, i) =>
      h(
        "div",
        { class: "nw-error-row" },
        icon("warn"),
        h(
          "div",
          { class: "nw-error-text" },
          h("div", { class: "nw-error-msg", "data-testid": "nw-error-message", text: err.message || "Error" }),
          err.fix ? h("div", { class: "nw-error-fix", text: `Fix: ${err.fix}` }) : null,
        ),
        err.fix
          ? h("button", { type: "button", class: "nw-btn nw-btn-fix", "data-action": "fix", "data-index": String(i), "data-testid": "nw-fix", title: err.fix }, "Fix")
          : null,
      ),
    ),
  );
}

function metaBlock(row, status) {
  const shape = status === "unreached" ? "—" : formatShape(row.output_shape);
  return h(
    "div",
    { class: "nw-card-meta" },
    h("span", { class: "nw-shape", "data-testid": "nw-shape", title: "Output shape (batch excluded)", text: shape }),
    h("span", { class: "nw-params", "data-testid": "nw-params", title: `${Number(row.params) || 0} parameters`, text: formatCount(Number(row.params) || 0) }),
  );
}

function renderNode(st, node, path) {
  node = node && typeof node === "object" ? node : { type: "?" };
  const type = String(node.type ?? "?");
  const row = st.rows[path] || {};
  const isBlock = type in BLOCKS;
  const status = row.status || (Array.isArray(row.errors) && row.errors.length ? "error" : "ok");
  const familyName = row.family || (isBlock ? "block" : "");
  const fam = familyOf(st, familyName);
  const classes = ["nw-card", isBlock ? `nw-block nw-block-${type.toLowerCase()}` : "nw-layer"];
  if (status === "error") classes.push("nw-error");
  if (status === "unreached") classes.push("nw-unreached");

  const card = h("div", {
    class: classes.join(" "),
    "data-testid": "nw-card",
    "data-path": path,
    "data-type": type,
    "data-status": status,
    "data-family": familyName || null,
    draggable: "true",
  });
  if (fam.accent) card.style.setProperty("--fam", fam.accent);

  let title = type;
  if (type === "Repeat") title = `Repeat × ${node.times ?? "?"}`;
  // The label repeats the type ("Conv2d 64 · 3×3"): the title shows it already.
  let sub = String(row.label || "");
  if (sub.startsWith(type)) sub = sub.slice(type.length).replace(/^\s*(·\s*)?/, "");
  if (type === "Repeat") sub = sub.replace(/^×\s*\d+\s*(·\s*)?/, "");
  if (type === "Parallel") {
    const merge = node.merge || "concat";
    sub = merge === "concat" ? `merge: concat · dim ${node.dim ?? 1}` : `merge: ${merge}`;
  }

  const head = h(
    "div",
    { class: isBlock ? "nw-card-row nw-block-head" : "nw-card-row" },
    h("span", { class: "nw-grip", title: "Drag to move" }, icon("grip")),
    h(
      "div",
      { class: "nw-card-main" },
      h(
        "div",
        { class: "nw-card-title" },
        h("span", { class: "nw-type", "data-testid": "nw-type", text: title }),
        node.name ? h("span", { class: "nw-name", "data-testid": "nw-name", text: String(node.name) }) : null,
      ),
      sub ? h("div", { class: "nw-card-label", "data-testid": "nw-label", text: sub }) : null,
    ),
    metaBlock(row, status),
    cardActions(),
  );
  card.append(head);
  const errors = renderErrors(row);
  if (errors) card.append(errors);

  if (isBlock) {
    const body = h("div", { class: "nw-block-lanes" });
    if (type === "Sequential") {
      body.append(laneWrap("layers", renderLane(st, node.layers, `${path}.layers`, "Drop layers here")));
    } else if (type === "Residual") {
      body.append(
        laneWrap("body", renderLane(st, node.body, `${path}.body`, "Drop layers here"), "nw-lane-body"),
        laneWrap("shortcut", renderLane(st, node.shortcut, `${path}.shortcut`, "identity"), "nw-lane-shortcut"),
      );
    } else if (type === "Repeat") {
      body.append(laneWrap("body", renderLane(st, node.body, `${path}.body`, "Drop layers here")));
    } else if (type === "Parallel") {
      const branches = Array.isArray(node.branches) ? node.branches : [];
      branches.forEach((br, i) =>
        body.append(laneWrap(`branch ${i + 1}`, renderLane(st, br, `${path}.branches[${i}]`, "identity (skip)"))),
      );
      body.append(
        h(
          "button",
          {
            type: "button",
            class: "nw-add-branch",
            "data-action": "add-branch",
            "data-testid": "nw-add-branch",
            // Dropping here targets a branch that does not exist yet: the lead's edit
            // creates it (slot "<path>.branches[N]", N = current number of branches).
            "data-slot": `${path}.branches[${branches.length}]`,
            "data-new-branch": "1",
            title: "Add a branch (or drop a layer here to start one)",
          },
          "+ branch",
        ),
      );
    }
    card.append(body);
  }
  return card;
}

// ---------------------------------------------------------------- selection

function setSelection(st, paths, primary) {
  st.selection = paths.slice();
  st.primary = primary ?? paths[paths.length - 1] ?? null;
  st.anchor = st.primary;
  st.selSlot = paths.length ? parentSlot(paths[0])?.slot ?? null : null;
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
  for (const card of st.model.querySelectorAll(".nw-card")) {
    card.classList.toggle("nw-selected", chosen.has(card.dataset.path));
    card.classList.toggle("nw-primary", card.dataset.path === st.primary && chosen.size > 0);
  }
  const ok = selectionContiguous(st);
  for (const btn of st.wrapButtons) {
    btn.disabled = !ok;
    btn.title = ok
      ? `Wrap the ${st.selection.length === 1 ? "selected card" : `${st.selection.length} selected cards`} in a ${btn.dataset.block}`
      : "Select one card, or shift/ctrl-click neighbouring cards of one lane";
  }
  const info = st.info.querySelector(".nw-selection-info");
  if (info) info.textContent = st.selection.length > 1 ? `${st.selection.length} selected` : "";
}

function clickCard(st, card, event) {
  const path = card.dataset.path;
  const ps = parentSlot(path);
  if (!ps) return;
  const extend = event.shiftKey || event.ctrlKey || event.metaKey;
  if (extend && st.selection.length && st.selSlot === ps.slot) {
    if (event.shiftKey && st.anchor) {
      const a = parentSlot(st.anchor).index;
      const lo = Math.min(a, ps.index);
      const hi = Math.max(a, ps.index);
      const paths = [];
      for (let i = lo; i <= hi; i++) paths.push(`${ps.slot}[${i}]`);
      const anchor = st.anchor;
      st.selection = paths;
      st.anchor = anchor;
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
    return; // multi-selection is local until a toolbar button uses it
  }
  setSelection(st, [path], path);
  applySelection(st);
  if (path !== (st.data.selected ?? null)) st.send({ op: "select", path });
}

function orderedSelection(st) {
  return st.selection
    .slice()
    .sort((a, b) => parentSlot(a).index - parentSlot(b).index);
}

// ---------------------------------------------------------------- gestures

function insertAfterSelection(st, type) {
  const design = st.data.design || {};
  const ps = st.primary ? parentSlot(st.primary) : null;
  if (ps) st.send({ op: "insert", slot: ps.slot, index: ps.index + 1, type });
  else st.send({ op: "insert", slot: "layers", index: (design.layers || []).length, type });
}

function laneCards(lane) {
  return Array.from(lane.children).filter((c) => c.classList.contains("nw-card"));
}

/** Where the pointer falls among the lane's cards: the index of the gap (0..n). */
function gapIndex(lane, clientY) {
  const cards = laneCards(lane);
  for (let i = 0; i < cards.length; i++) {
    const r = cards[i].getBoundingClientRect();
    if (clientY < r.top + r.height / 2) return i;
  }
  return cards.length;
}

function elementTarget(event) {
  const t = event.target;
  return t instanceof Element ? t : t?.parentElement ?? null;
}

/** The drop the pointer points at, or null where nothing may be dropped. */
function dropTarget(st, event) {
  const t = elementTarget(event);
  if (!t || !st.drag) return null;
  let lane = t.closest("[data-slot]");
  let index;
  if (!lane || !st.model.contains(lane)) {
    const root = st.model.querySelector(".nw-lane-root");
    if (t.closest(".nw-input")) {
      lane = root;
      index = 0;
    } else if (t.closest(".nw-output")) {
      lane = root;
      index = laneCards(root).length;
    } else return null;
  }
  const slot = lane.dataset.slot;
  if (index === undefined) index = lane.dataset.newBranch ? 0 : gapIndex(lane, event.clientY);
  if (st.drag.kind === "card") {
    const path = st.drag.path;
    if (slot.startsWith(`${path}.`)) return null; // into itself or its descendants
    const ps = parentSlot(path);
    if (ps && ps.slot === slot && (index === ps.index || index === ps.index + 1)) return null; // no move
  }
  return { lane, slot, index };
}

function showIndicator(st, target) {
  if (st.dropLane && st.dropLane !== target.lane) st.dropLane.classList.remove("nw-drop-lane");
  st.dropLane = target.lane;
  target.lane.classList.add("nw-drop-lane");
  if (target.lane.dataset.newBranch) {
    st.indicator.remove();
    return;
  }
  const lane = target.lane;
  const cards = laneCards(lane);
  const gap = parseFloat(getComputedStyle(lane).rowGap) || 8;
  let y;
  if (!cards.length) y = lane.clientHeight / 2;
  else if (target.index === 0) y = cards[0].offsetTop - gap / 2;
  else if (target.index >= cards.length) {
    const last = cards[cards.length - 1];
    y = last.offsetTop + last.offsetHeight + gap / 2;
  } else {
    const a = cards[target.index - 1];
    const b = cards[target.index];
    y = (a.offsetTop + a.offsetHeight + b.offsetTop) / 2;
  }
  if (st.indicator.parentNode !== lane) lane.append(st.indicator);
  st.indicator.style.top = `${Math.round(y)}px`;
  st.indicator.dataset.slot = target.slot;
  st.indicator.dataset.index = String(target.index);
}

function hideIndicator(st) {
  st.indicator.remove();
  if (st.dropLane) st.dropLane.classList.remove("nw-drop-lane");
  st.dropLane = null;
}

function endDrag(st) {
  clearTimeout(st.leaveTimer);
  hideIndicator(st);
  st.drag = null;
  st.root.classList.remove("nw-dragging");
  for (const el of st.root.querySelectorAll(".nw-drag-source")) el.classList.remove("nw-drag-source");
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
          if (st.collapsed.has(fam)) st.collapsed.delete(fam);
          else st.collapsed.add(fam);
          filterPalette(st);
          return;
        }
        case "duplicate":
          if (path) st.send({ op: "duplicate", path });
          return;
        case "remove":
          if (path) st.send({ op: "remove", path });
          return;
        case "fix":
          if (path) st.send({ op: "fix", path, index: Number(actionEl.dataset.index) || 0 });
          return;
        case "add-branch":
          if (path) st.send({ op: "add_branch", path });
          return;
        case "wrap":
          if (selectionContiguous(st))
            st.send({ op: "wrap", paths: orderedSelection(st), block: actionEl.dataset.block });
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
      clickCard(st, card, event);
      root.focus({ preventScroll: true });
    }
  });

  root.addEventListener("keydown", (event) => {
    const t = elementTarget(event);
    if (t === st.search) {
      if (event.key === "Escape" && st.search.value) {
        st.search.value = "";
        filterPalette(st);
        event.stopPropagation();
      }
      return;
    }
    const chip = t?.closest?.(".nw-chip");
    if (chip && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      insertAfterSelection(st, chip.dataset.type);
      return;
    }
    if (t?.closest?.("button")) return; // let buttons handle their own keys
    if ((event.key === "Delete" || event.key === "Backspace") && st.primary) {
      event.preventDefault();
      st.send({ op: "remove", path: st.primary });
    } else if (event.key === "Escape" && st.selection.length) {
      setSelection(st, [], null);
      applySelection(st);
      if (st.data.selected) st.send({ op: "select", path: null });
    }
  });

  root.addEventListener("dragstart", (event) => {
    const t = elementTarget(event);
    const chip = t?.closest(".nw-chip");
    if (chip) {
      st.drag = { kind: "chip", type: chip.dataset.type };
      event.dataTransfer.effectAllowed = "copy";
      event.dataTransfer.setData("text/plain", chip.dataset.type);
    } else {
      const card = t?.closest(".nw-card");
      if (!card) return;
      st.drag = { kind: "card", path: card.dataset.path };
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.path);
      // Grey the source a tick later, so the drag image still shows it in colour.
      setTimeout(() => card.classList.add("nw-drag-source"), 0);
    }
    root.classList.add("nw-dragging");
  });

  root.addEventListener("dragover", (event) => {
    if (!st.drag) return;
    clearTimeout(st.leaveTimer);
    const target = dropTarget(st, event);
    if (!target) {
      hideIndicator(st);
      return; // no preventDefault: the browser shows "no drop" here
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = st.drag.kind === "chip" ? "copy" : "move";
    showIndicator(st, target);
  });

  // dragleave fires on every child boundary, often without a relatedTarget; so hide a
  // moment later unless a dragover (which repeats while the pointer stays) takes over.
  root.addEventListener("dragleave", () => {
    clearTimeout(st.leaveTimer);
    st.leaveTimer = setTimeout(() => hideIndicator(st), 120);
  });

  root.addEventListener("drop", (event) => {
    if (!st.drag) return;
    event.preventDefault();
    const target = dropTarget(st, event);
    const drag = st.drag;
    endDrag(st);
    if (!target) return;
    if (drag.kind === "chip") st.send({ op: "insert", slot: target.slot, index: target.index, type: drag.type });
    else st.send({ op: "move", path: drag.path, slot: target.slot, index: target.index });
  });

  root.addEventListener("dragend", () => endDrag(st));
}
