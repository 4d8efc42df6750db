// SPDX-License-Identifier: MIT
// Stacked areas with uPlot from a format=chart document: each series on top of the ones
// before it; a bucket where no series has a value stays a gap.
const COLORS = ['#2f6fdf', '#e8833a', '#3a9d5d', '#c0362c', '#8a5cc2', '#8c6d3f', '#d36fb0',
  '#6f7b8a', '#b8b23a', '#2fb3c0'];

export function stack(doc, scale) {
  const n = doc.t.length;
  const out = [];
  const acc = new Array(n).fill(0);
  const any = new Array(n).fill(false);
  for (const s of doc.series) {
    s.values.forEach((v, k) => { any[k] = any[k] || v !== null; });
  }
  for (const s of doc.series) {
    s.values.forEach((v, k) => { acc[k] += (v || 0) * scale; });
    out.push(acc.map((v, k) => (any[k] ? v : null)));
  }
  return out;
}

// Shade [from, to) spans (Unix seconds) behind the series: open capture windows.
function shader(spans) {
  return (u) => {
    const { ctx } = u;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = 'rgba(120, 120, 120, 0.12)';
    for (const [from, to] of spans) {
      const x0 = u.valToPos(from, 'x', true);
      const x1 = u.valToPos(to, 'x', true);
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
    }
    ctx.restore();
  };
}

// Draw doc into box (replacing what was there); onZoom(since, until) on a drag; spans
// (optional) are shaded.
export function draw(box, doc, scale, unit, onZoom, spans = []) {
  box.textContent = '';
  const stacked = stack(doc, scale);
  const series = [{}];
  const data = [doc.t];
  for (let i = stacked.length - 1; i >= 0; i--) {
    const c = COLORS[i % COLORS.length];
    series.push({
      label: String(doc.series[i].name === '' ? doc.agg : doc.series[i].name),
      stroke: c, fill: `${c}55`, width: 1, spanGaps: false,
      value: (u, v, si, idx) => {
        const raw = doc.series[i].values[idx];
        return raw === null || raw === undefined ? '-' : `${(raw * scale).toPrecision(4)} ${unit}`;
      },
    });
    data.push(stacked[i]);
  }
  const width = Math.max(300, box.clientWidth || 800);
  const opts = {
    width, height: 220, series,
    axes: [{}, { size: 70, values: (u, vals) => vals.map((v) => `${v.toPrecision(3)}`) }],
    cursor: { drag: { x: true, y: false } },
    hooks: {
      drawClear: [shader(spans)],
      setSelect: [(u) => {
        if (u.select.width > 2 && onZoom) {
          const a = Math.floor(u.posToVal(u.select.left, 'x'));
          const b = Math.ceil(u.posToVal(u.select.left + u.select.width, 'x'));
          onZoom(a, b);
        }
      }],
    },
  };
  return new window.uPlot(opts, data, box);
}
