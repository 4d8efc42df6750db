// SPDX-License-Identifier: MIT
// The console's only way to data: flowlogd's HTTP API (docs/http.md).

export class ApiError extends Error {
  constructor(obj, http) {
    super(obj.message || `HTTP ${http}`);
    this.code = obj.code || 'HTTP';
    this.col = obj.col || 0;
    this.http = http;
  }
}

async function fetchText(url) {
  const res = await fetch(url, { credentials: 'same-origin' });
  const text = await res.text();
  return { res, text };
}

// ndjson rows of a query (or another verb's URL): { rows, status }; throws ApiError.
export async function ndjson(url) {
  const { res, text } = await fetchText(url);
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length === 0) {
    throw new ApiError({ message: 'an empty answer' }, res.status);
  }
  let status;
  try {
    status = JSON.parse(lines[lines.length - 1]);
  } catch (e) {
    throw new ApiError({ message: `a broken answer: ${e.message}` }, res.status);
  }
  if (!res.ok || status.status !== 'OK') {
    throw new ApiError(status, res.status);
  }
  return { rows: lines.slice(0, -1).map((l) => JSON.parse(l)), status };
}

export function queryUrl(q, format = 'ndjson') {
  return `/api/v1/query?q=${encodeURIComponent(q)}&format=${format}`;
}

// Panels loading at once often ask the same (the range's totals): one request per text
// until forget() (the next load).
const pending = new Map();

export function query(q) {
  if (!pending.has(q)) {
    pending.set(q, ndjson(queryUrl(q)));
  }
  return pending.get(q);
}

export function forget() {
  pending.clear();
}

// A timechart in columns (format=chart): { span_s, field, agg, t, series, status }.
export async function chart(q) {
  const { res, text } = await fetchText(queryUrl(q, 'chart'));
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ApiError({ message: `a broken answer: ${e.message}` }, res.status);
  }
  if (!res.ok || (doc.status && doc.status.status === 'ERR') || doc.status === 'ERR') {
    throw new ApiError(doc.status && doc.status.status ? doc.status : doc, res.status);
  }
  return doc;
}
