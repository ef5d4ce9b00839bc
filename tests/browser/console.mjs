// Drives the operator console (/console) of a running handover-host in
// Debian's headless Chromium, as an operator and as a tenant would:
// log in (keyboard), read the endpoints, open one with the keyboard,
// start a canary of a failing candidate through the page's form, make
// traffic through the bot API, watch the page show the automatic rollback
// and its reason, follow a handover's event stream live, read the charts,
// then log in as a tenant and see only its own endpoint. Prints what it
// measured (first paint) and `console browser test: ok`; exits non-zero
// on the first failed check. Run by host/tests/all/console.rs:
//
//   node tests/browser/console.mjs --url http://127.0.0.1:PORT --operator-key K \
//     --tenant-key K --endpoint ep --other-endpoint ep-b --candidate panic.wasm \
//     --screenshots DIR

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' }, 'operator-key': { type: 'string' }, 'tenant-key': { type: 'string' },
    endpoint: { type: 'string' }, 'other-endpoint': { type: 'string' }, candidate: { type: 'string' },
    screenshots: { type: 'string' }, chromium: { type: 'string', default: process.env.HANDOVER_CHROMIUM || '/usr/bin/chromium' },
  },
});
for (const k of ['url', 'operator-key', 'tenant-key', 'endpoint', 'other-endpoint', 'candidate', 'screenshots']) {
  if (!o[k]) fail(`missing --${k}`);
}
if (!existsSync(o.chromium)) fail(`no Chromium at ${o.chromium}: install Debian's package (apt-get install chromium; scripts/test does)`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  fail(`playwright-core is not installed in tests/browser/node_modules (npm ci there; scripts/test does): ${e.message}`);
}

const EP = o.endpoint;
const TIMEOUT = 60_000;
// The whole run, however slow the machine: then it fails rather than hangs.
setTimeout(() => fail('the browser test took over 8 minutes'), 480_000).unref();

function fail(message) {
  console.error(`console browser test FAILED: ${message}`);
  process.exit(1);
}
function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok: ${message}`);
}

/** The bot API, as a bot would call it (the tenant's key). */
async function bot(method, path, body) {
  const r = await fetch(o.url + path, {
    method,
    headers: { authorization: `Bearer ${o['tenant-key']}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json().catch(() => null);
  if (!r.ok) fail(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(json)}`);
  return json;
}
const create = (session) => bot('POST', `/v1/endpoints/${EP}/handovers`, {
  session_id: session, user_id: 'u-1', channel: 'webchat', accepted_message: 'An agent will be with you shortly.',
});
async function canaryRunning() {
  const r = await fetch(`${o.url}/admin/endpoints/${EP}/canary`, { headers: { authorization: `Bearer ${o['operator-key']}` } });
  return (await r.json()).canary !== null;
}

mkdirSync(o.screenshots, { recursive: true });
const browser = await chromium.launch({ executablePath: o.chromium, timeout: TIMEOUT });
try {
  await run(await browser.newContext({ viewport: { width: 1280, height: 860 } }));
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
console.log('console browser test: ok');

async function run(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A refused request (the tenant's 404 below) is logged by Chromium itself.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
  });
  const shot = async (name) => {
    await page.screenshot({ path: join(o.screenshots, `console-${name}.png`), fullPage: true });
    console.log(`screenshot: console-${name}.png`);
  };
  const text = (sel) => page.locator(sel).innerText();

  // ---------------------------------------------------------------- first paint, log in
  console.log('step: first paint, log in');
  // First paint from the navigation's start (the performance API): the
  // browser's first load, then a reload (files revalidated, not refetched).
  for (const [label, load] of [['', () => page.goto(`${o.url}/console`)], [' (reload)', () => page.reload()]]) {
    await load();
    await page.locator('#login').waitFor();
    await page.waitForFunction(() => performance.getEntriesByType('paint').length > 0);
    const paint = await page.evaluate(() => {
      const p = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
      const [nav] = performance.getEntriesByType('navigation');
      return { fp: p['first-paint'], fcp: p['first-contentful-paint'], dcl: nav.domContentLoadedEventEnd };
    });
    console.log(`first-paint-ms${label}: ${paint.fp?.toFixed(1)}`);
    console.log(`first-contentful-paint-ms${label}: ${paint.fcp?.toFixed(1)}`);
    console.log(`dom-content-loaded-ms${label}: ${paint.dcl.toFixed(1)}`);
  }
  check(await page.evaluate(() => document.activeElement.id) === 'key', 'the key field has the focus');
  await page.keyboard.type('not-a-key');
  await page.keyboard.press('Enter');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  check(true, 'a wrong key is refused with a message');
  await page.locator('#key').fill(o['operator-key']);
  await shot('login');
  await page.keyboard.press('Enter');
  await page.locator('#who', { hasText: 'Operator' }).waitFor();
  check(true, 'logged in with the operator key (Enter in the form)');

  // ---------------------------------------------------------------- endpoints
  console.log('step: endpoints');
  const row = page.locator('tbody tr', { has: page.locator(`a[href="#/endpoints/${EP}"]`) });
  await row.waitFor();
  await page.locator(`a[href="#/endpoints/${o['other-endpoint']}"]`).waitFor();
  check(true, 'the operator sees both tenants\' endpoints');
  const rowText = await row.innerText();
  check(/echo@1\.0\.0/.test(rowText) && /handover:provider/.test(rowText) && /[0-9a-f]{12}/.test(rowText),
    `the endpoint row shows version, world and hash: ${rowText.replace(/\s+/g, ' ')}`);
  await shot('endpoints');

  // Keyboard: Tab to the endpoint's link (a visible focus ring), Enter.
  let focused = null;
  for (let i = 0; i < 40 && focused !== `#/endpoints/${EP}`; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement.getAttribute('href'));
  }
  check(focused === `#/endpoints/${EP}`, 'Tab reaches the endpoint\'s link');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== 'none', `the focused link shows a focus ring (outline ${outline})`);
  await page.keyboard.press('Enter');
  await page.locator('h1', { hasText: `Endpoint ${EP}` }).waitFor();
  check(await page.evaluate(() => document.activeElement.tagName) === 'H1', 'Enter opened the endpoint; its heading has the focus');
  await page.locator('#canary-none').waitFor();
  const versions = await text('section[aria-labelledby="versions-h"]');
  check(/echo@1\.0\.0/.test(versions) && /[0-9a-f]{64}/.test(versions) && /handover:provider/.test(versions),
    'the endpoint shows its version, world and full sha256');

  // ---------------------------------------------------------------- canary of the panic fixture
  console.log('step: canary of the panic fixture');
  await page.setInputFiles('#canary-file', o.candidate);
  await page.fill('#canary-share_percent', '50');
  await page.fill('#canary-min_sample', '5');
  await page.fill('#canary-margin_percent', '5');
  await page.click('#canary-start');
  await page.locator('#canary-running').waitFor();
  check(true, 'the canary runs (started through the page\'s form)');
  const figures = await text('#canary-state table');
  check(/Stable echo@1\.0\.0/.test(figures) && /Candidate panic@/.test(figures), 'both versions side by side');
  await create('console-warmup-1');
  await create('console-warmup-2');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#canary-state tbody tr')];
    const started = rows.find((r) => r.textContent.startsWith('Handovers started'));
    return started && [...started.querySelectorAll('td')].reduce((a, td) => a + Number(td.textContent), 0) >= 2;
  });
  check(await page.locator('#canary-promote').isVisible() && await page.locator('#canary-abort').isVisible(),
    'promote and abort buttons are shown');
  await shot('canary');

  // Traffic until the host rolls the candidate back (each of its handovers fails).
  let n = 0;
  while (await canaryRunning()) {
    if (++n > 200) fail('no rollback after 200 handovers');
    await create(`console-${n}`);
  }
  await page.locator('#canary-result[data-result="rolled_back"]').waitFor();
  const result = await text('#canary-result');
  const reason = await text('#canary-reason');
  console.log(`rollback-reason: ${reason}`);
  check(/rolled back automatically/.test(result), `the page shows the rollback: ${result}`);
  check(reason.startsWith('error outcomes:'), 'the page shows the rollback reason');
  await page.locator('section[aria-labelledby="history-h"] td', { hasText: 'rolled back automatically' }).first().waitFor();
  check(true, 'the swap history records the rollback');
  await shot('rollback');

  // ---------------------------------------------------------------- a handover's live events
  console.log("step: a handover's live events");
  const h = await create('console-live');
  const id = h.handover_id;
  await bot('POST', `/v1/handovers/${id}/input`, { kind: 'text', text: 'hello from the browser test' });
  await page.click('#nav a[data-view="handovers"]');
  await page.locator(`a[href="#/handovers/${id}"]`).click();
  await page.locator('#events li[data-type="agent_message"]', { hasText: '1.0.0:hello from the browser test' }).waitFor();
  await page.locator('#stream-state', { hasText: 'Streaming' }).waitFor();
  await bot('POST', `/v1/handovers/${id}/input`, { kind: 'text', text: 'a second message, live' });
  await page.locator('#events li', { hasText: '1.0.0:a second message, live' }).waitFor();
  check(true, 'the event stream shows new events live');
  await bot('POST', `/v1/handovers/${id}/close`, {});
  await page.locator('#events li[data-type="ended"]').waitFor();
  await page.locator('#stream-state', { hasText: 'ended' }).waitFor();
  check(true, 'the stream ends with the handover');
  await page.locator('tbody tr', { has: page.locator(`a[href="#/handovers/${id}"]`) })
    .locator('[data-status="completed"]').waitFor();
  check(true, 'the list shows it completed');
  await shot('handovers');

  // ---------------------------------------------------------------- charts
  console.log('step: charts');
  await page.click('#nav a[data-view="charts"]');
  await page.locator('#chart-ended-legend li[data-series="error/error"]').waitFor();
  await page.locator('#chart-traps-legend li[data-series="panic"]').waitFor();
  await page.locator('#chart-latency polyline, #chart-latency circle').first().waitFor();
  check(true, 'the charts show the failed handovers, the panics and the latency');
  await shot('charts');

  // ---------------------------------------------------------------- a tenant sees its own only
  console.log('step: a tenant sees its own only');
  await page.click('#logout');
  await page.locator('#login').waitFor();
  await page.fill('#key', o['tenant-key']);
  await page.keyboard.press('Enter');
  await page.locator('#who', { hasText: 'Tenant' }).waitFor();
  await page.locator(`a[href="#/endpoints/${EP}"]`).waitFor();
  check(await page.locator(`a[href="#/endpoints/${o['other-endpoint']}"]`).count() === 0,
    'a tenant sees its own endpoint and not the other tenant\'s');
  await page.goto(`${o.url}/console#/endpoints/${o['other-endpoint']}`);
  await page.locator('#status', { hasText: `no endpoint \`${o['other-endpoint']}\`` }).waitFor();
  await page.locator('section[aria-labelledby="versions-h"] .error', { hasText: 'no endpoint' }).waitFor();
  check(true, 'another tenant\'s endpoint is not found for a tenant');
  await page.goto(`${o.url}/console#/charts`);
  await page.locator('#charts-refused').waitFor();
  check(true, 'the charts tell a tenant they need the operator key');

  check(errors.length === 0, `no script errors in the page${errors.length ? `: ${errors.join('; ')}` : ''}`);
}
