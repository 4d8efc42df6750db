// SPDX-License-Identifier: MIT
// Completion in the search editor: field names, and after `field:` or `field =` the values
// /api/v1/fields saw most in the last hour. Suggestions show under the editor; Tab (or a
// click) takes the first (or the clicked) one, Escape hides them. The fields are fetched
// once, when the editor is first focused.
let fields = null;

async function load() {
  if (fields === null) {
    fields = fetch('/api/v1/fields', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : { fields: [] }))
      .then((d) => d.fields || [], () => []);
  }
  return fields;
}

// The word being typed before the caret: { start, field, prefix } (field set for a value).
function wordAt(text, caret) {
  const before = text.slice(0, caret);
  const m = /([A-Za-z][A-Za-z0-9_-]*)\s*(?::|=|!=)\s*("?[^\s()"]*)$/.exec(before);
  if (m) {
    return { start: caret - m[2].length, field: m[1].toLowerCase(), prefix: m[2].replace(/^"/, '') };
  }
  const w = /[A-Za-z][A-Za-z0-9_-]*$/.exec(before);
  return w ? { start: caret - w[0].length, field: null, prefix: w[0].toLowerCase() } : null;
}

function valueText(v) {
  return typeof v === 'number' || /^[0-9A-Fa-f.:/]+$/.test(String(v)) ? String(v) : `"${v}"`;
}

async function suggest(ta, list) {
  const all = await load();
  const w = wordAt(ta.value, ta.selectionStart);
  let items = [];
  if (w !== null && w.field === null) {
    items = all.filter((f) => f.name.startsWith(w.prefix) && f.name !== w.prefix).map((f) => f.name);
  } else if (w !== null) {
    const f = all.find((x) => x.name === w.field);
    items = (f?.values || []).map(valueText).filter((v) => v.replace(/^"/, '').startsWith(w.prefix));
  }
  list.replaceChildren();
  for (const it of items.slice(0, 12)) {
    const li = document.createElement('li');
    li.textContent = it;
    li.addEventListener('mousedown', (ev) => {
      ev.preventDefault();
      take(ta, list, it);
    });
    list.appendChild(li);
  }
  list.dataset.for = w === null ? '' : (w.field || 'field');
}

function take(ta, list, it) {
  const w = wordAt(ta.value, ta.selectionStart);
  if (w === null) {
    return;
  }
  const end = ta.selectionStart;
  ta.value = ta.value.slice(0, w.start) + it + ta.value.slice(end);
  const pos = w.start + it.length;
  ta.setSelectionRange(pos, pos);
  list.replaceChildren();
}

export function init(ta, list) {
  ta.addEventListener('focus', () => { load(); }, { once: true });
  ta.addEventListener('input', () => { suggest(ta, list); });
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Tab' && list.firstChild !== null) {
      ev.preventDefault();
      take(ta, list, list.firstChild.textContent);
    } else if (ev.key === 'Escape') {
      list.replaceChildren();
    }
  });
  ta.addEventListener('blur', () => { list.replaceChildren(); });
}
