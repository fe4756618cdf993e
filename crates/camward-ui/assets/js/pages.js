// camward UI — Setup pages: the layout's forms (form.js) plus what a page kind adds (PAGE_KINDS):
// the user list, the certificate, the network services, and the pages that are not forms (log,
// status, maintenance). Every page reads and writes through /api/v1 only; nothing here knows a
// secret's value.

import { api, el, plainMessage, humanBytes, localTime } from './api.js';
import { S } from './strings.js';
import { renderForm } from './form.js';
import { loadSchema } from './schema.js';
import { checkPassword, checkUsername } from './policy.js';
import { renderLog } from './log.js';
import { renderStatus } from './status.js';
import { renderBackup, renderReset, renderUpgrade } from './maintenance.js';
import { renderHttps, followConnection, arrivalNote } from './https.js';

const failure = (r) => plainMessage(r, S);

// A page: its forms from the layout, then its kind's additions. `savedForm` names the form whose
// save led here, so its "Settings saved." shows beside its Set button.
export async function renderPage(main, h1, page, opts = {}) {
  const schema = await loadSchema();
  const forms = [];
  let doc = null;
  if (page.forms && page.forms.length) {
    const r = await api('GET', '/api/v1/config');
    if (!r.ok || !schema) {
      main.replaceChildren(h1, el('p', { class: 'error', role: 'alert', text: failure(r) }));
      return;
    }
    doc = r.data;
  }
  const saved = el('p', { class: 'status', id: 'saved', role: 'status', text: opts.notice || '' });
  const body = el('div', { class: 'forms' });
  main.replaceChildren(h1, saved, body);
  const arrival = arrivalNote();
  if (arrival) saved.textContent = arrival;
  const kind = PAGE_KINDS[page.kind];
  // What a kind needs before the forms (the HTTPS page's ports, to follow a change of Connection).
  const state = kind && kind.before ? await kind.before() : {};
  let current = doc;
  // After a save only the saved form is drawn again (from the camera's answer): what the user
  // typed into the page's other forms stays.
  const draw = (spec, savedForm) => {
    const form = renderForm({ schema, doc: current, savedForm }, spec, async (newDoc, formId) => {
      const before = current;
      current = newDoc;
      if (await followConnection(before, newDoc, state, saved)) return;
      saved.textContent = S.common.saved;
      form.replaceWith(draw(spec, formId));
    });
    return form;
  };
  for (const spec of page.forms || []) {
    if (!schema.has(spec.section.split('.')[0])) continue;
    const form = draw(spec, opts.savedForm);
    forms.push(form);
    body.append(form);
  }
  if (kind) await kind.render(body, { schema, doc, state, main, h1, page, saved });
}

// The User auth. screen's "User name registration": list, register, delete.
async function renderUsers(parent) {
  const U = S.users;
  const section = el('section', { 'aria-labelledby': 'users-h', class: 'panel users' }, el('h2', { id: 'users-h', text: U.title }));
  parent.append(section);
  const status = el('p', { class: 'status', role: 'status', id: 'users-status' });
  const table = el('table', { id: 'users' });
  const refresh = async () => {
    const r = await api('GET', '/api/v1/users');
    if (!r.ok) { status.textContent = failure(r); return; }
    table.replaceChildren(
      el('caption', { text: U.list }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: U.name }), el('th', { scope: 'col', text: U.level }), el('th', { scope: 'col', text: '' }))),
      el('tbody', {}, r.data.users.map((u) => {
        const del = el('button', { type: 'button', text: U.remove(u.username) });
        del.addEventListener('click', async () => {
          if (!window.confirm(U.confirmRemove(u.username))) return;
          const d = await api('DELETE', `/api/v1/users/${encodeURIComponent(u.username)}`);
          status.textContent = d.ok ? U.removed(u.username) : failure(d);
          refresh();
        });
        return el('tr', {}, el('td', { text: u.username }), el('td', { text: S.levels[u.level] || u.level }), el('td', {}, del));
      })));
  };
  const mk = (id, label, type, auto) => {
    const input = el('input', { id, name: id, type, autocomplete: auto, 'aria-describedby': `${id}-error` });
    const error = el('p', { class: 'error', id: `${id}-error`, hidden: true });
    return { input, error, row: el('div', { class: 'field' }, el('label', { for: id, text: label }), input, error) };
  };
  const name = mk('new-username', U.username, 'text', 'off');
  const pw = mk('new-password', U.password, 'password', 'new-password');
  const pw2 = mk('new-retype', U.retype, 'password', 'new-password');
  const level = el('select', { id: 'new-level', name: 'level' },
    ['live', 'control', 'admin'].map((l) => el('option', { value: l, text: S.levels[l] })));
  const form = el('form', { id: 'user-form', novalidate: true, 'aria-label': U.newUser },
    el('h3', { text: U.newUser }), name.row, pw.row, pw2.row,
    el('div', { class: 'field' }, el('label', { for: 'new-level', text: U.level }), level),
    el('p', { class: 'hint', text: U.note }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: U.add })));
  const show = (errors) => {
    for (const f of [name, pw, pw2]) { f.error.hidden = true; f.error.textContent = ''; f.input.removeAttribute('aria-invalid'); }
    for (const e of errors) {
      const f = e.path === 'username' ? name : e.path === 'retype' ? pw2 : pw;
      f.error.hidden = false;
      f.error.textContent = `${f.error.textContent} ${S.rules[e.rule] || e.message}`.trim();
      f.input.setAttribute('aria-invalid', 'true');
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const local = [...checkUsername(name.input.value), ...checkPassword(name.input.value, pw.input.value)]
      .map((rule) => ({ path: rule.split('.')[0], rule, message: S.rules[rule] }));
    if (pw.input.value !== pw2.input.value) local.push({ path: 'retype', rule: 'password.retype', message: S.register.mismatch });
    if (local.length) { show(local); return; }
    const r = await api('POST', '/api/v1/users', { username: name.input.value, password: pw.input.value, level: level.value });
    if (r.ok) {
      show([]);
      status.textContent = U.added(name.input.value);
      form.reset();
      refresh();
    } else if (r.data && r.data.errors) {
      show(r.data.errors);
    } else {
      status.textContent = failure(r);
    }
  });
  section.append(status, table, form);
  await refresh();
}

// The Basic page: the camera's clock beside this computer's (recordings, logs and signatures are
// stamped with it).
async function renderBasic(parent) {
  const r = await api('GET', '/api/v1/status');
  if (!r.ok) return;
  const cam = (r.data.started_at + r.data.uptime_secs) * 1000;
  const diff = Math.round((cam - Date.now()) / 1000);
  parent.append(el('section', { class: 'panel', 'aria-labelledby': 'clock-h' },
    el('h2', { id: 'clock-h', text: S.basic.clock }),
    el('p', { id: 'clock', text: S.basic.clockValue(localTime(cam), diff) }),
    el('p', { class: 'hint', text: S.basic.clockHint })));
}

// The SD memory card page: where the signing certificate is managed.
function renderSd(parent) {
  parent.append(el('section', { class: 'panel', 'aria-labelledby': 'sd-cert-h' },
    el('h2', { id: 'sd-cert-h', text: S.pages.https }),
    el('p', { text: S.sd.certNote }),
    el('p', {}, el('a', { href: '/setup/https', text: S.sd.toHttps }))));
}

// The Network page: the services the camera offers, with their ports (paper §3.5).
async function renderNetwork(parent) {
  const T = S.status;
  const section = el('section', { class: 'panel', 'aria-labelledby': 'net-h' }, el('h2', { id: 'net-h', text: S.network.addresses }));
  parent.prepend(section);
  const r = await api('GET', '/api/v1/status/details');
  if (!r.ok) { section.append(el('p', { class: 'error', text: failure(r) })); return; }
  section.append(el('p', { text: S.network.intro }), listenerTable(r.data.listeners));
}

export function listenerTable(listeners) {
  const T = S.status;
  return el('table', { id: 'listeners' },
    el('thead', {}, el('tr', {}, [T.service, T.address, T.port].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, listeners.map((l) => {
      const host = l.address.replace(/:\d+$/, '');
      const every = host === '[::]' || host === '0.0.0.0';
      return el('tr', {}, el('td', { text: l.service }), el('td', { text: every ? T.everyAddress : host }), el('td', { text: String(l.port) }));
    })));
}

export const PAGE_KINDS = {
  basic: { render: (body) => renderBasic(body) },
  users: { render: (body) => renderUsers(body) },
  sd: { render: (body) => renderSd(body) },
  network: { render: (body) => renderNetwork(body) },
  https: {
    before: async () => { const r = await api('GET', '/api/v1/status/details'); return r.ok ? { details: r.data } : {}; },
    render: (body, c) => renderHttps(body, c),
  },
  log: { render: (body) => renderLog(body) },
  status: { render: (body, c) => renderStatus(body, c) },
  backup: {
    before: async () => { const r = await api('GET', '/api/v1/status/details'); return r.ok ? { details: r.data } : {}; },
    render: (body, c) => renderBackup(body, c),
  },
  reset: {
    before: async () => { const r = await api('GET', '/api/v1/status/details'); return r.ok ? { details: r.data } : {}; },
    render: (body, c) => renderReset(body, c),
  },
  upgrade: { render: (body) => renderUpgrade(body) },
};

export { humanBytes };
