// Small DOM helpers: build elements, and update tables in place (keyed rows, text set only when it
// changed) so a live refresh never rebuilds what the user is looking at.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else {
    const text = value === true ? "" : String(value);
    if (el.getAttribute(name) !== text) el.setAttribute(name, text);
  }
}

// A cell spec: a string, or {text, cls, title, node} (node: a Node built fresh each time, used
// only when the cell's key changes).
function applyCell(td, spec) {
  const cell = typeof spec === "object" && spec !== null ? spec : { text: spec };
  if (cell.node !== undefined) {
    const key = cell.key ?? "";
    if (td.dataset.key !== key || !td.firstChild) {
      td.replaceChildren(cell.node);
      td.dataset.key = key;
    }
  } else {
    setText(td, cell.text ?? "");
  }
  setAttr(td, "class", cell.cls || null);
  setAttr(td, "title", cell.title || null);
  setAttr(td, "data-testid", cell.testid || null);
}

// Make `tbody` show `items` in order: rows keyed by key(item) are reused (only changed text is
// written), new ones created by makeRow(item) (returns a <tr>), gone ones removed.
export function syncRows(tbody, items, key, cells, makeRow = () => h("tr")) {
  const existing = new Map();
  for (const tr of tbody.children) existing.set(tr.dataset.key, tr);
  let cursor = tbody.firstElementChild;
  const keep = new Set();
  for (const item of items) {
    const k = String(key(item));
    keep.add(k);
    let tr = existing.get(k);
    if (!tr) {
      tr = makeRow(item);
      tr.dataset.key = k;
    }
    const specs = cells(item);
    while (tr.children.length < specs.length) tr.append(h("td"));
    specs.forEach((spec, i) => applyCell(tr.children[i], spec));
    if (tr !== cursor) tbody.insertBefore(tr, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [k, tr] of existing) if (!keep.has(k)) tr.remove();
}
