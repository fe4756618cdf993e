// camward UI — the Log page: the audit log a page at a time, filtered by event, user and time,
// every entry in plain words (a settings change names the settings by their titles), and the
// same selection as a CSV or JSON file for an auditor's tools.

import { api, el, localTime, plainMessage, sentence } from './api.js';
import { S, words } from './strings.js';
import { loadSchema } from './schema.js';

const L = S.log;
const PAGE = 50;

// Kind prefixes of each filter choice (the API matches `login` to `login.ok`, `login.fail`, …).
const KINDS = {
  '': [],
  login: ['login'],
  account: ['setup', 'account'],
  config: ['config', 'smtp.ssl_off', 'ftp_client.ssl_off'],
  certificate: ['certificate'],
  alarm: ['alarm', 'record'],
  notify: ['mail', 'ftp', 'ftp_server'],
  system: ['daemon', 'service', 'maintenance'],
};

function eventName(kind) {
  return L.events[kind] || words(kind);
}

// An entry's details in words; nothing here prints a key or a code as such.
function detailText(e, schema) {
  const d = e.detail || {};
  if (e.kind.startsWith('login.') || e.kind === 'ftp_server.login') {
    const parts = [L.protocol[d.protocol] || (d.protocol || '').toUpperCase(), L.scheme[d.scheme] || '', L.reasons[d.reason] || ''];
    if (d.seconds) parts.push(L.lockedFor(d.seconds));
    return parts.filter(Boolean).join(', ');
  }
  if (e.kind === 'config.change' && d.changed && typeof d.changed === 'object') {
    const names = Object.keys(d.changed).map((p) => (schema && schema.trail(p.replace(/\[\d+\]/g, ''))) || words(p));
    return L.changed([...new Set(names)].join('; '));
  }
  if (e.kind.startsWith('account.') || e.kind === 'setup') {
    return d.level ? L.levelTo(S.levels[d.level] || d.level) : '';
  }
  if (e.kind === 'maintenance.factory_reset' && d.recordings) return L.recordings[d.recordings] || '';
  if (d.subject) return d.subject;
  if (d.message) return sentence(d.message);
  if (d.service && d.error) return `${d.service}: ${sentence(d.error)}`;
  return '';
}

function iso(local) {
  if (!local) return '';
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

export async function renderLog(body) {
  const schema = await loadSchema();
  const kind = el('select', { id: 'log-kind', name: 'kind' },
    Object.entries(L.kinds).map(([k, t]) => el('option', { value: k, text: t })));
  const actor = el('input', { type: 'text', id: 'log-actor', name: 'actor', autocomplete: 'off' });
  const from = el('input', { type: 'datetime-local', id: 'log-from', name: 'from' });
  const to = el('input', { type: 'datetime-local', id: 'log-to', name: 'to' });
  const csv = el('a', { class: 'button', id: 'log-csv', download: 'log.csv', text: L.csv });
  const json = el('a', { class: 'button', id: 'log-json', download: 'log.json', text: L.json });
  const filter = el('form', { id: 'log-filter', class: 'panel filter', novalidate: true, 'aria-labelledby': 'log-filter-h' },
    el('h2', { id: 'log-filter-h', text: L.filter }),
    el('div', { class: 'filter-row' },
      el('div', { class: 'field' }, el('label', { for: 'log-kind', text: L.kind }), kind),
      el('div', { class: 'field' }, el('label', { for: 'log-actor', text: L.actor }), actor),
      el('div', { class: 'field' }, el('label', { for: 'log-from', text: L.from }), from),
      el('div', { class: 'field' }, el('label', { for: 'log-to', text: L.to }), to)),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: L.apply }), csv, json));
  const status = el('p', { class: 'status', role: 'status', id: 'log-status' });
  const table = el('table', { id: 'log' });
  const newer = el('button', { type: 'button', id: 'log-newer', text: L.newer });
  const older = el('button', { type: 'button', id: 'log-older', text: L.older });
  body.append(filter, status, el('div', { class: 'table-wrap' }, table), el('div', { class: 'actions pager' }, newer, older));

  const query = () => {
    const q = new URLSearchParams();
    const kinds = KINDS[kind.value] || [];
    if (kinds.length) q.set('kind', kinds.join(','));
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (iso(from.value)) q.set('from', iso(from.value));
    if (iso(to.value)) q.set('to', iso(to.value));
    return q;
  };
  // `pages` holds the `before` of each page shown so far: Older pushes, Newer pops.
  let pages = [null];
  const load = async () => {
    const q = query();
    for (const [a, fmt] of [[csv, 'csv'], [json, 'json']]) {
      const d = new URLSearchParams(q);
      d.set('format', fmt);
      a.href = `/api/v1/log/download?${d}`;
    }
    q.set('limit', String(PAGE));
    const before = pages[pages.length - 1];
    if (before) q.set('before', String(before));
    const r = await api('GET', `/api/v1/log?${q}`);
    if (!r.ok) { status.textContent = plainMessage(r, S); return; }
    newer.disabled = pages.length <= 1;
    older.disabled = !r.data.next_before;
    older.dataset.next = r.data.next_before || '';
    status.textContent = r.data.entries.length ? '' : L.empty;
    table.replaceChildren(
      el('thead', {}, el('tr', {}, [L.time, L.kind, L.actor, L.address, L.detail].map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, r.data.entries.map((e) => el('tr', { 'data-kind': e.kind },
        el('td', { class: 'nowrap', text: localTime(e.time_ms) }),
        el('td', { text: eventName(e.kind) }),
        el('td', { text: e.actor || '' }),
        el('td', { text: e.address || '' }),
        el('td', { text: detailText(e, schema) })))));
  };
  filter.addEventListener('submit', (ev) => { ev.preventDefault(); pages = [null]; load(); });
  older.addEventListener('click', () => { if (older.dataset.next) { pages.push(Number(older.dataset.next)); load(); } });
  newer.addEventListener('click', () => { if (pages.length > 1) { pages.pop(); load(); } });
  await load();
}
