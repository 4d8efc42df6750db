// SPDX-License-Identifier: MIT
// The live view: records as they are committed (GET /api/v1/tail, Server-Sent Events), with
// its own filter (the console's filter by default), pause and the rate of matching records.
// The view keeps the newest LIVE_ROWS rows; while paused it keeps counting, and shows the
// newest rows again when resumed. The browser's EventSource reconnects by itself and sends
// Last-Event-ID, so a reconnect neither repeats nor (within the server's ring) loses rows;
// what the server could not give arrives as a `dropped` event and is shown.
const LIVE_ROWS = 100;
const COLS = ['end', 'srcaddr', 'srcport', 'dstaddr', 'dstport', 'protocol', 'bytes', 'packets', 'action'];

let es = null;
let paused = false;
let rows = [];
let total = 0;
let dropped = 0;
let arrivals = [];
let el;
let ctxf;

function render() {
  const t = el.querySelector('.t-live');
  if (paused) {
    return;
  }
  const head = `<tr>${COLS.map((c) => `<th>${c}</th>`).join('')}</tr>`;
  t.replaceChildren();
  t.insertAdjacentHTML('beforeend', head);
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.className = 'row';
    tr.dataset.row = JSON.stringify(r);
    for (const c of COLS) {
      const td = document.createElement('td');
      td.textContent = r[c] === null || r[c] === undefined ? '' : String(r[c]);
      tr.appendChild(td);
    }
    t.appendChild(tr);
  }
}

function showCounts() {
  const now = Date.now();
  arrivals = arrivals.filter((a) => now - a < 5000);
  el.querySelector('.rate').textContent = `${(arrivals.length / 5).toFixed(1)} records/s`;
  el.querySelector('.count').textContent = `${total} records`;
  el.querySelector('.dropped').textContent = dropped > 0 ? `${dropped} runs missed (the view fell behind)` : '';
}

// EventSource does not show why it was refused (a bad filter, too many tails): ask once more
// with fetch, which reads the error; an answer that is a stream after all is cut at once.
async function refused(f) {
  const ac = new AbortController();
  let text = 'the live view was refused';
  try {
    const res = await fetch(`/api/v1/tail?q=${encodeURIComponent(f)}`, { signal: ac.signal });
    if (res.ok) {
      ac.abort();
    } else {
      const e = await res.json();
      text = `${e.code}: ${e.message}${e.col ? ` (col ${e.col})` : ''}`;
      el.dataset.errcol = String(e.col || 0);
    }
  } catch (e) {
    // keep the general message
  }
  el.querySelector('.err').textContent = text;
}

function stop() {
  if (es !== null) {
    es.close();
    es = null;
  }
  el.dataset.live = 'off';
  el.querySelector('.toggle').textContent = 'start';
}

function start() {
  stop();
  const f = el.querySelector('.live-filter').value.trim() || '*';
  el.querySelector('.err').textContent = '';
  es = new EventSource(`/api/v1/tail?q=${encodeURIComponent(f)}`);
  el.dataset.live = 'connecting';
  el.querySelector('.toggle').textContent = 'stop';
  es.onopen = () => { el.dataset.live = 'on'; };
  es.onmessage = (ev) => {
    const r = JSON.parse(ev.data);
    rows.unshift(r);
    rows.length = Math.min(rows.length, LIVE_ROWS);
    total++;
    arrivals.push(Date.now());
    el.dataset.received = String(total);
    render();
    showCounts();
  };
  es.addEventListener('dropped', (ev) => {
    dropped += JSON.parse(ev.data).runs;
    showCounts();
  });
  es.onerror = () => {
    if (es !== null && es.readyState === EventSource.CLOSED) {
      stop();
      refused(f);
    }
  };
}

export function init(section, ctx) {
  el = section;
  ctxf = ctx;
  el.dataset.live = 'off';
  el.querySelector('.live-filter').value = ctx().filter;
  el.querySelector('.toggle').addEventListener('click', () => (es === null ? start() : stop()));
  el.querySelector('.pause').addEventListener('click', (ev) => {
    paused = !paused;
    ev.target.textContent = paused ? 'resume' : 'pause';
    el.dataset.paused = String(paused);
    render();
  });
  el.querySelector('.live-filter').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      rows = [];
      total = 0;
      render();
      start();
    }
  });
  el.querySelector('.t-live').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr.row');
    if (tr !== null) {
      const r = JSON.parse(tr.dataset.row);
      ctxf().addFilter(`srcaddr:${r.srcaddr} dstaddr:${r.dstaddr}`);
    }
  });
  setInterval(() => { if (es !== null) showCounts(); }, 1000);
}
