// SPDX-License-Identifier: MIT
// Exporters and capture windows: what the store holds per exporter in the range, the
// collector's counters per exporter (datagrams, sequence loss, templates: /api/v1/exporters),
// and the capture windows of the range (sealed or open, records, late records).
import { query, ndjson, ApiError } from './api.js';
import { base, rangeText, term, showQueries, rowsTable } from './util.js';

export async function load(el, ctx) {
  const qs = [
    `${base(ctx.range, ctx.filter)} | stats count as flows, sum(bytes) as bytes, max(end) as last by exporter | sort flows desc | limit 50`,
    'EXPORTERS (GET /api/v1/exporters)',
    `WINDOWS ${rangeText(ctx.range)} (GET /api/v1/windows)`,
  ];
  showQueries(el, qs);
  // EXPORTERS only where the collector provides it (/api/v1/info says).
  const coll = fetch('/api/v1/info').then((r) => r.json()).then((i) => (i.collector
    ? ndjson('/api/v1/exporters')
    : new ApiError({ code: 'UNAVAILABLE', message: 'no collector counters' }, 503)))
    .catch((e) => e);
  const [exp, win] = await Promise.all([
    query(qs[0]),
    ndjson(`/api/v1/windows?range=${encodeURIComponent(rangeText(ctx.range))}`),
  ]);
  rowsTable(el.querySelector('.t-exp'), exp.rows, ['exporter', 'flows', 'bytes', 'last'],
    (r) => ctx.addFilter(term('exporter', r.exporter)));
  const c = await coll;
  const note = el.querySelector('.note');
  if (c instanceof ApiError && c.code === 'UNAVAILABLE') {
    el.querySelector('.t-coll').textContent = '';
    note.textContent = `not available from this server: ${c.message}`;
  } else if (c instanceof Error) {
    throw c;
  } else {
    note.textContent = '';
    const secs = (v) => (typeof v === 'number' ? new Date(v * 1000).toISOString() : v);
    const rows = c.rows.map((r) => ({ ...r, 'last-seen': secs(r['last-seen']) }));
    rowsTable(el.querySelector('.t-coll'), rows, ['exporter', 'last-seen', 'datagrams',
      'records', 'errors', 'seq-missed', 'templates']);
  }
  const rows = win.rows.slice().sort((a, b) => (a.start < b.start ? 1 : -1)).slice(0, 24);
  rowsTable(el.querySelector('.t-win'), rows, ['flowlog', 'start', 'status', 'records', 'late']);
}
