// Optimistic edits: the same tree operations as designer/edits.py, applied in the browser at
// once so a card appears before the server answers. The server stays the truth: every payload
// it sends replaces this copy, with the actions it has not confirmed yet applied on top.
// New nodes and wrappers come from the server's own templates (payload.catalogue[].node and
// payload.wrap), so a node made here equals the one the server makes.

function splitPath(path) {
  // "layers[4].body[2]" -> ["layers", 4, "body", 2]
  const parts = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(path || ""))) parts.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return parts;
}

function listAt(design, slot, create) {
  const parts = splitPath(slot);
  let cur = design;
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i];
    let next = cur?.[key];
    if (next === undefined && create && i === parts.length - 1) {
      if (typeof key === "number" && Array.isArray(cur) && key === cur.length) cur.push((next = []));
      else if (typeof key === "string" && cur && typeof cur === "object" && !Array.isArray(cur)) cur[key] = next = [];
    }
    cur = next;
    if (cur === undefined || cur === null) throw new Error(`no list at ${slot}`);
  }
  if (!Array.isArray(cur)) throw new Error(`${slot} is not a list`);
  return cur;
}

function nodeAt(design, path) {
  const ps = parentSlot(path);
  if (!ps) throw new Error(`bad path ${path}`);
  const list = listAt(design, ps.slot, false);
  const node = list[ps.index];
  if (!node || typeof node !== "object") throw new Error(`no node at ${path}`);
  return { list, index: ps.index, node };
}

function deepClone(value, rowsOf, rows, path) {
  // A copy of the design whose node objects remember their server row (for their shapes).
  if (Array.isArray(value)) return value.map((v, i) => deepClone(v, rowsOf, rows, path === null ? null : `${path}[${i}]`));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const isKids = Array.isArray(v) && ["layers", "body", "shortcut", "branches"].includes(k);
      out[k] = isKids ? deepClone(v, rowsOf, rows, path === null ? k : `${path}.${k}`) : cloneData(v);
    }
    if (rowsOf && path !== null && rows[path] && "type" in out) rowsOf.set(out, rows[path]);
    return out;
  }
  return value;
}

function cloneData(v) {
  return v && typeof v === "object" ? JSON.parse(JSON.stringify(v)) : v;
}

/** Where a node object stands in the tree (identity), or null. */
function findPath(nodes, target, prefix = "layers") {
  for (let i = 0; i < (nodes || []).length; i++) {
    const node = nodes[i];
    const path = `${prefix}[${i}]`;
    if (node === target) return path;
    if (node && typeof node === "object" && node.type in BLOCKS) {
      for (const [key, , kids] of childSlots(node)) {
        const found = findPath(kids, target, `${path}.${key}`);
        if (found) return found;
      }
    }
  }
  return null;
}

/** Fill a wrap template: the marker list is replaced by the chosen nodes. */
function fillTemplate(template, chosen) {
  if (Array.isArray(template)) {
    if (template.length === 1 && template[0] && template[0].__selection__) return chosen;
    return template.map((t) => fillTemplate(t, chosen));
  }
  if (template && typeof template === "object") {
    const out = {};
    for (const [k, v] of Object.entries(template)) out[k] = fillTemplate(v, chosen);
    return out;
  }
  return template;
}

/**
 * Apply one action to `design` (mutated) and return the path the selection should take
 * (undefined: leave it). Throws where the server would refuse; the caller drops that action.
 */
export function applyLocal(design, action, templates) {
  const layersOf = () => design.layers || (design.layers = []);
  switch (action.op) {
    case "insert": {
      const proto = templates.nodes[action.type];
      if (!proto) throw new Error(`unknown type ${action.type}`);
      const list = listAt(design, action.slot, true);
      const index = Math.max(0, Math.min(Number(action.index) || 0, list.length));
      list.splice(index, 0, cloneData(proto));
      return `${action.slot}[${index}]`;
    }
    case "remove": {
      const { list, index } = nodeAt(design, action.path);
      list.splice(index, 1);
      return null;
    }
    case "duplicate": {
      const { list, index, node } = nodeAt(design, action.path);
      list.splice(index + 1, 0, cloneData(node));
      return undefined;
    }
    case "move": {
      const { path, slot } = action;
      if (slot === path || slot.startsWith(`${path}.`) || slot.startsWith(`${path}[`)) throw new Error("into itself");
      const src = nodeAt(design, path);
      const target = listAt(design, slot, true);
      const placeholder = {};
      src.list[src.index] = placeholder;
      target.splice(Math.max(0, Math.min(Number(action.index) || 0, target.length)), 0, src.node);
      src.list.splice(src.list.indexOf(placeholder), 1);
      return findPath(layersOf(), src.node) ?? undefined;
    }
    case "wrap": {
      const template = templates.wrap[action.block];
      if (!template || !action.paths?.length) throw new Error("cannot wrap");
      const slot = parentSlot(action.paths[0]).slot;
      const list = listAt(design, slot, false);
      const indices = action.paths.map((p) => parentSlot(p).index).sort((a, b) => a - b);
      const chosen = indices.map((i) => list[i]);
      if (chosen.some((n) => !n)) throw new Error("no node");
      for (let i = indices.length - 1; i >= 0; i--) list.splice(indices[i], 1);
      list.splice(indices[0], 0, fillTemplate(template, chosen));
      return `${slot}[${indices[0]}]`;
    }
    case "add_branch": {
      const { node } = nodeAt(design, action.path);
      const many = Object.entries(BLOCKS[node.type]?.lanes || {}).find(([, lane]) => lane.many);
      if (!many) throw new Error(`${node.type} has no list of lanes to add to`);
      const [key] = many;
      (Array.isArray(node[key]) ? node[key] : (node[key] = [])).push([]);
      return undefined;
    }
    default:
      return undefined; // select, fix, undo, redo: the server's to do
  }
}

/** Ops whose effect the browser can show before the server answers. */
const LOCAL_OPS = new Set(["insert", "remove", "duplicate", "move", "wrap", "add_branch"]);
/** Ops that wait for the server before the cards can show them (no local copy of the rules). */
const SERVER_OPS = new Set(["fix", "undo", "redo"]);
