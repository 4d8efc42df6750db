// SPDX-License-Identifier: MIT
// Search: a query in the language, run over the range unless it names its own; errors
// marked at their column; the rows in pages; the same answer as CSV or JSON.
import { ndjson, queryUrl, ApiError } from './api.js';
import { rangeText, setState, rowsTable } from './util.js';
import * as complete from './complete.js';

const PAGE = 50;

function fullText(q, range) {
  return /^\s*(last|since)\b/i.test(q) ? { text: q, skip: 0 }
    : { text: `${rangeText(range)} ${q}`, skip: rangeText(range).length + 1 };
}

export function init(el, getCtx) {
  const form = el.querySelector('#search-form');
  const ta = el.querySelector('#search-q');
  complete.init(ta, el.querySelector('#search-complete'));
  let rows = [];
  let page = 0;
  const show = () => {
    const slice = rows.slice(page * PAGE, (page + 1) * PAGE);
    const cols = slice.length > 0 ? Object.keys(slice[0]) : [];
    rowsTable(el.querySelector('.results'), slice, cols);
    el.querySelector('.page').textContent = rows.length > 0
      ? `${page * PAGE + 1}-${Math.min(rows.length, (page + 1) * PAGE)} of ${rows.length}` : '';
  };
  el.querySelector('.prev').addEventListener('click', () => { page = Math.max(0, page - 1); show(); });
  el.querySelector('.next').addEventListener('click', () => {
    page = (page + 1) * PAGE < rows.length ? page + 1 : page;
    show();
  });
  const run = async () => {
    const ctx = getCtx();
    const q = ta.value.trim();
    if (q === '') {
      return;
    }
    ctx.setSearch(q);
    const { text, skip } = fullText(q, ctx.range);
    el.querySelector('#dl-csv').href = queryUrl(text, 'csv');
    el.querySelector('#dl-json').href = queryUrl(text, 'json');
    el.querySelector('.caret').textContent = '';
    setState(el, 'loading');
    try {
      const res = await ndjson(queryUrl(text)); // not cached: a search runs each time
      rows = res.rows;
      page = 0;
      show();
      el.querySelector('.status').textContent =
        `${res.status.rows} rows, ${res.status.scanned} records scanned, ${res.status.ms} ms`;
      setState(el, 'ready');
    } catch (e) {
      rows = [];
      show();
      el.querySelector('.status').textContent = '';
      if (e instanceof ApiError && e.col > skip) {
        const col = e.col - skip;
        el.querySelector('.caret').textContent = `${q.split('\n')[0]}\n${' '.repeat(col - 1)}^ col ${col}`;
        e.col = col;
      }
      setState(el, 'error', e);
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run();
  });
  return run;
}
