// The endpoints views: the list (adapter version, world, hash, canary,
// last change of each endpoint the key may see) and one endpoint (its
// versions, upload and swap, rollback, the canary section and the swap
// history). Everything shown comes from the admin API with this tab's key;
// must never guess at state the API did not return.

import { enc, get, post, put, session } from './api.js';
import { every, h, kv, replace, replaceIfChanged, shortSha, table, timeEl, versionName } from './dom.js';
import { canarySection } from './canary.js';

const detailPath = (id) => `/admin/endpoints/${enc(id)}`;

export function endpointsView(el, { signal }) {
  const body = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading…'));
  el.append(h('h1', null, 'Endpoints'), h('p', { class: 'muted' }, session.role === 'operator'
    ? 'Every endpoint of every tenant, with the adapter version it serves.'
    : 'Your endpoints, with the adapter version each serves.'), body);
  every(4000, async () => {
    const { endpoints } = await get('/admin/endpoints', { signal });
    const shown = endpoints.slice(0, 100);
    const more = await Promise.all(shown.map(async (e) => {
      const [detail, canary] = await Promise.all([
        get(detailPath(e.id), { signal }).catch(() => null),
        get(`${detailPath(e.id)}/canary`, { signal }).catch(() => null),
      ]);
      return { e, history: detail ? detail.history : [], canary: canary && canary.canary };
    }));
    replaceIfChanged(body, more, (rows) => rows.length ? table(null,
      ['Endpoint', 'Tenant', 'Adapter', 'World', 'sha256', 'Loaded', 'Canary', 'Swap history'],
      rows.map(({ e, history, canary }) => {
        const last = history[history.length - 1];
        return [
          h('a', { href: `#/endpoints/${enc(e.id)}`, data: { key: `ep-${e.id}` } }, e.id),
          e.tenant,
          versionName(e.current),
          h('code', null, e.current.world),
          shortSha(e.current.sha256),
          [timeEl(e.current.loaded_at_ms), h('br'), h('span', { class: 'muted' }, `from ${e.current.source}`)],
          canary ? h('span', { class: 'pill' }, `${versionName(canary.candidate.version)} at ${canary.policy.share_percent} %`) : 'none',
          last ? [`${history.length} change${history.length === 1 ? '' : 's'}; last: `, last.accepted ? '' : h('span', { class: 'bad' }, 'refused '), last.message] : 'no change since start',
        ];
      })) : h('p', null, 'No endpoints.'));
  }, signal);
}

export function endpointView(el, { id, signal }) {
  const versions = h('div');
  const history = h('div');
  const actionMsg = h('p', { class: 'error', role: 'alert' });
  let refresh = () => {};
  const canary = canarySection(id, signal, () => refresh());

  const file = h('input', { id: 'swap-file', type: 'file', accept: '.wasm,application/wasm', required: true });
  const rollbackBtn = h('button', { type: 'button', class: 'danger', id: 'rollback', disabled: true, on: { click: () => act(
    'Rolling back…', () => post(`${detailPath(id)}/rollback`, { signal }),
    (v) => `Rolled back: ${versionName(v.current)} serves now.`) } }, 'Roll back to the previous version');
  const swapForm = h('form', { id: 'swap-form', on: { submit: (ev) => {
    ev.preventDefault();
    if (!file.files.length) return;
    act('Uploading and validating…', async () => put(`${detailPath(id)}/adapter`, {
      body: await file.files[0].arrayBuffer(), contentType: 'application/wasm', signal,
    }), (v) => `Swapped: ${versionName(v.current)} serves every new call now.`);
  } } },
  h('label', { for: 'swap-file' }, 'Component (.wasm)'), file,
  h('p', { class: 'hint' }, 'Validated first (world, describe, settings, pins); a refused component never serves.'),
  h('button', { type: 'submit' }, 'Swap now'), rollbackBtn, actionMsg);

  async function act(doing, call, done) {
    actionMsg.className = 'muted';
    actionMsg.textContent = doing;
    try {
      const v = await call();
      actionMsg.className = 'ok';
      actionMsg.textContent = done(v);
    } catch (e) {
      actionMsg.className = 'error';
      actionMsg.textContent = `Refused (${e.status}): ${e.message}`;
    }
    refresh();
  }

  el.append(
    h('p', null, h('a', { href: '#/endpoints' }, '← All endpoints')),
    h('h1', null, `Endpoint ${id}`),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Versions'), versions),
      h('section', { class: 'card', 'aria-labelledby': 'swap-h' }, h('h2', { id: 'swap-h' }, 'Upload, swap, roll back'), swapForm)),
    canary.el,
    h('section', { class: 'card', 'aria-labelledby': 'history-h' }, h('h2', { id: 'history-h' }, 'Swap history'), history),
  );

  const poll = async () => {
    const [ep, state] = await Promise.all([get(detailPath(id), { signal }), get(`${detailPath(id)}/canary`, { signal })]);
    rollbackBtn.disabled = !ep.previous;
    replaceIfChanged(versions, [ep.current, ep.previous, ep.tenant], () => renderVersions(ep));
    replaceIfChanged(history, ep.history, renderHistory);
    canary.show(state);
  };
  const shown = (e) => {
    if (!signal.aborted) replace(versions, h('p', { class: 'error' }, e.message));
    delete versions.dataset.shown;
    throw e;
  };
  refresh = () => poll().catch(shown).catch(() => {});
  every(1500, () => poll().catch(shown), signal);
}

function renderVersions(ep) {
  const v = ep.current;
  const p = ep.previous;
  return [
    kv([
      ['Tenant', ep.tenant],
      ['Adapter', h('strong', null, versionName(v))],
      ['World', h('code', null, v.world)],
      ['sha256', h('code', { class: 'mono' }, v.sha256)],
      ['Source', v.source],
      ['Loaded', timeEl(v.loaded_at_ms)],
      ['Capabilities', Object.entries(ep.capabilities || {}).filter(([, on]) => on).map(([c]) => c).join(', ') || 'none'],
      ['Channels', (ep.channels || []).join(', ')],
    ]),
    h('h3', null, 'Previous version (rollback target)'),
    p ? kv([['Adapter', versionName(p)], ['World', h('code', null, p.world)], ['sha256', shortSha(p.sha256)], ['Loaded', timeEl(p.loaded_at_ms)]])
      : h('p', { class: 'muted' }, 'None: nothing to roll back to.'),
  ];
}

function renderHistory(records) {
  if (!records.length) return h('p', { class: 'muted' }, 'No swap since the host started.');
  return table(null, ['When', 'Source', 'sha256', 'Result', 'Message'], records.slice().reverse().map((r) => [
    timeEl(r.at_ms), r.source, shortSha(r.sha256),
    r.accepted ? h('span', { class: 'ok' }, 'accepted') : h('span', { class: 'bad' }, 'refused'),
    r.message,
  ]));
}
