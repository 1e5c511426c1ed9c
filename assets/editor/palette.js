// The palette: layer chips grouped by family, with a search box. Click adds after the
// selection; drag drops into any lane.

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
  for (const [type, block] of Object.entries(BLOCKS)) {
    if (!known.has(type)) items.push({ type, family: "block", help: block.help });
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
      const match = tokens.every((t) => chip.dataset.search.includes(t));
      chip.hidden = !match;
      if (match) inGroup += 1;
    }
    group.hidden = inGroup === 0;
    const collapsed = !tokens.length && st.collapsedGroups.has(group.dataset.family);
    group.classList.toggle("nw-collapsed", collapsed);
    group.querySelector(".nw-group-toggle").setAttribute("aria-expanded", String(!collapsed));
    group.querySelector(".nw-group-count").textContent = String(inGroup);
    shown += inGroup;
  }
  st.paletteEmpty.hidden = shown > 0;
}
