// Keyboard shortcuts, anywhere on the page except while typing in a field:
//   Ctrl/Cmd+Z undo · Ctrl/Cmd+Shift+Z or Ctrl+Y redo · Delete/Backspace delete ·
//   Up/Down select the previous/next layer · Alt+Up/Down move the selected layer ·
//   Ctrl/Cmd+D duplicate · Esc deselect.


function typingIn(event) {
  const t = event.composedPath ? event.composedPath()[0] : event.target;
  if (!(t instanceof Element)) return false;
  if (t.isContentEditable) return true;
  const tag = t.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") return !["button", "checkbox", "radio", "range", "submit"].includes(t.type);
  return Boolean(t.closest?.('[role="combobox"], [role="listbox"], [role="textbox"]'));
}

/** Every card's path in reading order (the order Up/Down walk). */
function cardOrder(st) {
  return Array.from(st.model.querySelectorAll(".nw-card")).map((c) => c.dataset.path);
}

function onKey(event) {
  const st = window.__nwActive; // the editor the page's keys go to (the most recently mounted one)
  if (!st || !st.root.isConnected || event.defaultPrevented || typingIn(event)) return;
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key;
  const lowerKey = key.length === 1 ? key.toLowerCase() : key;
  const handled = () => {
    event.preventDefault();
    event.stopPropagation();
  };
  if (mod && lowerKey === "z") {
    handled();
    act(st, { op: event.shiftKey ? "redo" : "undo" });
  } else if (mod && lowerKey === "y") {
    handled();
    act(st, { op: "redo" });
  } else if (mod && lowerKey === "d") {
    handled(); // also keeps the browser's bookmark dialog away
    if (st.primary) act(st, { op: "duplicate", path: st.primary });
  } else if ((key === "Delete" || key === "Backspace") && !mod) {
    if (!st.primary) return;
    handled();
    act(st, { op: "remove", path: st.primary });
  } else if (key === "Escape") {
    if (!st.selection.length) return;
    handled();
    selectOnly(st, null);
  } else if ((key === "ArrowUp" || key === "ArrowDown") && !mod) {
    const up = key === "ArrowUp";
    if (event.altKey) {
      if (!st.primary) return;
      handled();
      const ps = parentSlot(st.primary);
      const target = up ? ps.index - 1 : ps.index + 2;
      const size = listSize(st.view, ps.slot);
      if (target < 0 || target > size) return;
      act(st, { op: "move", path: st.primary, slot: ps.slot, index: target });
      return;
    }
    const order = cardOrder(st);
    if (!order.length) return;
    handled();
    const at = order.indexOf(st.primary);
    const next = at < 0 ? (up ? order.length - 1 : 0) : Math.max(0, Math.min(order.length - 1, at + (up ? -1 : 1)));
    selectOnly(st, order[next]);
  }
}

function listSize(design, slot) {
  try {
    return listAt(design, slot, false).length;
  } catch {
    return 0;
  }
}

function attachKeys(st) {
  window.__nwActive = st;
  // One listener for the page; a re-evaluated module replaces the old one.
  if (window.__nwKeyHandler) window.removeEventListener("keydown", window.__nwKeyHandler, true);
  window.__nwKeyHandler = onKey;
  window.addEventListener("keydown", onKey, true);
}
