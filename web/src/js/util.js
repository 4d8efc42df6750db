// SPDX-License-Identifier: MIT
// Shared by the panels: query text, number formats, panel state and tables.

const SPANS = [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 86400];

export function iso(s) {
  return new Date(s * 1000).toISOString();
}

// The range as query text: `since A until B`.
export function rangeText(r) {
  return `since ${iso(r.since)} until ${iso(r.until)}`;
}

// `since A until B (filter)`: every panel's records.
export function base(r, filter) {
  const f = (filter || '').trim();
  return f === '' || f === '*' ? rangeText(r) : `${rangeText(r)} (${f})`;
}

// A timechart span giving at most about 120 buckets.
export function spanFor(r) {
  const want = (r.until - r.since) / 120;
  return SPANS.find((s) => s >= want) || 86400;
}

export function spanText(s) {
  return s % 86400 === 0 ? `${s / 86400}d` : s % 3600 === 0 ? `${s / 3600}h`
    : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

// field:value as a search term: numbers and addresses bare, other text quoted.
export function term(field, value) {
  if (value === null || value === undefined) {
    return `not ${field}:*`;
  }
  const v = String(value);
  if (typeof value === 'number' || /^[0-9A-Fa-f.:/]+$/.test(v)) {
    return `${field}:${v}`;
  }
  return `${field}:"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function human(n, unit = '') {
  if (n === null || n === undefined || Number.isNaN(n)) {
    return '-';
  }
  const k = ['', 'k', 'M', 'G', 'T', 'P'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1000 && i < k.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v * 100) / 100 : v.toFixed(v < 10 ? 2 : 1)} ${k[i]}${unit}`.trim();
}

export function setState(el, state, err) {
  el.dataset.state = state;
  const p = el.querySelector(':scope > .err');
  if (p) {
    p.textContent = err ? `${err.code ? err.code + ': ' : ''}${err.message}` : '';
  }
}

// The panel's queries, each with a button that puts it into the search (STYLE §10).
export function showQueries(el, qs) {
  const pre = el.querySelector(':scope > .q pre');
  pre.textContent = '';
  for (const q of qs) {
    const line = document.createElement('div');
    const text = document.createElement('span');
    text.textContent = q;
    line.appendChild(text);
    if (!/^[A-Z]+ /.test(q)) { // a query, not a verb (EXPORTERS, WINDOWS, FLOWLOG)
      const b = document.createElement('button');
      b.textContent = 'edit in search';
      b.className = 'edit';
      b.addEventListener('click', () => {
        const ta = document.getElementById('search-q');
        ta.value = q;
        ta.scrollIntoView({ block: 'center' });
        ta.focus();
      });
      line.append(' ', b);
    }
    pre.appendChild(line);
  }
  el.dataset.queries = JSON.stringify(qs);
}

export function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) {
    td.className = cls;
  }
  tr.appendChild(td);
  return td;
}

export function head(table, names, numeric) {
  table.textContent = '';
  const tr = document.createElement('tr');
  names.forEach((n, i) => {
    const th = document.createElement('th');
    th.textContent = n;
    if (numeric && numeric[i]) {
      th.className = 'num';
    }
    tr.appendChild(th);
  });
  table.appendChild(tr);
}

// A plain table of rows (objects), numbers right-aligned; onClick(row) makes rows clickable.
export function rowsTable(table, rows, cols, onClick) {
  head(table, cols, cols.map((c) => rows.length > 0 && typeof rows[0][c] === 'number'));
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.dataset.row = JSON.stringify(r);
    for (const c of cols) {
      const v = r[c];
      cell(tr, v === null || v === undefined ? '-' : String(v), typeof v === 'number' ? 'num' : '');
    }
    if (onClick) {
      tr.className = 'row';
      tr.addEventListener('click', () => onClick(r));
    }
    table.appendChild(tr);
  }
}
