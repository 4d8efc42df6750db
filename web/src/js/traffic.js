// SPDX-License-Identifier: MIT
// Traffic over time: bits/s, packets/s or flows/s stacked by a dimension, from a timechart in
// columns (format=chart). A dimension with many values is cut to its 8 largest by bytes. The
// legend's entries filter every panel; a drag on the chart zooms the time range.
import { chart, query, queryUrl, ndjson, ApiError } from './api.js';
import { base, rangeText, spanFor, spanText, term, showQueries } from './util.js';
import { draw } from './chart.js';

const AGG = { bits: 'sum(bytes)', packets: 'sum(packets)', flows: 'count' };
const UNIT = { bits: 'b/s', packets: 'p/s', flows: 'f/s' };
const TOP = 8;

export async function load(el, ctx) {
  const span = spanFor(ctx.range);
  const b = base(ctx.range, ctx.filter);
  const dim = ctx.dim;
  let qs = [`${b} | timechart ${spanText(span)} ${AGG[ctx.metric]} by ${dim}`];
  // Open capture windows are shaded: their records are still coming in.
  const wins = ndjson(`/api/v1/windows?range=${encodeURIComponent(rangeText(ctx.range))}`);
  let doc;
  try {
    showQueries(el, qs);
    doc = await chart(qs[0]);
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'LIMIT') {
      throw e;
    }
    // Too many values: the largest few only.
    const top = `${b} | top ${TOP} ${dim} by bytes`;
    const vals = (await query(top)).rows.map((r) => term(dim, r[dim]));
    qs = [top, `${b} (${vals.join(' or ')}) | timechart ${spanText(span)} ${AGG[ctx.metric]} by ${dim}`];
    showQueries(el, qs);
    doc = await chart(qs[1]);
  }
  const open = (await wins).rows.filter((w) => w.status === 'open')
    .map((w) => [Date.parse(w.start) / 1000, Date.parse(w.start) / 1000 + w.length]);
  window.flowlog.charts.traffic = { url: queryUrl(qs[qs.length - 1], 'chart'), doc, open };
  showQueries(el, [...qs, `WINDOWS ${rangeText(ctx.range)} (GET /api/v1/windows): open ones shaded`]);
  const scale = (ctx.metric === 'bits' ? 8 : 1) / span;
  draw(el.querySelector('.chart'), doc, scale, UNIT[ctx.metric], ctx.zoom, open);
  const legend = el.querySelector('.chart .u-legend');
  if (legend) {
    legend.querySelectorAll('tr.u-series').forEach((tr, i) => {
      if (i === 0) {
        return; // the time column
      }
      const s = doc.series[doc.series.length - i];
      tr.title = `filter ${dim}`;
      tr.addEventListener('click', (ev) => {
        ev.stopPropagation();
        ctx.addFilter(term(dim, s.name));
      }, true);
    });
  }
}
