// An endpoint's canary section: the running canary with both versions'
// figures side by side and its promote/abort buttons, or how the last one
// ended (result, who, the rule's reason, final figures); and the form that
// starts one with a candidate component and a policy. Must never decide
// anything itself: promotion and rollback are the host's (or a click's).

import { enc, post } from './api.js';
import { h, micros, percent, replaceIfChanged, shortSha, table, timeEl, versionName } from './dom.js';

const RESULT = {
  promoted: 'promoted', rolled_back: 'rolled back', aborted: 'aborted', replaced: 'replaced by a swap',
};
const BY = { auto: 'automatically', operator: 'by the operator', tenant: 'by the tenant', swap: 'by a swap' };

const FIELDS = [
  ['share_percent', 'Share of new handovers (%)', '10', 'Above 0 and below 100.'],
  ['min_sample', 'Minimum sample', '20', 'Ended candidate handovers (or calls) before the rule judges.'],
  ['margin_percent', 'Margin (points)', '5', 'How much worse than stable the candidate may be.'],
  ['promote_after_handovers', 'Promote after handovers', '100', 'Ended candidate handovers with no regression.'],
  ['promote_after_seconds', 'Promote after seconds', '', 'Optional.'],
];

export function canarySection(id, signal, refresh) {
  const base = `/admin/endpoints/${enc(id)}/canary`;
  const state = h('div', { id: 'canary-state' });
  const msg = h('p', { class: 'error', role: 'alert' });
  const file = h('input', { id: 'canary-file', type: 'file', accept: '.wasm,application/wasm', required: true });
  const inputs = FIELDS.map(([name, label, value, hint]) => [name, h('input', {
    id: `canary-${name}`, name, type: 'number', step: 'any', min: '0', value, 'aria-describedby': `canary-${name}-hint`,
  }), label, hint]);
  const fieldset = h('fieldset', { class: 'plain' },
    h('legend', null, 'Start a canary'),
    h('label', { for: 'canary-file' }, 'Candidate component (.wasm)'), file,
    h('div', { class: 'fields' }, inputs.map(([name, input, label, hint]) => h('div', null,
      h('label', { for: input.id }, label), input, h('p', { class: 'hint', id: `canary-${name}-hint` }, hint)))),
    h('button', { type: 'submit', id: 'canary-start' }, 'Start canary'));
  const form = h('form', { id: 'canary-form', on: { submit: async (ev) => {
    ev.preventDefault();
    if (!file.files.length) return;
    const q = new URLSearchParams();
    for (const [name, input] of inputs) if (input.value.trim()) q.set(name, input.value.trim());
    await act('Uploading and validating the candidate…', async () => post(`${base}?${q}`, {
      body: await file.files[0].arrayBuffer(), contentType: 'application/wasm', signal,
    }), (v) => `Canary started: ${versionName(v.canary.candidate.version)} serves ${v.canary.policy.share_percent} % of new handovers.`);
  } } }, fieldset);

  async function act(doing, call, done) {
    msg.className = 'muted';
    msg.textContent = doing;
    delete msg.dataset.started;
    try {
      const v = await call();
      msg.className = 'ok';
      msg.textContent = done(v);
      if (v.canary) msg.dataset.started = 'yes';
    } catch (e) {
      msg.className = 'error';
      msg.textContent = `Refused (${e.status}): ${e.message}`;
    }
    refresh();
  }

  const buttons = {
    promote: () => act('Promoting…', () => post(`${base}/promote`, { signal }),
      (v) => `Promoted: ${versionName(v.current)} serves everything now.`),
    abort: () => act('Aborting…', () => post(`${base}/abort`, { signal }),
      (v) => `Aborted: ${versionName(v.current)} serves everything again.`),
  };

  const el = h('section', { class: 'card', 'aria-labelledby': 'canary-h' },
    h('h2', { id: 'canary-h' }, 'Canary'), state, msg, form);
  return {
    el,
    show(s) {
      // "Canary started" is stale once it ended (a click's answer is not).
      if (fieldset.disabled && !s.canary && msg.dataset.started) msg.textContent = '';
      fieldset.disabled = Boolean(s.canary);
      replaceIfChanged(state, s, () => (s.canary ? running(s.canary, buttons) : ended(s.last)));
    },
  };
}

function running(c, buttons) {
  const p = c.policy;
  return [
    h('div', { class: 'card banner run', id: 'canary-running' },
      h('p', null, h('strong', null, 'Canary running'), ' since ', timeEl(c.started_at_ms), ': ',
        h('strong', null, versionName(c.candidate.version)), ` serves ${p.share_percent} % of new handovers; `,
        `judged after ${p.min_sample} ended handovers with a ${p.margin_percent}-point margin, promoted after `,
        `${p.promote_after_handovers} handovers${p.promote_after_seconds ? ` or ${p.promote_after_seconds} s` : ''}.`),
      h('button', { type: 'button', id: 'canary-promote', data: { key: 'promote' }, on: { click: buttons.promote } }, 'Promote candidate'),
      h('button', { type: 'button', id: 'canary-abort', class: 'danger', data: { key: 'abort' }, on: { click: buttons.abort } }, 'Abort canary')),
    figures(c, 'Both versions since the canary started'),
  ];
}

function ended(last) {
  if (!last) return h('p', { class: 'muted', id: 'canary-none' }, 'No canary has run on this endpoint since the host started.');
  const tone = last.result === 'promoted' ? 'good' : last.result === 'rolled_back' ? '' : 'run';
  return [
    h('div', { class: `card banner ${tone}`, id: 'canary-last' },
      h('p', null, h('strong', { id: 'canary-result', data: { result: last.result } },
        `Last canary ${RESULT[last.result] || last.result} ${BY[last.by] || last.by}`), ' at ', timeEl(last.at_ms),
        `: ${versionName(last.figures.candidate.version)} against ${versionName(last.figures.stable.version)}.`),
      h('p', null, 'Reason: ', h('span', { id: 'canary-reason' }, last.reason || '—'))),
    figures(last.figures, 'Final figures'),
  ];
}

function figures(c, caption) {
  const s = c.stable;
  const k = c.candidate;
  const both = (f) => [f(s), f(k)];
  const outcomes = (x) => Object.entries(x.outcomes).map(([o, n]) => `${o}: ${n}`).join(', ') || '—';
  return table(caption, ['Figure', `Stable ${versionName(s.version)}`, `Candidate ${versionName(k.version)}`], [
    ['sha256', ...both((x) => shortSha(x.version.sha256))],
    ['Handovers started', ...both((x) => x.handovers_started)],
    ['Handovers ended', ...both((x) => x.handovers_ended)],
    ['Outcomes', ...both(outcomes)],
    ['Error outcomes', ...both((x) => percent(x.error_outcome_percent))],
    ['Adapter calls', ...both((x) => x.calls)],
    ['Adapter failures', ...both((x) => x.adapter_failures)],
    ['Traps', ...both((x) => x.traps)],
    ['Limit hits', ...both((x) => x.limit_hits)],
    ['Egress denied', ...both((x) => x.egress_denied)],
    ['Traps, limits, denials per call', ...both((x) => percent(x.trap_percent))],
    ['Call latency p50', ...both((x) => micros(x.call_p50_us))],
    ['Call latency p99', ...both((x) => micros(x.call_p99_us))],
  ]);
}
