// SPDX-License-Identifier: MIT
// Flow-log management: the flow logs (FLOWLOG DESCRIBE) with start, stop and delete, and a
// form to create or modify one. Changes are POSTs to /api/v1/flowlogs (admin token).
import { ndjson } from './api.js';
import { showQueries, cell, head } from './util.js';

const COLS = ['name', 'id', 'window', 'traffic', 'aggregate', 'active', 'instances', 'description'];

async function post(params) {
  const res = await fetch(`/api/v1/flowlogs?${new URLSearchParams(params)}`,
    { method: 'POST', credentials: 'same-origin' });
  const status = JSON.parse((await res.text()).trim().split('\n').pop());
  return status;
}

export async function load(el, ctx) {
  showQueries(el, ['FLOWLOG DESCRIBE (GET /api/v1/flowlogs)']);
  const { rows } = await ndjson('/api/v1/flowlogs');
  const table = el.querySelector('.t-fl');
  head(table, [...COLS, '']);
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.dataset.row = JSON.stringify(r);
    tr.dataset.name = r.name;
    for (const c of COLS) {
      const v = r[c];
      cell(tr, v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
    }
    const td = cell(tr, '');
    for (const action of [r.active === 'on' ? 'stop' : 'start', 'delete']) {
      const b = document.createElement('button');
      b.textContent = action;
      b.className = `fl-${action}`;
      b.addEventListener('click', () => {
        if (action === 'delete' && !window.confirm(`delete flow log ${r.name}? (records are kept)`)) {
          return;
        }
        change(el, ctx, { action, name: r.name });
      });
      td.appendChild(b);
    }
    table.appendChild(tr);
  }
}

async function change(el, ctx, params) {
  const out = el.querySelector('.result');
  const status = await post(params).catch((e) => ({ status: 'ERR', code: 'HTTP', message: e.message }));
  out.textContent = status.status === 'OK' ? status.message : `${status.code}: ${status.message}`;
  out.className = status.status === 'OK' ? 'result' : 'result bad';
  ctx.reloadPanel('flowlogs');
}

export function init(el, getCtx) {
  el.querySelector('#fl-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const params = {
      action: el.querySelector('#fl-action').value,
      name: el.querySelector('#fl-name').value.trim(),
    };
    const args = el.querySelector('#fl-args').value.trim();
    if (args !== '') {
      params.args = args;
    }
    change(el, getCtx(), params);
  });
}
