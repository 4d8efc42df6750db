// SPDX-License-Identifier: MIT
// A top-N table: the N largest groups by bytes with bars, an "other" row for the rest, and
// the change against the previous period of the same length ("new" for a key without bytes
// then). A click filters every panel.
import { query } from './api.js';
import { base, human, setState, showQueries, cell, head, term } from './util.js';

const N = 10;

function key(r, fields) {
  return JSON.stringify(fields.map((f) => r[f]));
}

export async function load(el, ctx) {
  const fields = el.dataset.field.split(',');
  const b = base(ctx.range, ctx.filter);
  const pb = base(ctx.prev, ctx.filter);
  const qs = [
    `${b} | top ${N} ${fields.join(', ')} by bytes`,
    `${b} | stats sum(bytes) as bytes, sum(packets) as packets, count as flows, dc(exporter) as exporters`,
  ];
  showQueries(el, qs);
  const [top, tot] = await Promise.all(qs.map(query));
  // The previous period of the same length, for the keys shown only (their conditions let
  // the store skip blocks): far less work than a second top-N over all of it.
  let prev = { rows: [] };
  if (top.rows.length > 0) {
    const keys = top.rows.map((r) => `(${fields.map((f) => term(f, r[f])).join(' ')})`);
    qs.push(`${pb} (${keys.join(' or ')}) | stats sum(bytes) as bytes by ${fields.join(', ')}`);
    showQueries(el, qs);
    prev = await query(qs[2]);
  }
  const before = new Map(prev.rows.map((r) => [key(r, fields), r.bytes]));
  const total = (tot.rows[0] || {}).bytes || 0;
  const table = el.querySelector('table');
  head(table, [...fields, 'flows', 'packets', 'bytes', 'share', 'change'],
    [...fields.map(() => false), true, true, true, true, true]);
  let shown = { bytes: 0, packets: 0, flows: 0 };
  for (const r of top.rows) {
    const tr = document.createElement('tr');
    tr.className = 'row';
    tr.dataset.row = JSON.stringify(r);
    fields.forEach((f) => cell(tr, r[f] === null ? '-' : String(r[f])));
    cell(tr, human(r.flows), 'num');
    cell(tr, human(r.packets), 'num');
    const share = total > 0 ? r.bytes / total : 0;
    const bar = cell(tr, human(r.bytes, 'B'), 'num bar');
    bar.style.backgroundSize = `${Math.round(share * 100)}% 100%`;
    cell(tr, `${(share * 100).toFixed(1)} %`, 'num');
    const was = before.get(key(r, fields));
    const ch = was ? (r.bytes - was) / was : null;
    cell(tr, ch === null ? 'new' : `${ch >= 0 ? '+' : ''}${(ch * 100).toFixed(0)} %`,
      `num ${ch === null ? '' : ch > 0 ? 'up' : 'down'}`);
    tr.addEventListener('click', () => ctx.addFilter(fields.map((f) => term(f, r[f])).join(' ')));
    table.appendChild(tr);
    shown = { bytes: shown.bytes + r.bytes, packets: shown.packets + r.packets,
      flows: shown.flows + r.flows };
  }
  const t = tot.rows[0] || { bytes: 0, packets: 0, flows: 0 };
  if (t.flows > shown.flows) {
    const tr = document.createElement('tr');
    tr.className = 'other';
    cell(tr, 'other');
    fields.slice(1).forEach(() => cell(tr, ''));
    cell(tr, human(t.flows - shown.flows), 'num');
    cell(tr, human(t.packets - shown.packets), 'num');
    cell(tr, human(t.bytes - shown.bytes, 'B'), 'num');
    cell(tr, total > 0 ? `${(((t.bytes - shown.bytes) / total) * 100).toFixed(1)} %` : '-', 'num');
    cell(tr, '', 'num');
    table.appendChild(tr);
  }
}
