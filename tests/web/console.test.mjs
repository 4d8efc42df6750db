// SPDX-License-Identifier: MIT
// Browser tests of the console (label web), run by `node --test` from console.sh against a
// real flowlogd with known data: headless Debian chromium driven by playwright-core.
//   FLOWLOG_URL   the console (http://127.0.0.1:PORT/)
//   FLOWLOG_Q     the query server (127.0.0.1:PORT), FLOWLOG_CLI the flowlog CLI
//   CHROMIUM      the browser (/usr/bin/chromium), WEB_DIR web/ (its node_modules)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

const require = createRequire(`${process.env.WEB_DIR}/package.json`);
const { chromium } = require('playwright-core');
const URL0 = process.env.FLOWLOG_URL;
const TOPS = ['top-srcaddr', 'top-dstaddr', 'top-conv', 'top-dstport', 'top-protocol'];
const PANELS = ['overview', 'traffic', ...TOPS, 'rejected', 'health', 'flowlogs'];

let browser;
let page;
const problems = [];

function cli(q) {
  const out = execFileSync(process.env.FLOWLOG_CLI,
    ['-s', process.env.FLOWLOG_Q, '-f', 'json', 'query', q], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

// page.waitForFunction evaluates text, which the console's CSP forbids (rightly): poll.
async function until(p, fn, arg, what) {
  for (let i = 0; i < 300; i++) {
    if (await p.evaluate(fn, arg)) {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out after 30 s waiting for ${what}`);
}

async function settled() {
  await until(page, (ids) => ids.every((id) => {
    const s = document.getElementById(id)?.dataset.state;
    return s === 'ready' || s === 'error';
  }), PANELS, 'every panel');
  const states = await page.evaluate((ids) => ids.map((id) => {
    const el = document.getElementById(id);
    return [id, el.dataset.state, el.querySelector(':scope > .err').textContent];
  }), PANELS);
  for (const [id, state, err] of states) {
    assert.equal(state, 'ready', `panel ${id}: ${err}`);
  }
}

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure().errorText}`));
  page.on('response', async (r) => {
    if (r.status() < 400) {
      return;
    }
    problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(`${URL0}?range=24h`);
  await settled();
});

after(async () => {
  await browser?.close();
});

test('the top-N tables show the rows flowlog query gives for their query', async () => {
  for (const id of TOPS) {
    const { q, rows } = await page.evaluate((pid) => {
      const el = document.getElementById(pid);
      return {
        q: JSON.parse(el.dataset.queries)[0],
        rows: [...el.querySelectorAll('tr.row')].map((tr) => JSON.parse(tr.dataset.row)),
      };
    }, id);
    const want = cli(q);
    assert.ok(want.length > 0, `${id}: no rows for ${q}`);
    assert.deepEqual(rows, want, `${id}: ${q}`);
  }
});

test('the change against the previous period is computed from its query', async () => {
  const other = await browser.newPage();
  await other.goto(`${URL0}?range=1h`); // the burst 30 min ago against the one 90 min ago
  await until(other, () => document.getElementById('top-dstport')?.dataset.state === 'ready', null,
    'top ports over 1 h');
  const { qs, rows } = await other.evaluate(() => {
    const el = document.getElementById('top-dstport');
    return {
      qs: JSON.parse(el.dataset.queries),
      rows: [...el.querySelectorAll('tr.row')].map((tr) => [JSON.parse(tr.dataset.row),
        tr.lastElementChild.textContent]),
    };
  });
  await other.close();
  assert.equal(qs.length, 3);
  const before = new Map(cli(qs[2]).map((r) => [r.dstport, r.bytes]));
  assert.ok(rows.length > 0 && rows.some(([r]) => before.has(r.dstport)), 'no port in both periods');
  for (const [r, shown] of rows) {
    const was = before.get(r.dstport);
    const ch = was ? (r.bytes - was) / was : null;
    assert.equal(shown, ch === null ? 'new' : `${ch >= 0 ? '+' : ''}${(ch * 100).toFixed(0)} %`);
  }
});

test("the traffic chart's data is the API's", async () => {
  const { url, doc, open } = await page.evaluate(() => window.flowlog.charts.traffic);
  const res = await fetch(new URL(url, URL0));
  assert.equal(res.status, 200);
  const api = await res.json();
  delete api.status.ms;
  delete doc.status.ms;
  assert.deepEqual(doc, api);
  // Three bursts in 24 h of 30-minute buckets: several buckets, and gaps between them.
  assert.ok(doc.t.length >= 5 && doc.series.length > 0, JSON.stringify(doc.t));
  assert.ok(doc.series.every((s) => s.values.some((v) => v === null)));
  // The open windows shaded are the API's open windows of the range.
  const { range } = await page.evaluate(() => ({ range: document.getElementById('range-text').textContent }));
  const wins = await (await fetch(new URL(`/api/v1/windows?range=${encodeURIComponent(range)}`, URL0))).text();
  const want = wins.trim().split('\n').slice(0, -1).map((l) => JSON.parse(l)).filter((w) => w.status === 'open')
    .map((w) => [Date.parse(w.start) / 1000, Date.parse(w.start) / 1000 + w.length]);
  assert.deepEqual(open, want);
  const drawn = await page.locator('#traffic .chart canvas').count();
  assert.equal(drawn, 1);
});

test('overview numbers agree with a query', async () => {
  const { q, values } = await page.evaluate(() => {
    const el = document.getElementById('overview');
    return { q: JSON.parse(el.dataset.queries)[0], values: JSON.parse(el.dataset.values) };
  });
  assert.deepEqual(values, cli(q)[0]);
});

test('a clicked row filters every panel, and the state is in the URL', async () => {
  const row = JSON.parse(await page.locator('#top-dstport tr.row').first().getAttribute('data-row'));
  await page.locator('#top-dstport tr.row').first().click();
  await until(page, () => new URLSearchParams(location.search).get('filter') !== null, null, 'the URL');
  await settled();
  const filter = new URL(page.url()).searchParams.get('filter');
  assert.equal(filter, `dstport:${row.dstport}`);
  for (const id of PANELS.filter((p) => p !== 'flowlogs')) { // flow logs are not traffic
    const qs = await page.evaluate((pid) => JSON.parse(document.getElementById(pid).dataset.queries), id);
    assert.ok(qs.some((q) => q.includes(`(dstport:${row.dstport})`)), `${id}: ${qs.join(' / ')}`);
  }
  const ports = await page.evaluate(() => [...document.querySelectorAll('#top-dstport tr.row')]
    .map((tr) => JSON.parse(tr.dataset.row).dstport));
  assert.deepEqual(ports, [row.dstport]);
  // The same view from its URL alone.
  const other = await browser.newPage();
  await other.goto(page.url());
  await until(other, () => document.getElementById('top-dstport')?.dataset.state === 'ready', null,
    'the shared view');
  assert.equal(await other.inputValue('#filter'), filter);
  await other.close();
  await page.goBack();
  await settled();
  assert.equal(new URL(page.url()).searchParams.get('filter'), null);
});

test('flow logs are created, stopped and deleted from their panel', async () => {
  const names = async () => page.evaluate(() => [...document.querySelectorAll('#flowlogs tr[data-name]')]
    .map((tr) => JSON.parse(tr.dataset.row)));
  const settle = () => until(page, () => document.getElementById('flowlogs').dataset.state === 'ready',
    null, 'the flow logs');
  await page.selectOption('#fl-action', 'create');
  await page.fill('#fl-name', 'web-ui');
  await page.fill('#fl-args', 'window=60 traffic=reject description="from the console"');
  await page.click('#fl-form button[type=submit]');
  await until(page, () => document.querySelector('#flowlogs tr[data-name="web-ui"]') !== null, null,
    'the new flow log');
  await settle();
  let fl = (await names()).find((r) => r.name === 'web-ui');
  assert.equal(fl.window, 60);
  assert.equal(fl.traffic, 'reject');
  assert.equal(fl.description, 'from the console');
  assert.match(await page.textContent('#flowlogs .result'), /flow log web-ui created/);
  await page.click('#flowlogs tr[data-name="web-ui"] .fl-stop');
  await until(page, () => document.querySelector('#flowlogs tr[data-name="web-ui"] .fl-start') !== null,
    null, 'stopped');
  await settle();
  fl = (await names()).find((r) => r.name === 'web-ui');
  assert.equal(fl.active, 'off');
  page.once('dialog', (d) => d.accept());
  await page.click('#flowlogs tr[data-name="web-ui"] .fl-delete');
  await until(page, () => document.querySelector('#flowlogs tr[data-name="web-ui"]') === null, null,
    'deleted');
  assert.match(await page.textContent('#flowlogs .result'), /flow log web-ui deleted/);
  assert.throws(() => execFileSync(process.env.FLOWLOG_CLI,
    ['-s', process.env.FLOWLOG_Q, 'describe', 'web-ui'], { stdio: 'ignore' }));
});

test("a panel's query can be edited into the search and run there", async () => {
  const q = await page.evaluate(() => JSON.parse(document.getElementById('top-dstport').dataset.queries)[0]);
  await page.click('#top-dstport details.q summary');
  await page.click('#top-dstport details.q button.edit >> nth=0');
  assert.equal(await page.inputValue('#search-q'), q);
  await page.click('#search-form button[type=submit]');
  await until(page, () => document.getElementById('search').dataset.state === 'ready', null, 'the search');
  const rows = await page.evaluate(() => [...document.querySelectorAll('#search .results tr[data-row]')]
    .map((tr) => JSON.parse(tr.dataset.row)));
  assert.deepEqual(rows, cli(q));
});

test('rejected traffic and exporters show their queries\' rows; a scanner click filters', async () => {
  await page.goto(`${URL0}?range=24h`);
  await settled();
  const tables = await page.evaluate(() => {
    const rows = (sel) => [...document.querySelectorAll(sel)].map((tr) => JSON.parse(tr.dataset.row));
    return {
      rq: JSON.parse(document.getElementById('rejected').dataset.queries),
      hq: JSON.parse(document.getElementById('health').dataset.queries),
      src: rows('#rejected .t-src tr[data-row]'),
      port: rows('#rejected .t-port tr[data-row]'),
      scan: rows('#rejected .t-scan tr[data-row]'),
      exp: rows('#health .t-exp tr[data-row]'),
    };
  });
  assert.ok(tables.scan.length > 0 && tables.exp.length > 0, 'rejected records and exporters to show');
  assert.deepEqual(tables.src, cli(tables.rq[1]));
  assert.deepEqual(tables.port, cli(tables.rq[2]));
  assert.deepEqual(tables.scan, cli(tables.rq[3]));
  assert.ok(tables.scan.every((r, i) => i === 0 || tables.scan[i - 1].ports >= r.ports), 'most ports first');
  assert.deepEqual(tables.exp, cli(tables.hq[0]));
  await page.locator('#rejected .t-scan tr[data-row]').first().click();
  await until(page, () => new URLSearchParams(location.search).get('filter') !== null, null, 'the URL');
  await settled();
  assert.equal(new URL(page.url()).searchParams.get('filter'), `srcaddr:${tables.scan[0].srcaddr}`);
  await page.goBack();
  await settled();
});

test('back and forward move the range by its length, in the URL', async () => {
  await page.goto(`${URL0}?range=1h`);
  await settled();
  await page.click('#back');
  await until(page, () => new URLSearchParams(location.search).get('since') !== null, null, 'the URL');
  await settled();
  const u1 = new URL(page.url()).searchParams;
  const [since, until1] = [Number(u1.get('since')), Number(u1.get('until'))];
  assert.equal(until1 - since, 3600);
  assert.ok(Math.abs(until1 - (Date.now() / 1000 - 3600)) < 120, 'one hour back');
  assert.equal(await page.inputValue('#preset'), 'custom');
  await page.click('#fwd');
  await until(page, (s) => Number(new URLSearchParams(location.search).get('since')) === s + 3600, since,
    'the next range');
  await settled();
  await page.goBack();
  await settled();
  assert.equal(Number(new URL(page.url()).searchParams.get('since')), since);
});

test('the search completes field names and their values from /api/v1/fields', async () => {
  const api = await page.evaluate(() => fetch('/api/v1/fields').then((r) => r.json()));
  const proto = api.fields.find((f) => f.name === 'protocol');
  assert.equal(proto.type, 'number');
  assert.ok(proto.values.length > 0, 'protocol has values to complete');
  const want = cli('last 1h | top 20 protocol').map((r) => r.protocol);
  assert.deepEqual(proto.values, want, 'the values are the top of the last hour');
  await page.fill('#search-q', '');
  await page.focus('#search-q');
  await page.keyboard.type('dstp');
  await until(page, () => document.querySelector('#search-complete li')?.textContent === 'dstport',
    null, 'the field name suggestion');
  await page.keyboard.press('Tab');
  assert.equal(await page.inputValue('#search-q'), 'dstport');
  await page.fill('#search-q', '');
  await page.keyboard.type('protocol:');
  await until(page, (n) => document.querySelectorAll('#search-complete li').length === n,
    Math.min(want.length, 12), 'the value suggestions');
  const shown = await page.evaluate(() => [...document.querySelectorAll('#search-complete li')]
    .map((li) => li.textContent));
  assert.deepEqual(shown, want.slice(0, 12).map(String));
  await page.keyboard.press('Tab');
  assert.equal(await page.inputValue('#search-q'), `protocol:${want[0]}`);
  await page.fill('#search-q', '');
});

function nfsend(n, seed) {
  execFileSync(process.env.FLOWLOG_NFSEND,
    ['-p', process.env.FLOWLOG_UDP, '-n', String(n), '-s', String(seed)], { encoding: 'utf8' });
}

test('the live view shows new records as they are stored, filtered, and pauses', async () => {
  const f = 'protocol = 17';
  const count = () => (cli(`${f} | stats count`)[0]?.count || 0);
  const before = count();
  await page.fill('#live .live-filter', f);
  await page.click('#live .toggle');
  await until(page, () => document.getElementById('live').dataset.live === 'on', null, 'the tail');
  nfsend(400, 4242);
  let want = 0;
  for (let i = 0; i < 100 && want === 0; i++) {
    const now = count();
    if (now > before) {
      await new Promise((r) => setTimeout(r, 500));
      want = count() - before;
    } else {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  assert.ok(want > 0, 'the new records were stored');
  await until(page, (w) => Number(document.getElementById('live').dataset.received) >= w, want,
    'the new records in the live view');
  const got = await page.evaluate(() => ({
    n: Number(document.getElementById('live').dataset.received),
    rows: [...document.querySelectorAll('#live .t-live tr.row')].map((tr) => JSON.parse(tr.dataset.row)),
  }));
  assert.equal(got.n, want, 'each new matching record once');
  assert.equal(got.rows.length, Math.min(want, 100));
  assert.ok(got.rows.every((r) => r.protocol === 17), 'only records that match the filter');
  assert.match(await page.textContent('#live .rate'), /records\/s$/);
  // Paused, the table stays as it is while records still arrive; resumed, it shows them.
  await page.click('#live .pause');
  const first = await page.getAttribute('#live .t-live tr.row >> nth=0', 'data-row');
  nfsend(400, 4343);
  await until(page, (w) => Number(document.getElementById('live').dataset.received) > w, got.n,
    'records while paused');
  assert.equal(await page.getAttribute('#live .t-live tr.row >> nth=0', 'data-row'), first);
  await page.click('#live .pause');
  assert.notEqual(await page.getAttribute('#live .t-live tr.row >> nth=0', 'data-row'), first);
  await page.click('#live .toggle');
  assert.equal(await page.evaluate(() => document.getElementById('live').dataset.live), 'off');
  // Stopping closes the stream: the browser reports that one request as aborted, nothing else.
  for (let i = 0; i < 50 && !problems.some((p) => /api\/v1\/tail.*ERR_ABORTED/.test(p)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const aborted = problems.filter((p) => /^request failed: .*\/api\/v1\/tail\?.* net::ERR_ABORTED$/.test(p));
  assert.equal(aborted.length, 1, problems.join('\n'));
  problems.splice(problems.indexOf(aborted[0]), 1);
});

test('no console errors and no failed requests', () => {
  assert.deepEqual(problems, []);
});

test('a bad query shows its error at its column', async () => {
  await page.fill('#search-q', '* | tpo 3');
  await page.click('#search-form button[type=submit]');
  await until(page, () => document.getElementById('search').dataset.state === 'error', null, 'the error');
  const err = await page.textContent('#search > .err');
  assert.match(err, /^PARSE: unknown stage 'tpo'/);
  // Its one failed request is the 400 of the query (and the browser's line about it).
  assert.ok(problems.length === 2 && /HTTP 400: .*tpo%203/.test(problems[0]), problems.join('\n'));
  const caret = await page.textContent('#search .caret');
  assert.equal(caret, "* | tpo 3\n    ^ col 5");
  await page.fill('#search-q', 'dstport:53 | stats count');
  await page.click('#search-form button[type=submit]');
  await until(page, () => document.getElementById('search').dataset.state === 'ready', null, 'the rows');
  const cnt = JSON.parse(await page.locator('#search .results tr').nth(1).getAttribute('data-row'));
  assert.ok(cnt.count > 0);
});

test('a bad live-view filter shows its error at its column', async () => {
  const before = problems.length;
  await page.fill('#live .live-filter', 'dstport ==');
  await page.press('#live .live-filter', 'Enter');
  await until(page, () => document.querySelector('#live > .err').textContent !== '', null, 'the error');
  assert.equal(await page.textContent('#live > .err'), "PARSE: expected a value after '==' (col 11)");
  assert.equal(await page.evaluate(() => document.getElementById('live').dataset.live), 'off');
  // The refused stream and the request that reads its error: 400s, and nothing else.
  const more = problems.slice(before);
  assert.ok(more.every((p) => /400|api\/v1\/tail/.test(p)), more.join('\n'));
});
