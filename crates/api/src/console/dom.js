// DOM helpers of the console: building elements (text is always set as
// text, never parsed as HTML: nothing an adapter or a tenant wrote can run
// here), updating a panel without losing the keyboard focus, and
// formatting. Must never use innerHTML or insertAdjacentHTML.

/** An element: `attrs` are attributes, except `on` (event handlers) and
 * `data` (dataset); children are nodes, strings, arrays or null. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'data') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replace `container`'s children; the element that had the focus inside
 * it gets it back in the new content when one has the same `data-key`. */
export function replace(container, ...nodes) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : undefined;
  container.replaceChildren();
  append(container, nodes);
  if (key !== undefined) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/** `container`'s content only when `value` differs from last time. */
export function replaceIfChanged(container, value, render) {
  const text = JSON.stringify(value);
  if (container.dataset.shown === text) return;
  container.dataset.shown = text;
  replace(container, render(value));
}

export function time(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  const t = d.toLocaleTimeString(undefined, { hour12: false });
  return today ? t : `${d.toLocaleDateString()} ${t}`;
}

export function timeEl(ms) {
  return ms ? h('time', { datetime: new Date(ms).toISOString() }, time(ms)) : '—';
}

export function shortSha(sha) {
  return sha ? h('code', { title: sha }, sha.slice(0, 12)) : '—';
}

export function micros(us) {
  if (us === null || us === undefined) return '—';
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function percent(x) {
  return x === null || x === undefined ? '—' : `${Number(x).toFixed(1)} %`;
}

/** `name@version` of a VersionInfo. */
export function versionName(v) {
  return v ? `${v.name}@${v.version}` : '—';
}

/** A definition list from [term, value] pairs. */
export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

/** A table: `head` names the columns (a name starting with '#' is numeric). */
export function table(caption, head, rows) {
  const num = head.map((c) => c.startsWith('#'));
  return h('div', { class: 'wide' }, h('table', null,
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', null, h('tr', null, head.map((c, i) =>
      h('th', { scope: 'col', class: num[i] ? 'num' : null }, num[i] ? c.slice(1) : c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((cell, i) =>
      h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, class: num[i] ? 'num' : null }, cell)))))));
}

/** A line in the status bar (announced politely to screen readers). */
export function say(text, bad = false) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.classList.toggle('bad', bad);
}

/** Runs `fn` now and then `ms` after each run ends (runs never overlap)
 * until `signal` aborts; a failing run is reported in the status bar. */
export function every(ms, fn, signal) {
  const run = async () => {
    if (signal.aborted) return;
    try { await fn(); } catch (e) { if (!signal.aborted) say(e.message, true); }
    if (!signal.aborted) setTimeout(run, ms);
  };
  run();
}
