// SPDX-License-Identifier: MIT
// Overview numbers for the range: bytes, packets, flows, their rates, exporters, the share
// rejected, and capture windows holding NODATA or SKIPDATA records.
import { query } from './api.js';
import { base, rangeText, human, setState, showQueries } from './util.js';

export async function load(el, ctx) {
  const b = base(ctx.range, ctx.filter);
  const qs = [
    `${b} | stats sum(bytes) as bytes, sum(packets) as packets, count as flows, dc(exporter) as exporters`,
    `${b} action:REJECT | stats count as flows, sum(bytes) as bytes`,
    `${rangeText(ctx.range)} (log-status:NODATA or log-status:SKIPDATA) | stats dc(window) as windows`,
  ];
  showQueries(el, qs);
  const [all, rej, nod] = await Promise.all(qs.map(query));
  const a = all.rows[0] || {};
  const secs = ctx.range.until - ctx.range.since;
  const flows = a.flows || 0;
  const numbers = [
    ['bytes', human(a.bytes, 'B')],
    ['packets', human(a.packets)],
    ['flows', human(flows)],
    ['bits/s', human(((a.bytes || 0) * 8) / secs, 'b/s')],
    ['packets/s', human((a.packets || 0) / secs)],
    ['flows/s', human(flows / secs)],
    ['exporters', String(a.exporters || 0)],
    ['rejected', flows > 0 ? `${((100 * (rej.rows[0].flows || 0)) / flows).toFixed(1)} %` : '-'],
    ['windows NODATA/SKIPDATA', String((nod.rows[0] || {}).windows || 0)],
  ];
  const box = el.querySelector('.numbers');
  box.textContent = '';
  for (const [name, value] of numbers) {
    const d = document.createElement('div');
    const v = document.createElement('b');
    const n = document.createElement('span');
    v.textContent = value;
    n.textContent = name;
    d.dataset.name = name;
    d.append(v, n);
    box.appendChild(d);
  }
  el.dataset.values = JSON.stringify(a);
}
