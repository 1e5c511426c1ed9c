// Drag and drop: chips from the palette and cards between lanes, with a drop indicator.

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
  const t = event.composedPath ? event.composedPath()[0] : event.target;
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

function attachDrag(st) {
  const { root } = st;
  root.addEventListener("dragstart", (event) => {
    const t = elementTarget(event);
    const chip = t?.closest(".nw-chip");
    if (chip) {
      st.drag = { kind: "chip", type: chip.dataset.type };
      event.dataTransfer.effectAllowed = "copy";
      event.dataTransfer.setData("text/plain", chip.dataset.type);
    } else {
      const card = t?.closest(".nw-card");
      if (!card || !st.model.contains(card)) return;
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
    if (drag.kind === "chip") act(st, { op: "insert", slot: target.slot, index: target.index, type: drag.type });
    else act(st, { op: "move", path: drag.path, slot: target.slot, index: target.index });
  });

  root.addEventListener("dragend", () => endDrag(st));
}
