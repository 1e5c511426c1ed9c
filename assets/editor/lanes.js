// The model as cards in lanes: one card per node, blocks holding their own lanes
// (body/shortcut, branches). Cards show the server's output shape and parameter count; a card
// the server has not confirmed yet (an optimistic edit) shows "…" and is marked pending.

function rowOf(st, node, path) {
  // Confirmed rows are keyed by path; a node moved or made by a pending edit carries its own.
  if (!st.pendingView) return st.rows[path] || null;
  return st.rowsOf.get(node) || null;
}

/**
 * A card's signature: its node, its row and its children's signatures. A card whose signature
 * is unchanged since the last render is reused as it is, so an edit rebuilds only the cards it
 * touched (an insert into ResNet-18 makes one card, not seventy). A layer's card does not
 * depend on where it stands (its path is re-set on reuse); a block's holds its children's
 * paths, so its signature includes its own.
 */
function signature(st, node, path, memo) {
  const row = rowOf(st, node, path);
  const own = JSON.stringify(node, (k, v) => (["layers", "body", "shortcut", "branches"].includes(k) ? undefined : v));
  let sig = `${own}|${row ? JSON.stringify(row) : "pending"}`;
  if (node && node.type in BLOCKS) {
    sig = `${path}|${sig}`;
    for (const [key, , kids] of childSlots(node)) {
      sig += `|${key}:${(kids || []).length}[`;
      (kids || []).forEach((kid, i) => { sig += signature(st, kid, `${path}.${key}[${i}]`, memo); });
      sig += "]";
    }
  }
  memo.set(path, sig);
  return sig;
}

function renderModel(st) {
  st.sigs = new Map();
  st.nextCards = new Map(); // signature -> cards (equal layers share one signature)
  const design = st.view || {};
  const input = st.data.input || design.input || {};
  const layers = Array.isArray(design.layers) ? design.layers : [];

  if (!st.rootLane) {
    // Made once: an edit swaps only the cards that changed, so a 5,000-layer model does not
    // re-attach (and re-style) every card on each edit.
    st.inputCard = h("div", { class: "nw-io nw-input", "data-testid": "nw-input" },
      h("span", { class: "nw-io-title", text: "Input" }), h("span", { class: "nw-shape" }), h("span", { class: "nw-dtype" }));
    st.rootLane = h("div", { class: "nw-lane nw-lane-root", "data-testid": "nw-lane", "data-slot": "layers" });
    st.outputCard = h("div", { class: "nw-io nw-output", "data-testid": "nw-output" },
      h("span", { class: "nw-io-title", text: "Output" }), h("span", { class: "nw-shape" }));
    st.model.replaceChildren(st.inputCard, st.rootLane, st.outputCard);
  }
  st.inputCard.querySelector(".nw-shape").textContent = formatShape(input.shape);
  st.inputCard.querySelector(".nw-dtype").textContent = input.dtype || "float32";
  const out = st.pendingView ? null : st.data.output_shape;
  st.outputCard.classList.toggle("nw-io-unknown", !Array.isArray(out));
  st.outputCard.querySelector(".nw-shape").textContent = st.pendingView ? "…" : formatShape(out);

  patchChildren(st.rootLane, laneChildren(st, layers, "layers", "Drag layers here from the palette"));
  st.cards = st.nextCards; // what the next render may reuse
  st.dropLane = null;
  renderInfo(st, layers);
}

function renderInfo(st, layers) {
  const design = st.view || {};
  const summary = st.data.summary || {};
  const count = countNodes(layers);
  let stats;
  if (st.pendingView) stats = `${plural(count, "layer")} · checking…`;
  else if (summary.errors) stats = `${plural(count, "layer")} · ${plural(summary.errors, "error")}`;
  else stats = `${plural(count, "layer")} · ${formatCount(Number(summary.params) || 0)} params`;
  if (!st.infoName) {
    // Made once and changed in place: a rerun that changes nothing here repaints nothing.
    st.infoName = h("span", { class: "nw-model-name" });
    st.infoStats = h("span", { class: "nw-model-stats", "data-testid": "nw-model-stats" });
    st.info.replaceChildren(st.infoName, st.infoStats, h("span", { class: "nw-selection-info", "data-testid": "nw-selection-info" }));
  }
  const name = design.name || "Model";
  if (st.infoName.textContent !== name) st.infoName.textContent = name;
  if (st.infoName.title !== name) st.infoName.title = name;
  if (st.infoStats.textContent !== stats) st.infoStats.textContent = stats;
  st.infoStats.classList.toggle("nw-stats-error", Boolean(summary.errors && !st.pendingView));
  st.undoBtn.disabled = !st.data.history?.can_undo;
  st.redoBtn.disabled = !st.data.history?.can_redo;
}

/** Make parent's children `kids` touching only what differs between the common head and tail. */
function patchChildren(parent, kids) {
  const now = Array.from(parent.children);
  let head = 0;
  while (head < kids.length && head < now.length && now[head] === kids[head]) head++;
  let tail = 0;
  while (tail < kids.length - head && tail < now.length - head && now[now.length - 1 - tail] === kids[kids.length - 1 - tail]) tail++;
  const before = tail ? now[now.length - tail] : null;
  for (let i = head; i < now.length - tail; i++) now[i].remove();
  const middle = kids.slice(head, kids.length - tail);
  if (middle.length) {
    const frag = document.createDocumentFragment();
    frag.append(...middle);
    parent.insertBefore(frag, before);
  }
}

function laneChildren(st, nodes, slot, emptyText) {
  const list = Array.isArray(nodes) ? nodes : [];
  const kids = list.map((node, i) => renderNode(st, node, `${slot}[${i}]`));
  if (!list.length) kids.push(h("div", { class: "nw-empty", text: emptyText }));
  return kids;
}

function renderLane(st, nodes, slot, emptyText) {
  const lane = h("div", { class: "nw-lane", "data-testid": "nw-lane", "data-slot": slot });
  lane.append(...laneChildren(st, nodes, slot, emptyText));
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
      { type: "button", class: "nw-icon-btn", "data-action": "duplicate", "data-testid": "nw-duplicate", title: "Duplicate (Ctrl+D)", "aria-label": "Duplicate" },
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
        { class: `nw-error-row${err.warning ? " nw-warning" : ""}` },
        icon("warn"),
        h(
          "div",
          { class: "nw-error-text" },
          h("div", { class: "nw-error-msg", "data-testid": "nw-error-message", text: err.message || "Error" }),
          err.fix ? h("div", { class: "nw-error-fix", text: `Fix: ${err.fix}` }) : null,
        ),
        err.fix && err.action
          ? h("button", { type: "button", class: "nw-btn nw-btn-fix", "data-action": "fix", "data-index": String(i), "data-testid": "nw-fix", title: err.fix }, "Fix")
          : null,
      ),
    ),
  );
}

function metaBlock(row, status, pending) {
  const shape = pending ? "…" : status === "unreached" ? "—" : formatShape(row.output_shape);
  const params = Number(row.params) || 0;
  return h(
    "div",
    { class: "nw-card-meta" },
    h("span", { class: "nw-shape", "data-testid": "nw-shape", title: `Output shape (batch excluded): ${shape}`, text: shape }),
    h("span", { class: "nw-params", "data-testid": "nw-params", title: `${params.toLocaleString("en-US")} parameters`, text: pending ? "" : formatCount(params) }),
    row.stat && !pending ? statBadge(row.stat) : null,
  );
}

/** The training statistic the design is coloured by, on a card (the legend names it). */
function statBadge(stat) {
  const badge = h("span", { class: "nw-stat", "data-testid": "nw-stat", title: `training statistic: ${stat.text}`, text: stat.text });
  badge.style.background = stat.colour;
  badge.style.color = stat.ink;
  return badge;
}

/** The card's title and sub-label, from the server's label (the LayerSpec's label_fn). */
function cardTexts(node, row) {
  const type = String(node.type ?? "?");
  const block = BLOCKS[type];
  const title = block ? blockTitle(node) : type;
  let sub = String(row?.label || "");
  if (sub.startsWith(type)) sub = sub.slice(type.length).replace(/^\s*(·\s*)?/, "");
  if (block?.count) sub = sub.replace(/^×\s*\d+\s*(·\s*)?/, "");
  if (block?.layout === "fork" && !block.merge) {
    const merge = mergeOf(node);
    sub = `merge: ${merge}${MERGES[merge].text.includes("{dim}") ? ` · dim ${node.dim ?? 1}` : ""}`;
  }
  return { type, title, sub };
}

function renderNode(st, node, path) {
  node = node && typeof node === "object" ? node : { type: "?" };
  const sig = st.sigs.get(path) ?? signature(st, node, path, st.sigs);
  const card = st.cards?.get(sig)?.shift() ?? buildCard(st, node, path); // in order: equal cards keep their places
  if (card.dataset.path !== path) card.dataset.path = path;
  const kept = st.nextCards.get(sig);
  if (kept) kept.push(card);
  else st.nextCards.set(sig, [card]);
  return card;
}

function buildCard(st, node, path) {
  const confirmed = rowOf(st, node, path);
  const pending = Boolean(st.pendingView && !confirmed);
  const row = confirmed || {};
  const { type, title, sub } = cardTexts(node, row);
  const isBlock = type in BLOCKS;
  const status = pending ? "pending" : row.status || (row.errors?.some((e) => !e.warning) ? "error" : "ok");
  const familyName = row.family || (isBlock ? "block" : st.familyOfType[type] || "");
  const fam = familyOf(st, familyName);
  const classes = ["nw-card", isBlock ? `nw-block nw-block-${type.toLowerCase()}` : "nw-layer"];
  if (status === "error") classes.push("nw-error");
  if (status === "unreached") classes.push("nw-unreached");
  if (pending) classes.push("nw-pending");

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
  if (row.stat && !pending) {
    card.classList.add("nw-has-stat");
    card.style.setProperty("--nw-stat", row.stat.tint);
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
        h("span", { class: "nw-type", "data-testid": "nw-type", title, text: title }),
        node.name ? h("span", { class: "nw-name", "data-testid": "nw-name", title: String(node.name), text: String(node.name) }) : null,
      ),
      sub ? h("div", { class: "nw-card-label", "data-testid": "nw-label", title: sub, text: sub }) : null,
    ),
    metaBlock(row, status, pending),
    cardActions(),
  );
  card.append(head);
  const errors = pending ? null : renderErrors(row);
  if (errors) card.append(errors);

  if (isBlock) {
    const body = h("div", { class: "nw-block-lanes" });
    for (const [suffix, lane, kids] of laneEntries(node)) {
      body.append(laneWrap(lane.label, renderLane(st, kids, `${path}.${suffix}`, lane.empty), `nw-lane-${suffix.replace(/\[\d+\]$/, "")}${lane.identity ? " nw-lane-identity" : ""}`));
    }
    const many = Object.entries(BLOCKS[type].lanes).find(([, lane]) => lane.many);
    if (many) {
      const [key] = many;
      const count = Array.isArray(node[key]) ? node[key].length : 0;
      body.append(
        h(
          "button",
          {
            type: "button",
            class: "nw-add-branch",
            "data-action": "add-branch",
            "data-testid": "nw-add-branch",
            // Dropping here targets a lane that does not exist yet: the server's edit creates
            // it (slot "<path>.branches[N]", N = current number of branches).
            "data-slot": `${path}.${key}[${count}]`,
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
