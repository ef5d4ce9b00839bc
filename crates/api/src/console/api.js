// The console's only way to the host: the admin API and event streams,
// with the key of this tab (sessionStorage: gone when the tab closes).
// Must never send the key anywhere but this host's own paths, nor keep it
// in localStorage, a cookie or the URL.

const STORE = 'handover-console-key';

export const key = () => sessionStorage.getItem(STORE);
export const setKey = (k) => sessionStorage.setItem(STORE, k);
export const clearKey = () => sessionStorage.removeItem(STORE);

/** Who the key is: `role` 'operator' or 'tenant', and the tenant's id
 * when its endpoints show it. */
export const session = { role: null, tenant: null };

/** An error answer of the host: HTTP status, `error.code`, `error.message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A request to the host's API; the answer's JSON, or an ApiError. */
export async function api(method, path, { body, contentType, signal } = {}) {
  const headers = { authorization: `Bearer ${key()}` };
  if (body !== undefined) headers['content-type'] = contentType || 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers, body, signal, cache: 'no-store' });
  } catch (e) {
    if (signal && signal.aborted) throw e;
    throw new ApiError(0, 'network', `the host did not answer (${e.message})`);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(r.status, err.code || String(r.status), err.message || text || r.statusText);
  }
  return json;
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, opts) => api('POST', path, opts);
export const put = (path, opts) => api('PUT', path, opts);
export const enc = encodeURIComponent;

const sleep = (ms, signal) => new Promise((done) => {
  const t = setTimeout(done, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); done(); }, { once: true });
});

/** Follows an event stream (server-sent events read from a fetch body:
 * EventSource cannot send the key). `onEvent(type, data, id)` for each
 * event, `onState(state, detail)` with 'open', 'retrying', 'ended' or
 * 'refused'. Resumes after the last event seen (`Last-Event-ID`) when the
 * connection drops; stops after an `ended` event, a refusal or `signal`. */
export async function follow(path, onEvent, onState, signal) {
  let last = null;
  while (!signal.aborted) {
    try {
      const headers = { authorization: `Bearer ${key()}`, accept: 'text/event-stream' };
      if (last !== null) headers['last-event-id'] = last;
      const r = await fetch(path, { headers, signal, cache: 'no-store' });
      if (!r.ok) {
        const text = await r.text();
        let msg = text;
        try { msg = JSON.parse(text).error.message; } catch { /* as is */ }
        if (r.status !== 429 && r.status < 500) { onState('refused', `${r.status}: ${msg}`); return; }
        throw new Error(`${r.status}: ${msg}`);
      }
      onState('open');
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const ev = parse(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
          if (!ev) continue;
          if (ev.id !== null) last = ev.id;
          onEvent(ev.type, ev.data, ev.id);
          if (ev.type === 'ended') { onState('ended'); reader.cancel().catch(() => {}); return; }
        }
      }
      onState('retrying', 'the stream closed');
    } catch (e) {
      if (signal.aborted) return;
      onState('retrying', e.message);
    }
    await sleep(1000, signal);
  }
}

/** One SSE block: its event type, data (JSON when it parses) and id. */
function parse(block) {
  let type = 'message';
  let id = null;
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (!data.length) return null;
  const text = data.join('\n');
  try { return { type, id, data: JSON.parse(text) }; } catch { return { type, id, data: text }; }
}
