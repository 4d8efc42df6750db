// SPDX-License-Identifier: MIT
// The console: state in the URL (range, filter, chart choices, search), the time picker,
// and every panel loaded from it. A panel shows its queries and marks data-state.
import * as overview from './overview.js';
import * as traffic from './traffic.js';
import * as topn from './topn.js';
import * as rejected from './rejected.js';
import * as health from './health.js';
import * as search from './search.js';
import * as flowlogs from './flowlogs.js';
import * as live from './live.js';
import { setState, rangeText } from './util.js';
import { forget } from './api.js';

const PRESETS = { '15m': 900, '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800 };
window.flowlog = { charts: {}, generation: 0 };

function readState() {
  const p = new URLSearchParams(location.search);
  const s = {
    preset: p.get('range') || '1h',
    since: Number(p.get('since')) || 0,
    until: Number(p.get('until')) || 0,
    filter: p.get('filter') || '',
    dim: p.get('dim') || 'protocol',
    metric: p.get('metric') || 'bits',
    search: p.get('q') || '',
    refresh: Number(p.get('refresh')) || 0,
  };
  if (!(s.preset in PRESETS) && !(s.since && s.until)) {
    s.preset = '1h';
  }
  return s;
}

let state = readState();

function writeState(push) {
  const p = new URLSearchParams();
  if (state.since && state.until) {
    p.set('since', state.since);
    p.set('until', state.until);
  } else {
    p.set('range', state.preset);
  }
  for (const k of ['filter', 'dim', 'metric', 'refresh']) {
    if (state[k] && !(k === 'dim' && state[k] === 'protocol') && !(k === 'metric' && state[k] === 'bits')) {
      p.set(k, state[k]);
    }
  }
  if (state.search) {
    p.set('q', state.search);
  }
  const url = `${location.pathname}?${p}`;
  if (push) {
    history.pushState(null, '', url);
  } else {
    history.replaceState(null, '', url);
  }
}

function range() {
  if (state.since && state.until) {
    return { since: state.since, until: state.until };
  }
  const until = Math.ceil(Date.now() / 10000) * 10;
  return { since: until - PRESETS[state.preset], until };
}

function ctx() {
  const r = range();
  const len = r.until - r.since;
  return {
    range: r,
    prev: { since: r.since - len, until: r.since },
    filter: state.filter,
    dim: state.dim,
    metric: state.metric,
    addFilter: (t) => {
      state.filter = state.filter.trim() === '' ? t : `${state.filter.trim()} ${t}`;
      update(true);
    },
    zoom: (since, until) => {
      state.since = since;
      state.until = until;
      update(true);
    },
    setSearch: (q) => {
      state.search = q;
      writeState(false);
    },
    reloadPanel: (id) => loadPanel(panels.find((p) => p[0] === id), window.flowlog.generation, ctx()),
  };
}

const panels = [
  ['overview', overview.load],
  ['traffic', traffic.load],
  ['top-srcaddr', topn.load],
  ['top-dstaddr', topn.load],
  ['top-conv', topn.load],
  ['top-dstport', topn.load],
  ['top-protocol', topn.load],
  ['rejected', rejected.load],
  ['health', health.load],
  ['flowlogs', flowlogs.load],
];

function loadPanel([id, load], gen, c) {
  const el = document.getElementById(id);
  setState(el, 'loading');
  load(el, c).then(
    () => { if (gen === window.flowlog.generation) setState(el, 'ready'); },
    (e) => {
      if (gen === window.flowlog.generation) setState(el, 'error', e);
      if (e.code === 'AUTH') document.getElementById('login').hidden = false;
    },
  );
}

function loadAll() {
  const gen = ++window.flowlog.generation;
  forget();
  const c = ctx();
  document.getElementById('range-text').textContent = rangeText(c.range);
  for (const p of panels) {
    loadPanel(p, gen, c);
  }
}

function syncControls() {
  const preset = document.getElementById('preset');
  preset.value = state.since && state.until ? 'custom' : state.preset;
  document.getElementById('filter').value = state.filter;
  document.getElementById('dim').value = state.dim;
  document.getElementById('metric').value = state.metric;
  document.getElementById('refresh').value = String(state.refresh);
  document.getElementById('search-q').value = state.search;
}

let timer = null;
function update(push) {
  writeState(push);
  syncControls();
  loadAll();
  clearInterval(timer);
  timer = state.refresh > 0 ? setInterval(loadAll, state.refresh * 1000) : null;
}

function shift(dir) {
  const r = range();
  const len = r.until - r.since;
  state.since = r.since + dir * len;
  state.until = r.until + dir * len;
  update(true);
}

function wire() {
  document.getElementById('preset').addEventListener('change', (ev) => {
    state.preset = ev.target.value;
    state.since = state.until = 0;
    update(true);
  });
  document.getElementById('back').addEventListener('click', () => shift(-1));
  document.getElementById('fwd').addEventListener('click', () => shift(1));
  document.getElementById('refresh').addEventListener('change', (ev) => {
    state.refresh = Number(ev.target.value);
    update(false);
  });
  const filter = document.getElementById('filter');
  filter.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      state.filter = filter.value;
      update(true);
    }
  });
  document.getElementById('clear-filter').addEventListener('click', () => {
    state.filter = '';
    update(true);
  });
  for (const id of ['dim', 'metric']) {
    document.getElementById(id).addEventListener('change', (ev) => {
      state[id] = ev.target.value;
      update(true);
    });
  }
  document.getElementById('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = new URLSearchParams({ token: document.getElementById('login-token').value });
    const res = await fetch('/api/v1/login', { method: 'POST', body, credentials: 'same-origin' });
    if (res.ok) {
      document.getElementById('login').hidden = true;
      loadAll();
    } else {
      document.getElementById('login-token').value = '';
    }
  });
  window.addEventListener('popstate', () => {
    state = readState();
    syncControls();
    loadAll();
  });
}

wire();
const runSearch = search.init(document.getElementById('search'), ctx);
flowlogs.init(document.getElementById('flowlogs'), ctx);
live.init(document.getElementById('live'), ctx);
update(false);
if (state.search) {
  runSearch();
}
