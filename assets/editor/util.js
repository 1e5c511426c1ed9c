// Small helpers shared by every part of the editor (no state, no user text as markup).

// BLOCKS and MERGES come first in the joined module, from designer.blocks (components/editor.py).

const ICONS = {
  duplicate:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="5" width="8.5" height="8.5" rx="1.6"/><path d="M10.5 3.2V3A1.5 1.5 0 0 0 9 1.5H3A1.5 1.5 0 0 0 1.5 3v6A1.5 1.5 0 0 0 3 10.5h.2"/></svg>',
  remove: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8"/></svg>',
  chevron: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M6 4l4 4-4 4"/></svg>',
  grip:
    '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="6" cy="4" r="1.1"/><circle cx="10" cy="4" r="1.1"/><circle cx="6" cy="8" r="1.1"/><circle cx="10" cy="8" r="1.1"/><circle cx="6" cy="12" r="1.1"/><circle cx="10" cy="12" r="1.1"/></svg>',
  warn: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M8 1.8 15 14H1z"/><path d="M8 6.2v3.6M8 11.6v.4"/></svg>',
  undo: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M5.5 3.5 2.5 6.5l3 3"/><path d="M2.5 6.5h7a4 4 0 0 1 0 8H7"/></svg>',
  redo: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M10.5 3.5l3 3-3 3"/><path d="M13.5 6.5h-7a4 4 0 0 0 0 8H9"/></svg>',
};

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an element; attrs with null/false values are skipped; children may be strings. */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The SVG twin of h(). */
function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
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
    const str = v >= 100 ? v.toFixed(0) : v.toFixed(1);
    // Rounding can carry into the next unit: 999_950 is "1M", not "1000k".
    if (Number(str) < 1000 || i === units.length - 1) return sign + str.replace(/\.0$/, "") + units[i];
  }
  return String(n);
}

function lower(x) {
  return String(x ?? "").toLowerCase();
}

function plural(n, word) {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

/** The child lists of a block node, as [key, label, nodes] in drawing order. */
function childSlots(node) {
  return laneEntries(node).map(([suffix, lane, kids]) => [suffix, lane.label, kids]);
}

/** [slot suffix, lane (label with its number), nodes] of a block, as designer.blocks declares them. */
function laneEntries(node) {
  const block = BLOCKS[node?.type];
  if (!block) return [];
  const out = [];
  for (const [key, lane] of Object.entries(block.lanes)) {
    const value = node[key];
    if (lane.many) {
      (Array.isArray(value) ? value : []).forEach((kids, i) => {
        if (Array.isArray(kids)) out.push([`${key}[${i}]`, { ...lane, label: lane.label.replace("{n}", String(i + 1)) }, kids]);
      });
    } else {
      out.push([key, { ...lane, label: lane.label || key }, Array.isArray(value) ? value : []]);
    }
  }
  return out;
}

/** The merge mode of a fork block (its fixed one, else the node's own). */
function mergeOf(node) {
  const mode = BLOCKS[node?.type]?.merge || node?.merge;
  return mode in MERGES ? mode : "concat";
}

/** A block's title: its type, "× N" where it stands for copies. */
function blockTitle(node) {
  const count = BLOCKS[node?.type]?.count;
  return count ? `${node.type} × ${node[count] ?? "?"}` : String(node?.type ?? "?");
}

/** How many layers (non-block nodes) a list of nodes holds, however deep. */
function countNodes(nodes) {
  let n = 0;
  for (const node of nodes || []) {
    if (!node || typeof node !== "object") continue;
    if (node.type in BLOCKS) for (const [, , kids] of childSlots(node)) n += countNodes(kids);
    else n += 1;
  }
  return n;
}
