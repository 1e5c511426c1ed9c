// The live drawing: the design laid out top to bottom as an SVG, a shape on every edge,
// blocks as frames that collapse to one box, Repeat drawn as "× N" until expanded. It follows
// every edit (the optimistic view included), opens fitted to its pane, zooms (wheel, buttons)
// and pans (drag), and shares the selection with the cards: clicking a box selects its layer.
// Past CULL_AT boxes only what is in view is drawn, so a 5,000-layer design stays usable.

const NODE_W = 172;
const NODE_H = 40;
const GAP = 30; // between boxes in a column: room for the edge and its shape
const PAD = 10;
const HEAD = 22; // a frame's title bar
const COL_GAP = 22;
const FAN = 16;
const MERGE_R = 11;
const IDENT_W = 26;
const IO_H = 28;
const BIG_DESIGN = 250; // layers; bigger designs open with every block collapsed
const CULL_AT = 1500; // boxes; bigger layouts draw only what is in view

// ---------------------------------------------------------------- layout

function isCollapsed(st, node, path) {
  const o = st.draw.overrides.get(path);
  if (o !== undefined) return o;
  if (BLOCKS[node.type]?.count) return true; // a block of copies shows "× N" until expanded
  return st.draw.big || st.draw.compact;
}

function layoutSeq(st, nodes, slot) {
  const items = (nodes || []).map((node, i) => layoutNode(st, node, `${slot}[${i}]`));
  if (!items.length) return { kind: "ident", w: IDENT_W, h: 0, items };
  const w = Math.max(...items.map((b) => b.w));
  const h = items.reduce((sum, b) => sum + b.h, 0) + GAP * (items.length - 1);
  return { kind: "seq", w, h, items };
}

function layoutNode(st, node, path) {
  node = node && typeof node === "object" ? node : { type: "?" };
  const row = rowOf(st, node, path);
  const base = { path, node, row };
  if (!(node.type in BLOCKS) || isCollapsed(st, node, path)) {
    return { ...base, kind: node.type in BLOCKS ? "collapsed" : "node", w: NODE_W, h: NODE_H };
  }
  const lanes = laneEntries(node);
  if (BLOCKS[node.type].layout === "fork") {
    const cols = lanes.map(([suffix, , kids]) => layoutSeq(st, kids, `${path}.${suffix}`));
    if (!cols.length) cols.push({ kind: "ident", w: IDENT_W, h: 0, items: [] });
    const inner = cols.reduce((sum, c) => sum + c.w, 0) + COL_GAP * (cols.length - 1);
    const colH = Math.max(0, ...cols.map((c) => c.h));
    const w = Math.max(inner + 2 * PAD, NODE_W);
    const h = HEAD + PAD + FAN + colH + FAN + 2 * MERGE_R + PAD;
    return { ...base, kind: "fork", w, h, cols, colH };
  }
  const [suffix, , kids] = lanes[0]; // a frame's lane (every block declared so far has one)
  const inner = layoutSeq(st, kids, `${path}.${suffix}`);
  const w = Math.max(inner.w + 2 * PAD, NODE_W);
  const h = HEAD + PAD + Math.max(inner.h, 8) + PAD;
  return { ...base, kind: "frame", w, h, inner };
}

// ---------------------------------------------------------------- primitives
// Each primitive is {x0, y0, x1, y1, key, draw()}: a bounding box (for culling), a key that is
// equal for two primitives exactly when they draw the same thing, and a builder. A redraw keeps
// the elements of unchanged primitives (an edit of one layer, a rename: nothing else is redrawn).

function shapeOf(box) {
  if (!box?.row || st_pending(box)) return null;
  return box.row.status === "unreached" ? null : box.row.output_shape;
}

function st_pending(box) {
  return !box.row;
}

function edge(out, x1, y1, x2, y2, label, cls) {
  const x0 = Math.min(x1, x2);
  const xMax = Math.max(x1, x2);
  out.push({
    x0: x0 - 4, y0: Math.min(y1, y2), x1: xMax + 90, y1: Math.max(y1, y2),
    key: JSON.stringify(["edge", x1, y1, x2, y2, label ?? null, cls ?? ""]),
    draw() {
      const d = x1 === x2
        ? `M${x1},${y1} L${x2},${y2}`
        : `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`;
      const g = s("g", { class: `nw-d-edge${cls ? ` ${cls}` : ""}` }, s("path", { d, "marker-end": "url(#nw-arrow)" }));
      if (label) {
        const text = formatShape(label);
        g.append(s("text", { x: x2 + 6, y: (y1 + y2) / 2 + 3.5, class: "nw-d-shape", "data-testid": "nw-d-shape", text }));
      }
      return g;
    },
  });
}

function truncate(text, max) {
  text = String(text ?? "");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function boxPrim(st, out, box, x, y) {
  const { node, row, path } = box;
  const collapsed = box.kind === "collapsed";
  const texts = cardTexts(node, row);
  const familyName = row?.family || (node.type in BLOCKS ? "block" : st.familyOfType[node.type] || "");
  const fam = familyOf(st, familyName);
  let sub = texts.sub;
  if (collapsed) {
    const kids = childSlots(node).flatMap(([, , k]) => k || []);
    sub = `${plural(countNodes(kids), "layer")}${sub ? ` · ${sub}` : ""}`;
  }
  const params = row ? formatCount(Number(row.params) || 0) : "";
  const title = node.name ? `${texts.title} · ${node.name}` : texts.title;
  const status = !row ? "pending" : row.status || "ok";
  out.push({
    x0: x, y0: y, x1: x + NODE_W, y1: y + NODE_H, path,
    key: JSON.stringify(["box", x, y, path, node.type, status, collapsed, title, sub, texts.sub, params, row?.params ?? null,
      row?.errors?.[0]?.message ?? "", row?.stat ?? null, fam.fill ?? "", fam.accent ?? ""]),
    draw() {
      const g = s("g", {
        class: `nw-d-node nw-d-${status}${collapsed ? " nw-d-collapsed" : ""}`,
        "data-testid": "nw-dnode",
        "data-path": path,
        "data-type": node.type,
        transform: `translate(${x},${y})`,
      });
      g.append(
        s("title", { text: [title, texts.sub, row ? `${(Number(row.params) || 0).toLocaleString("en-US")} params` : "checking…",
          row?.errors?.length ? `⚠ ${row.errors[0].message}` : ""].filter(Boolean).join("\n") }),
        s("rect", { class: "nw-d-box", width: NODE_W, height: NODE_H, rx: 7, fill: row?.stat?.tint || fam.fill || "#f1f5f9", stroke: fam.accent || "#64748b" }),
        s("rect", { class: "nw-d-accent", width: 4, height: NODE_H - 10, x: 4, y: 5, rx: 2, fill: fam.accent || "#64748b" }),
        s("text", { x: 14, y: 16, class: "nw-d-title", text: truncate(title, 22) }),
        s("text", { x: NODE_W - 8, y: 16, class: "nw-d-params", "text-anchor": "end", text: row?.stat ? row.stat.text : params }),
        s("text", { x: 14, y: 31, class: "nw-d-sub", text: truncate(sub, 28) }),
      );
      if (collapsed) {
        g.append(s("g", { class: "nw-d-toggle", "data-toggle": path, "data-testid": "nw-d-toggle", transform: `translate(${NODE_W - 20},${NODE_H - 18})` },
          s("title", { text: "Expand" }), s("rect", { width: 14, height: 14, rx: 3 }), s("path", { d: "M3.5,7 H10.5 M7,3.5 V10.5" })));
      }
      return g;
    },
  });
}

function framePrim(st, out, box, x, y, title) {
  const { node, path, row } = box;
  const status = !row ? "pending" : row.status || "ok";
  const dashed = Boolean(BLOCKS[node.type]?.count);
  out.push({
    x0: x, y0: y, x1: x + box.w, y1: y + box.h, path, frame: true,
    key: JSON.stringify(["frame", x, y, box.w, box.h, path, status, dashed, title]),
    draw() {
      const g = s("g", { class: `nw-d-frame nw-d-${status}${dashed ? " nw-d-repeat" : ""}`, "data-testid": "nw-dframe", "data-path": path, transform: `translate(${x},${y})` });
      g.append(
        s("rect", { class: "nw-d-frame-box", width: box.w, height: box.h, rx: 9 }),
        s("rect", { class: "nw-d-frame-head", "data-frame-head": path, width: box.w, height: HEAD, rx: 9 }),
        s("text", { x: 10, y: 15, class: "nw-d-frame-title", text: truncate(title, Math.floor((box.w - 40) / 6.5)) }),
        s("g", { class: "nw-d-toggle", "data-toggle": path, "data-testid": "nw-d-toggle", transform: `translate(${box.w - 20},4)` },
          s("title", { text: "Collapse" }), s("rect", { width: 14, height: 14, rx: 3 }), s("path", { d: "M3.5,7 H10.5" })),
      );
      return g;
    },
  });
}

function mergePrim(out, cx, cy, symbol, tip) {
  out.push({
    x0: cx - MERGE_R, y0: cy - MERGE_R, x1: cx + MERGE_R, y1: cy + MERGE_R,
    key: JSON.stringify(["merge", cx, cy, symbol, tip]),
    draw() {
      return s("g", { class: "nw-d-merge", transform: `translate(${cx},${cy})` },
        s("title", { text: tip }), s("circle", { r: MERGE_R }), s("text", { y: 4, "text-anchor": "middle", text: symbol }));
    },
  });
}

/** Emit a column (a sequence) whose top centre is (cx, y); returns its exit point and shape. */
function placeSeq(st, out, seq, cx, y, height) {
  if (!seq.items.length) {
    // An empty lane is the identity: a plain line the height of its neighbours.
    const y2 = y + (height ?? 0);
    if (y2 > y) out.push({ x0: cx - 2, y0: y, x1: cx + 2, y1: y2, key: `ident:${cx},${y},${y2}`, draw: () => s("path", { class: "nw-d-ident", d: `M${cx},${y} L${cx},${y2}` }) });
    return { x: cx, y: y2, shape: undefined };
  }
  let cur = y;
  let prev = null;
  for (const box of seq.items) {
    if (prev) edge(out, cx, prev.y, cx, cur, prev.shape);
    prev = placeBox(st, out, box, cx - box.w / 2, cur);
    prev = { y: cur + box.h, shape: prev };
    cur += box.h + GAP;
  }
  return { x: cx, y: prev.y, shape: prev.shape };
}

/** Emit one box at (x, y) top-left; returns its output shape (for the edge below it). */
function placeBox(st, out, box, x, y) {
  if (box.kind === "node" || box.kind === "collapsed") {
    boxPrim(st, out, box, x, y);
    return shapeOf(box);
  }
  const cx = x + box.w / 2;
  if (box.kind === "frame") {
    framePrim(st, out, box, x, y, `${blockTitle(box.node)}${box.node.name ? ` · ${box.node.name}` : ""}`);
    const top = y + HEAD + PAD;
    placeSeq(st, out, box.inner, cx, top, Math.max(box.inner.h, 8));
    return shapeOf(box);
  }
  // fork: lanes side by side into a merge
  const merge = mergeOf(box.node);
  const { symbol } = MERGES[merge];
  const own = BLOCKS[box.node.type].merge ? "" : ` · ${merge}`; // a block whose merge is chosen says which
  framePrim(st, out, box, x, y, `${box.node.type}${box.node.name ? ` · ${box.node.name}` : ""}${own}`);
  const split = y + HEAD + PAD;
  const colTop = split + FAN;
  const mergeY = colTop + box.colH + FAN + MERGE_R;
  const inner = box.cols.reduce((sum, c) => sum + c.w, 0) + COL_GAP * (box.cols.length - 1);
  let cursor = cx - inner / 2;
  for (const col of box.cols) {
    const ccx = cursor + col.w / 2;
    out.push({ x0: Math.min(cx, ccx), y0: split, x1: Math.max(cx, ccx), y1: colTop, key: `fan:${cx},${split},${ccx},${colTop}`,
      draw: () => s("path", { class: "nw-d-fan", d: `M${cx},${split} C${cx},${colTop - 6} ${ccx},${split + 6} ${ccx},${colTop}` }) });
    const end = placeSeq(st, out, col, ccx, colTop, box.colH);
    edge(out, ccx, end.y, cx, mergeY - MERGE_R, end.shape === undefined ? null : end.shape, "nw-d-join");
    cursor += col.w + COL_GAP;
  }
  mergePrim(out, cx, mergeY, symbol, MERGES[merge].tip.replace("{dim}", String(box.node.dim ?? 1)));
  return shapeOf(box);
}

function ioPrim(out, cx, y, title, shape, testid) {
  const text = `${title}  ${formatShape(shape)}`;
  const w = Math.max(110, text.length * 7 + 24);
  out.push({
    x0: cx - w / 2, y0: y, x1: cx + w / 2, y1: y + IO_H, key: JSON.stringify(["io", cx, y, text, testid]),
    draw: () => s("g", { class: "nw-d-io", "data-testid": testid, transform: `translate(${cx - w / 2},${y})` },
      s("rect", { width: w, height: IO_H, rx: IO_H / 2 }), s("text", { x: w / 2, y: 18, "text-anchor": "middle", text })),
  });
}

/** The whole drawing as primitives, and its size. */
function layoutDesign(st) {
  const design = st.view || {};
  const layers = Array.isArray(design.layers) ? design.layers : [];
  st.draw.big = countNodes(layers) > BIG_DESIGN;
  const seq = layoutSeq(st, layers, "layers");
  const width = Math.max(seq.w, 160) + 200; // room for the shapes right of the edges
  const cx = width / 2 - 40;
  const out = [];
  const input = st.data.input || design.input || {};
  ioPrim(out, cx, 0, "Input", input.shape, "nw-d-input");
  const top = IO_H + GAP;
  let end;
  if (seq.items.length) {
    edge(out, cx, IO_H, cx, top, input.shape);
    end = placeSeq(st, out, seq, cx, top);
  } else end = { y: IO_H, shape: input.shape };
  const outY = end.y + GAP;
  const outShape = st.pendingView ? null : st.data.output_shape;
  edge(out, cx, end.y, cx, outY, end.shape ?? null);
  ioPrim(out, cx, outY, "Output", outShape, "nw-d-output");
  return { prims: out, width, height: outY + IO_H };
}

// ---------------------------------------------------------------- view: zoom, pan, culling

function createDrawing(st, pane) {
  const svg = s("svg", { class: "nw-d-svg", "data-testid": "nw-drawing-svg", xmlns: SVG_NS });
  svg.append(s("defs", {}, s("marker", { id: "nw-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "nw-d-arrowhead" }))));
  const world = s("g", { class: "nw-d-world" });
  svg.append(world);
  pane.append(svg);
  st.draw = { svg, world, pane, k: 1, tx: 0, ty: 0, auto: true, overrides: new Map(), big: false, layout: null, layoutSerial: 0, elements: new Map(), frame: 0 };
  attachDrawingListeners(st);
}

/** Fitted scale of a layout in the pane. */
function fitScale(st, layout) {
  const w = st.draw.pane.clientWidth || 600;
  const hgt = st.draw.pane.clientHeight || 600;
  return Math.min((w - 32) / layout.width, (hgt - 32) / layout.height, 1.25);
}

/** The legend of the statistic the design is coloured by (hidden when none). */
function renderLegend(st) {
  const el = st.root.querySelector(".nw-legend");
  const o = st.data.overlay;
  if (!el) return;
  el.hidden = !o;
  if (!o) return el.replaceChildren();
  const bar = h("span", { class: "nw-legend-bar" });
  bar.style.background = `linear-gradient(to right, ${o.stops.join(", ")})`;
  el.replaceChildren(
    h("span", { class: "nw-legend-label", text: `${o.label}${o.log ? " (log)" : ""} · step ${o.step}` }),
    h("span", { class: "nw-legend-lo", "data-testid": "nw-legend-lo", text: o.lo }),
    bar,
    h("span", { class: "nw-legend-hi", "data-testid": "nw-legend-hi", text: o.hi }),
  );
}

function renderDrawing(st) {
  const d = st.draw;
  renderLegend(st);
  // A design opened (a template, a saved one; the server counts them): if, fitted, its boxes
  // would be too small to read, it opens with its blocks collapsed; the user expands what they
  // want. Edits, renames included, keep the user's zoom and collapsed blocks.
  const opened = String(st.data.opened ?? "");
  if (opened !== d.opened) {
    d.opened = opened;
    d.overrides.clear();
    d.compact = false;
    d.auto = true;
    if (fitScale(st, layoutDesign(st)) < 0.45) d.compact = true;
  }
  d.layout = layoutDesign(st);
  d.layoutSerial += 1;
  if (d.auto) fitDrawing(st, false);
  paintDrawing(st);
}

function viewRect(st) {
  const d = st.draw;
  const w = d.pane.clientWidth || 600;
  const hgt = d.pane.clientHeight || 600;
  return { x0: -d.tx / d.k, y0: -d.ty / d.k, x1: (w - d.tx) / d.k, y1: (hgt - d.ty) / d.k };
}

function paintDrawing(st) {
  const d = st.draw;
  if (!d.layout) return;
  const transform = `translate(${d.tx},${d.ty}) scale(${d.k})`;
  if (d.world.getAttribute("transform") !== transform) d.world.setAttribute("transform", transform);
  d.svg.classList.toggle("nw-d-far", d.k < 0.3); // far out: boxes without text
  const prims = d.layout.prims;
  let chosen = prims;
  let key = `${d.layoutSerial}`;
  if (prims.length > CULL_AT) {
    const v = viewRect(st);
    const m = (v.x1 - v.x0) * 0.25; // a margin, so a short pan shows drawn boxes
    chosen = prims.filter((p) => p.x1 >= v.x0 - m && p.x0 <= v.x1 + m && p.y1 >= v.y0 - m && p.y0 <= v.y1 + m);
    key += `:${Math.floor(v.x0 / 400)}:${Math.floor(v.y0 / 400)}:${Math.round(Math.log2(d.k) * 4)}`;
  }
  if (key !== d.drawnKey) {
    d.drawnKey = key;
    // Frames first, so the boxes and edges inside them draw on top. An element whose primitive
    // is unchanged is kept, and only what differs is swapped in the SVG.
    const ordered = [...chosen.filter((p) => p.frame), ...chosen.filter((p) => !p.frame)];
    const before = d.elements;
    const now = new Map();
    const kids = ordered.map((p) => {
      if (now.has(p.key)) return p.draw(); // the same thing drawn twice: an element of its own
      const el = before.get(p.key) || p.draw();
      now.set(p.key, el);
      return el;
    });
    d.elements = now;
    patchChildren(d.world, kids);
  }
  markDrawingSelection(st);
  st.zoomLabel.textContent = `${Math.round(d.k * 100)}%`;
}

function schedulePaint(st) {
  const d = st.draw;
  if (d.frame) return;
  d.frame = requestAnimationFrame(() => {
    d.frame = 0;
    paintDrawing(st);
  });
}

function fitDrawing(st, paint = true) {
  const d = st.draw;
  if (!d.layout) return;
  const w = d.pane.clientWidth || 600;
  const hgt = d.pane.clientHeight || 600;
  const margin = 16;
  const k = Math.min((w - 2 * margin) / d.layout.width, (hgt - 2 * margin) / d.layout.height, 1.25);
  d.k = Math.max(k, 0.02);
  d.tx = (w - d.layout.width * d.k) / 2;
  d.ty = margin;
  d.auto = true;
  if (paint) paintDrawing(st);
}

function zoomAt(st, factor, px, py) {
  const d = st.draw;
  const k = Math.max(0.02, Math.min(4, d.k * factor));
  d.tx = px - ((px - d.tx) * k) / d.k;
  d.ty = py - ((py - d.ty) * k) / d.k;
  d.k = k;
  d.auto = false;
  schedulePaint(st);
}

function markDrawingSelection(st) {
  const chosen = new Set(st.selection);
  for (const el of st.draw.world.querySelectorAll("[data-path]")) {
    const path = el.dataset.path;
    // A collapsed block stands for what it holds: it lights up for a selected layer inside.
    const inside = el.classList.contains("nw-d-collapsed") && st.selection.some((p) => p.startsWith(`${path}.`));
    el.classList.toggle("nw-d-selected", chosen.has(path) || inside);
  }
}

/** Pan so the selected box is in view (when it is not), keeping the zoom. */
function revealInDrawing(st, path) {
  const d = st.draw;
  const prims = d.layout?.prims || [];
  const prim = prims.find((p) => p.path === path) || prims.find((p) => path.startsWith(`${p.path}.`) && !p.frame);
  if (!prim) return;
  const v = viewRect(st);
  if (prim.x0 >= v.x0 && prim.x1 <= v.x1 && prim.y0 >= v.y0 && prim.y1 <= v.y1) return;
  const w = d.pane.clientWidth || 600;
  const hgt = d.pane.clientHeight || 600;
  d.tx = w / 2 - ((prim.x0 + prim.x1) / 2) * d.k;
  d.ty = hgt / 2 - ((prim.y0 + prim.y1) / 2) * d.k;
  d.auto = false;
  paintDrawing(st);
}

function setAllCollapsed(st, collapsed) {
  const walk = (nodes, slot) => (nodes || []).forEach((node, i) => {
    const path = `${slot}[${i}]`;
    if (node && node.type in BLOCKS) {
      st.draw.overrides.set(path, collapsed);
      for (const [key, , kids] of childSlots(node)) walk(kids, `${path}.${key}`);
    }
  });
  st.draw.overrides.clear();
  st.draw.compact = collapsed;
  walk(st.view?.layers, "layers");
  st.draw.auto = true;
  renderDrawing(st);
}

function attachDrawingListeners(st) {
  const d = st.draw;
  d.pane.addEventListener("wheel", (event) => {
    event.preventDefault();
    const r = d.pane.getBoundingClientRect();
    zoomAt(st, Math.exp(-event.deltaY * 0.0015), event.clientX - r.left, event.clientY - r.top);
  }, { passive: false });

  let drag = null;
  d.pane.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, tx: d.tx, ty: d.ty, moved: false, id: event.pointerId };
  });
  d.pane.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      d.pane.setPointerCapture?.(drag.id);
      d.pane.classList.add("nw-d-panning");
    }
    d.tx = drag.tx + dx;
    d.ty = drag.ty + dy;
    d.auto = false;
    schedulePaint(st);
  });
  const end = (event) => {
    if (!drag) return;
    const wasDrag = drag.moved;
    drag = null;
    d.pane.classList.remove("nw-d-panning");
    if (wasDrag || event.type !== "pointerup") return;
    const t = elementTarget(event);
    const toggle = t?.closest?.("[data-toggle]");
    if (toggle) {
      const path = toggle.dataset.toggle;
      const node = nodeAtSafe(st.view, path);
      if (node) st.draw.overrides.set(path, !isCollapsed(st, node, path));
      renderDrawing(st);
      return;
    }
    const hit = t?.closest?.("[data-path]");
    if (hit) clickPath(st, hit.dataset.path, event);
  };
  d.pane.addEventListener("pointerup", end);
  d.pane.addEventListener("pointercancel", end);

  new ResizeObserver(() => {
    if (st.draw.auto) fitDrawing(st);
    else schedulePaint(st);
  }).observe(d.pane);
}

function nodeAtSafe(design, path) {
  try {
    return nodeAt(design, path).node;
  } catch {
    return null;
  }
}
