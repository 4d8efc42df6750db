// SPDX-License-Identifier: MIT
// bench/console_overview.sh's browser half: open the console on a 24 h range R times and
// print the milliseconds from navigation until every panel is ready (or in error, named).
//   node console_overview.mjs URL R   (CHROMIUM, WEB_DIR in the environment)
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.WEB_DIR}/package.json`);
const { chromium } = require('playwright-core');
const [url, runs] = [process.argv[2], Number(process.argv[3] || 3)];
const PANELS = ['overview', 'traffic', 'top-srcaddr', 'top-dstaddr', 'top-conv', 'top-dstport',
  'top-protocol', 'rejected', 'health', 'flowlogs'];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
for (let i = 0; i < runs; i++) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const api = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) api.push(r.url()); });
  const t0 = Date.now();
  await page.goto(`${url}?range=24h`);
  let states;
  for (;;) {
    states = await page.evaluate((ids) => ids.map((id) => [id, document.getElementById(id).dataset.state,
      document.querySelector(`#${id} > .err`).textContent]), PANELS);
    if (states.every(([, s]) => s !== 'loading')) {
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const ms = Date.now() - t0;
  const bad = states.filter(([, s]) => s !== 'ready').map(([id, , e]) => `${id}: ${e}`);
  const queries = api.filter((u) => u.includes('/api/v1/query')).length;
  console.log(`run ${i + 1}: ${ms} ms, ${api.length} API requests (${queries} queries)` +
    `${bad.length ? `; not ready: ${bad.join('; ')}` : ''}`);
  await page.close();
}
await browser.close();
