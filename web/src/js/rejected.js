// SPDX-License-Identifier: MIT
// Rejected traffic: the REJECT trend, top rejected sources and ports, and likely scanners
// (sources reaching many distinct destination ports).
import { chart, query, queryUrl } from './api.js';
import { base, spanFor, spanText, term, showQueries, rowsTable } from './util.js';
import { draw } from './chart.js';

export async function load(el, ctx) {
  const span = spanFor(ctx.range);
  const b = `${base(ctx.range, ctx.filter)} action:REJECT`;
  const qs = [
    `${b} | timechart ${spanText(span)} count`,
    `${b} | top 10 srcaddr by flows`,
    `${b} | top 10 dstport by flows`,
    `${b} | stats dc(dstport) as ports, count as flows by srcaddr | sort ports desc | limit 10`,
  ];
  showQueries(el, qs);
  const [doc, src, port, scan] = await Promise.all([chart(qs[0]), ...qs.slice(1).map(query)]);
  window.flowlog.charts.rejected = { url: queryUrl(qs[0], 'chart'), doc };
  draw(el.querySelector('.chart'), doc, 1 / span, 'f/s', ctx.zoom);
  rowsTable(el.querySelector('.t-src'), src.rows, ['srcaddr', 'flows', 'packets', 'bytes'],
    (r) => ctx.addFilter(term('srcaddr', r.srcaddr)));
  rowsTable(el.querySelector('.t-port'), port.rows, ['dstport', 'flows', 'packets', 'bytes'],
    (r) => ctx.addFilter(term('dstport', r.dstport)));
  rowsTable(el.querySelector('.t-scan'), scan.rows, ['srcaddr', 'ports', 'flows'],
    (r) => ctx.addFilter(term('srcaddr', r.srcaddr)));
}
