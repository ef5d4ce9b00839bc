// The charts view: the last hour of the host's own metrics (one sample per
// 10 s from GET /admin/metrics/history, plus the interval in progress)
// drawn as inline SVG: handovers ended by status and reason, adapter calls,
// call latency (p50, p99), traps and limit hits by cause. Each chart has a
// text legend with the hour's totals. Operator key only (the metrics cover
// every tenant). Must never load a chart library or anything from elsewhere.

import { get, session } from './api.js';
import { every, h, micros, replace, svg, time } from './dom.js';

const W = 1000;
const H = 190;
const LEFT = 56;
const RIGHT = W - 10;
const TOP = 12;
const BOTTOM = H - 24;
const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#8c8c8c'];
const STATUS = { completed: '#1a7f37', cancelled: '#0b5cad', error: '#c62828' };

export function chartsView(el, { signal }) {
  el.append(h('h1', null, 'Charts: the last hour'));
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  el.append(h('p', { class: 'muted' }, 'From this host\'s own metrics: one sample per 10 s, the last bar is the interval in progress.'), body);
  if (session.role !== 'operator') {
    replace(body, h('p', { class: 'card', id: 'charts-refused' },
      'The charts need the operator key: the host\'s metrics cover every tenant, so a tenant key is refused (403).'));
    return;
  }
  every(5000, async () => {
    const hist = await get('/admin/metrics/history', { signal });
    const samples = hist.current ? [...hist.samples, hist.current] : hist.samples;
    const from = hist.now_ms - hist.window_s * 1000;
    const endedKey = (e) => (e.reason ? `${e.status}/${e.reason}` : e.status);
    replace(body, h('div', null,
      chart('chart-ended', 'Handovers ended, by status and reason', from, hist.now_ms,
        bars(samples, (s) => s.ended.map((e) => [endedKey(e), e.count]),
          (k) => STATUS[k] || (k.startsWith('error') ? '#8e1b1b' : null))),
      chart('chart-calls', 'Adapter calls', from, hist.now_ms, bars(samples, (s) => [['calls', s.calls]], () => PALETTE[0])),
      chart('chart-latency', 'Adapter call latency', from, hist.now_ms, lines(samples, [
        ['p50', (s) => s.call_p50_us, PALETTE[0]], ['p99', (s) => s.call_p99_us, PALETTE[1]], ['mean', (s) => s.call_mean_us, PALETTE[2]],
      ]), micros),
      chart('chart-traps', 'Traps and limit hits, by cause', from, hist.now_ms,
        bars(samples, (s) => s.traps.map((t) => [t.cause, t.count]), () => null))));
  }, signal);
}

/** Stacked bars: per sample, `parts(s)` → [[series, n]]. */
function bars(samples, parts, colorOf) {
  const series = new Map();
  const stacks = samples.map((s) => {
    const p = parts(s).filter(([, n]) => n > 0);
    for (const [k, n] of p) series.set(k, (series.get(k) || 0) + n);
    return { s, p };
  });
  const colors = colorMap([...series.keys()], colorOf);
  const max = Math.max(0, ...stacks.map(({ p }) => p.reduce((a, [, n]) => a + n, 0)));
  return {
    max, kind: 'bars', legend: [...series].map(([k, n]) => [k, colors.get(k), `${n} in the hour`]),
    draw: (x, y) => stacks.flatMap(({ s, p }) => {
      let base = 0;
      return p.map(([k, n]) => {
        const x0 = x(s.start_ms);
        const r = svg('rect', { x: x0.toFixed(1), width: Math.max(1.5, x(s.end_ms) - x0 - 0.5).toFixed(1),
          y: y(base + n).toFixed(1), height: Math.max(0.5, y(base) - y(base + n)).toFixed(1), fill: colors.get(k) },
        svg('title', null, `${time(s.start_ms)}–${time(s.end_ms)}: ${k} ${n}`));
        base += n;
        return r;
      });
    }),
  };
}

/** Lines: [name, value(s), colour] each; a sample without a value breaks the line. */
function lines(samples, defs) {
  const max = Math.max(0, ...samples.flatMap((s) => defs.map(([, f]) => f(s) || 0)));
  const legend = defs.map(([name, f, color]) => {
    const vals = samples.map(f).filter((v) => v !== null && v !== undefined);
    return [name, color, vals.length ? `highest ${micros(Math.max(...vals))}` : 'no calls'];
  });
  return {
    max, kind: 'lines', legend,
    draw: (x, y) => defs.flatMap(([name, f, color]) => {
      const runs = [[]];
      for (const s of samples) {
        const v = f(s);
        if (v === null || v === undefined) { if (runs[runs.length - 1].length) runs.push([]); continue; }
        runs[runs.length - 1].push(`${x((s.start_ms + s.end_ms) / 2).toFixed(1)},${y(v).toFixed(1)}`);
      }
      return runs.filter((r) => r.length).map((r) => (r.length === 1
        ? svg('circle', { cx: r[0].split(',')[0], cy: r[0].split(',')[1], r: 2.5, fill: color }, svg('title', null, name))
        : svg('polyline', { points: r.join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }, svg('title', null, name))));
    }),
  };
}

function colorMap(keys, colorOf) {
  const m = new Map();
  let i = 0;
  for (const k of keys) m.set(k, colorOf(k) || PALETTE[i++ % PALETTE.length]);
  return m;
}

/** Rounds up to 1, 2 or 5 times a power of ten. */
function nice(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function chart(id, title, from, to, data, fmt = (v) => String(Math.round(v * 10) / 10)) {
  const top = nice(data.max);
  const x = (ms) => LEFT + ((Math.min(Math.max(ms, from), to) - from) / (to - from)) * (RIGHT - LEFT);
  const y = (v) => BOTTOM - (v / top) * (BOTTOM - TOP);
  const grid = [0, top / 2, top].map((v) => [
    svg('line', { x1: LEFT, x2: RIGHT, y1: y(v), y2: y(v), class: 'gridline' }),
    svg('text', { x: LEFT - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)),
  ]);
  const ticks = [60, 45, 30, 15, 0].map((m) => svg('text', {
    x: x(to - m * 60000), y: H - 6, 'text-anchor': m === 60 ? 'start' : m === 0 ? 'end' : 'middle', class: 'axis',
  }, m ? `−${m} min` : 'now'));
  const empty = data.max === 0;
  return h('section', { class: 'card chart', id, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h` }, title),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-h ${id}-legend` },
      grid, ticks, data.draw(x, y),
      empty ? svg('text', { x: (LEFT + RIGHT) / 2, y: (TOP + BOTTOM) / 2, 'text-anchor': 'middle', class: 'axis' }, 'nothing in the last hour') : null),
    h('ul', { class: 'legend', id: `${id}-legend` }, data.legend.length
      ? data.legend.map(([k, color, text]) => {
        const sw = h('span', { class: 'swatch', 'aria-hidden': 'true' });
        sw.style.background = color;
        return h('li', { data: { series: k } }, sw, `${k}: ${text}`);
      })
      : h('li', null, 'Nothing in the last hour.')));
}
