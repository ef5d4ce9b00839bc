// The console's entry point: logging in (the key is checked against the
// admin API, then kept in this tab), the router (#/endpoints,
// #/endpoints/ID, #/handovers, #/handovers/ID, #/charts) and the page
// frame. Each view renders into #view with an AbortSignal that stops its
// polls and streams when another view opens. Must never render a view
// before the key was accepted.

import { ApiError, clearKey, get, key, session, setKey } from './api.js';
import { endpointView, endpointsView } from './endpoints.js';
import { handoversView } from './handovers.js';
import { chartsView } from './charts.js';
import { say } from './dom.js';

const $ = (id) => document.getElementById(id);
const VIEWS = { endpoints: [endpointsView, endpointView], handovers: [handoversView, handoversView], charts: [chartsView, chartsView] };
let current = null;

/** Checks the key of this tab; who it is goes into `session`. */
async function check() {
  const { endpoints } = await get('/admin/endpoints');
  try {
    await get('/admin/metrics/history');
    session.role = 'operator';
    session.tenant = null;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
    session.role = 'tenant';
    session.tenant = endpoints.length ? endpoints[0].tenant : null;
  }
}

function showLogin(message) {
  if (current) current.abort();
  for (const id of ['nav', 'who', 'logout', 'view', 'loading']) $(id).hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  document.title = 'Log in · handover-host console';
  $('key').focus();
}

function showFrame() {
  $('login').hidden = true;
  $('loading').hidden = true;
  for (const id of ['nav', 'who', 'logout', 'view']) $(id).hidden = false;
  $('who').textContent = session.role === 'operator'
    ? 'Operator: every tenant'
    : `Tenant${session.tenant ? ` ${session.tenant}` : ''}: its own endpoints`;
}

function route() {
  if (!key() || !session.role) return;
  if (current) current.abort();
  current = new AbortController();
  const [, name = 'endpoints', ...rest] = location.hash.split('/');
  const id = rest.length ? decodeURIComponent(rest.join('/')) : null;
  const [list, one] = VIEWS[name] || VIEWS.endpoints;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === (VIEWS[name] ? name : 'endpoints')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const view = $('view');
  view.replaceChildren();
  delete view.dataset.shown;
  (id ? one : list)(view, { id, signal: current.signal });
  const title = view.querySelector('h1');
  document.title = `${title ? title.textContent : 'Console'} · handover-host console`;
  if (title && document.activeElement !== $('key')) {
    title.setAttribute('tabindex', '-1');
    title.focus({ preventScroll: true });
  }
}

async function start() {
  if (!key()) return showLogin();
  try {
    await check();
  } catch (e) {
    clearKey();
    return showLogin(e.status === 401 ? 'That key was refused: it is neither the operator key nor a tenant key.' : e.message);
  }
  showFrame();
  route();
  say(`Logged in as ${session.role}.`);
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const k = $('key').value.trim();
  if (!k) return;
  setKey(k);
  $('key').value = '';
  start();
});

$('logout').addEventListener('click', () => {
  clearKey();
  session.role = null;
  history.replaceState(null, '', location.pathname);
  say('Logged out.');
  showLogin();
});

window.addEventListener('hashchange', route);
start();
