// The handovers view: the newest handovers the key may see (the admin
// list, refreshed), and, for the one in the address (#/handovers/ID), its
// event stream live (the bot API's SSE stream, read with this tab's key).
// Must never keep more than one stream open: it ends with the view.

import { enc, follow, get } from './api.js';
import { every, h, replaceIfChanged, table, time, timeEl } from './dom.js';

const SHOWN = 50;
const ENDED = new Set(['completed', 'cancelled', 'error']);

export function handoversView(el, { id, signal }) {
  const list = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const filter = h('select', { id: 'handover-filter', on: { change: () => poll() } },
    h('option', { value: 'all' }, 'All'), h('option', { value: 'open' }, 'Open only'), h('option', { value: 'ended' }, 'Ended only'));
  el.append(h('h1', null, id ? `Handover ${id}` : 'Handovers'));
  // The list shows the end at once when the stream brings it.
  if (id) el.append(h('p', null, h('a', { href: '#/handovers' }, '← All handovers')), stream(id, signal, () => poll().catch(() => {})));
  el.append(h('section', { class: 'card', 'aria-labelledby': 'list-h' },
    h('h2', { id: 'list-h' }, 'Newest handovers'),
    h('label', { for: 'handover-filter' }, 'Show'), filter, list));

  const poll = async () => {
    const { handovers } = await get('/admin/handovers', { signal });
    const keep = handovers.filter((v) => filter.value === 'all' || (ENDED.has(v.status) === (filter.value === 'ended')));
    const rows = keep.slice(0, SHOWN);
    replaceIfChanged(list, rows, () => rows.length ? table(
      `${rows.length} of ${keep.length} shown, newest first`,
      ['Handover', 'Endpoint', 'Session', 'Status', 'End reason', 'Agent', 'Created', 'Updated'],
      rows.map((v) => [
        h('a', { href: `#/handovers/${enc(v.handover_id)}`, data: { key: `h-${v.handover_id}` },
          'aria-label': `Events of handover ${v.handover_id}` }, h('code', null, v.handover_id)),
        v.endpoint_id, v.session_id, status(v.status), v.end_reason || '—',
        v.agent ? v.agent.name : '—', timeEl(v.created_at_ms), timeEl(v.updated_at_ms),
      ])) : h('p', { class: 'muted' }, 'No handovers.'));
  };
  every(3000, poll, signal);
}

function status(s) {
  const cls = s === 'error' ? 'bad' : s === 'completed' ? 'ok' : null;
  return h('span', { class: cls, data: { status: s } }, s);
}

/** The live event stream of handover `id`. */
function stream(id, signal, onEnded) {
  const state = h('p', { id: 'stream-state', class: 'muted' }, 'Connecting…');
  const log = h('ol', { class: 'events', id: 'events', role: 'log', 'aria-live': 'polite', 'aria-label': `Events of handover ${id}` });
  follow(`/v1/handovers/${enc(id)}/events`, (type, data) => {
    log.append(h('li', { data: { type } },
      h('span', { class: 'muted' }, `${time(data && data.created_at_ms)} `),
      h('span', { class: 'type' }, type), summary(type, data || {})));
    log.scrollTop = log.scrollHeight;
  }, (s, detail) => {
    state.textContent = {
      open: 'Streaming: new events appear as they happen.',
      ended: 'The handover has ended: its stream is complete.',
      retrying: `Reconnecting (${detail})…`,
      refused: `The stream was refused: ${detail}`,
    }[s];
    state.className = s === 'refused' ? 'error' : 'muted';
    if (s === 'ended') onEnded();
  }, signal);
  return h('section', { class: 'card', 'aria-labelledby': 'events-h' },
    h('h2', { id: 'events-h' }, 'Event stream'), state, log);
}

function summary(type, e) {
  const who = (a) => (a ? a.name : 'an agent');
  switch (type) {
    case 'queued':
      return `position ${e.position ?? '?'}, estimated wait ${e.estimated_wait_seconds ?? '?'} s`;
    case 'agent_joined':
    case 'agent_left':
      return who(e.agent);
    case 'agent_message':
      return `${who(e.agent)}: ${e.text}${e.attachments && e.attachments.length ? ` (+${e.attachments.length} attachments)` : ''}`;
    case 'agent_typing':
      return e.typing ? 'typing' : 'stopped typing';
    case 'transferred':
      return `to ${e.to_agent ? e.to_agent.name : e.to_queue || '?'}`;
    case 'ended':
      return `${e.end_reason}: ${JSON.stringify({ handover: e.handover })}`;
    default: {
      const rest = { ...e };
      for (const k of ['id', 'handover_id', 'endpoint_id', 'seq', 'created_at_ms', 'type']) delete rest[k];
      return JSON.stringify(rest);
    }
  }
}
