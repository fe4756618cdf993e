// camward UI — Setup pages: configuration forms, user registration, log, status and default reset.
// Every page reads and writes through /api/v1 only; nothing here knows a secret's value.

import { api, el } from './api.js';
import { S, humanize } from './strings.js';
import { renderSection } from './form.js';
import { checkPassword, checkUsername } from './policy.js';

function failure(r) {
  if (r.status === 0) return S.common.network;
  if (r.status === 403) return S.common.forbidden;
  if (r.status === 401) return S.common.unauthorized;
  return S.common.error(r.status, (r.data && r.data.message) || '');
}

export async function renderConfigPage(main, h1, page, notice) {
  const r = await api('GET', '/api/v1/config');
  if (!r.ok) {
    main.replaceChildren(h1, el('p', { class: 'error', role: 'alert', text: failure(r) }));
    return;
  }
  const saved = el('p', { class: 'status', id: 'saved', role: 'status', text: notice || '' });
  const body = el('div', { class: 'forms' });
  main.replaceChildren(h1, saved, body);
  const onSaved = () => renderConfigPage(main, h1, page, S.common.saved);
  let any = false;
  for (const section of page.forms || []) {
    if (renderSection(body, r.data, section, onSaved)) any = true;
  }
  if (!any) {
    body.append(el('p', { class: 'na', id: 'not-available', text: S.common.notAvailable }));
    return;
  }
  for (const section of page.info || []) {
    const v = r.data[section];
    if (v === undefined || v === null || typeof v !== 'object') continue;
    body.append(el('section', { class: 'info', 'aria-labelledby': `info-${section}` },
      el('h2', { id: `info-${section}`, text: S.forms[section] || humanize(section) }),
      el('dl', { class: 'facts' }, Object.entries(v).map(([k, x]) => [
        el('dt', { text: humanize(k) }),
        el('dd', { class: typeof x === 'object' && x !== null ? 'mono' : null, text: typeof x === 'string' ? x : JSON.stringify(x) }),
      ]))));
  }
  if (page.kind === 'users') await renderUsers(body);
}

// The User auth. screen's "User name registration": list, register, delete.
async function renderUsers(parent) {
  const U = S.users;
  const section = el('section', { 'aria-labelledby': 'users-h', class: 'users' }, el('h2', { id: 'users-h', text: U.title }));
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
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: U.add })));
  const show = (errors) => {
    for (const f of [name, pw, pw2]) { f.error.hidden = true; f.error.textContent = ''; }
    for (const e of errors) {
      const f = e.path === 'username' ? name : e.path === 'retype' ? pw2 : pw;
      f.error.hidden = false;
      f.error.textContent = `${f.error.textContent} ${e.message} (${e.rule})`.trim();
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

export async function renderLog(main, h1) {
  const L = S.log;
  const table = el('table', { id: 'log' });
  const status = el('p', { class: 'status', role: 'status' });
  main.replaceChildren(h1, status, table);
  const r = await api('GET', '/api/v1/log?limit=200');
  if (!r.ok) { status.textContent = failure(r); return; }
  if (!r.data.entries.length) { status.textContent = L.empty; return; }
  table.append(
    el('thead', {}, el('tr', {}, [L.time, L.kind, L.actor, L.address, L.detail].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, r.data.entries.map((e) => el('tr', {},
      el('td', { text: new Date(e.time_ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') }),
      el('td', { text: e.kind }),
      el('td', { text: e.actor || '' }),
      el('td', { text: e.address || '' }),
      el('td', { class: 'mono', text: e.detail ? JSON.stringify(e.detail) : '' })))));
}

export async function renderStatus(main, h1, st) {
  const T = S.status;
  const rows = [
    [T.product, st.product], [T.version, st.version], [T.serial, st.serial || T.unknown],
    [T.uptime, T.seconds(st.uptime_secs)], [T.user, `${st.user || S.guest} (${S.levels[st.level] || st.level})`],
  ];
  // Both firmware slots (paper §3.11): what runs, and what the camera would fall back to.
  for (const x of (st.firmware && st.firmware.slots) || []) {
    if (!x.version) continue;
    const U = S.upgrade;
    rows.push([`${U.slots} (${x.slot})`, `${x.version} — ${U.states[x.state] || x.state}${x.running ? ` (${U.running})` : ''}`]);
  }
  const warnings = st.warnings || [];
  main.replaceChildren(h1,
    el('dl', { class: 'facts', id: 'status' }, rows.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
    el('h2', { text: T.warnings }),
    warnings.length
      ? el('ul', { id: 'warnings' }, warnings.map((w) => el('li', { text: `${w.path}: ${w.message} (${w.rule})` })))
      : el('p', { text: T.noWarnings }));
}

// Default reset: a merge patch with `null` for every section restores each to its default
// (RFC 7396 as the API applies it); accounts are not part of the configuration and stay.
export async function renderReset(main, h1) {
  const R = S.reset;
  const status = el('p', { class: 'status', role: 'status', id: 'reset-status' });
  const button = el('button', { type: 'submit', class: 'danger', text: R.button });
  const form = el('form', { id: 'reset-form', 'aria-labelledby': 'reset-h' },
    el('p', { id: 'reset-h', text: R.intro }), el('div', { class: 'actions' }, button, status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!window.confirm(R.confirm)) return;
    const cur = await api('GET', '/api/v1/config');
    if (!cur.ok) { status.textContent = failure(cur); return; }
    const patch = Object.fromEntries(Object.keys(cur.data).map((k) => [k, null]));
    const r = await api('PATCH', '/api/v1/config', patch);
    status.textContent = r.ok ? R.done : (r.data && r.data.errors ? r.data.errors.map((e) => `${e.path}: ${e.message}`).join('; ') : failure(r));
  });
  main.replaceChildren(h1, form);
}

// Maintenance > Upgrade (paper §3.11): both slots and the anti-rollback floor from GET /api/v1/status,
// and an upload to POST /api/v1/firmware with a progress bar (XMLHttpRequest reports upload
// progress; fetch does not). After an install the page follows the restart until the new version
// answers, or the camera rolled back by itself.
export async function renderUpgrade(main, h1) {
  const U = S.upgrade;
  const facts = el('div', { id: 'firmware' });
  const status = el('p', { class: 'status', role: 'status', id: 'firmware-status' });
  const progress = el('progress', { id: 'firmware-progress', max: '100', value: '0', hidden: true, 'aria-label': U.button });
  const file = el('input', { id: 'firmware-file', name: 'bundle', type: 'file', accept: '.cfw,application/octet-stream' });
  const form = el('form', { id: 'firmware-form', 'aria-labelledby': 'firmware-h' },
    el('h2', { id: 'firmware-h', text: U.button }),
    el('p', { text: U.intro }),
    el('div', { class: 'field' }, el('label', { for: 'firmware-file', text: U.file }), file),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: U.button })),
    progress, status);
  main.replaceChildren(h1, facts, form);

  const show = async () => {
    const r = await api('GET', '/api/v1/status');
    if (!r.ok || !r.data.firmware) { facts.replaceChildren(el('p', { class: 'error', text: failure(r) })); return null; }
    const fw = r.data.firmware;
    facts.replaceChildren(...[
      el('table', { id: 'slots' },
        el('caption', { text: U.slots }),
        el('thead', {}, el('tr', {}, [U.slot, U.version, U.securityVersion, U.state].map((t) => el('th', { scope: 'col', text: t })))),
        el('tbody', {}, fw.slots.map((x) => el('tr', { 'data-slot': x.slot },
          el('td', { text: x.slot }),
          el('td', { text: x.version || '' }),
          el('td', { text: x.security_version === null || x.security_version === undefined ? '' : String(x.security_version) }),
          el('td', { text: `${U.states[x.state] || x.state}${x.running ? ` (${U.running})` : ''}` }))))),
      el('p', { id: 'floor', text: U.floor(fw.floor) }),
      fw.last_failure ? el('p', { id: 'last-failure', class: 'warning', text: U.lastFailure(fw.last_failure) }) : null,
    ].filter(Boolean));
    return r.data;
  };
  const before = await show();

  // Follows the restart (bounded: the launcher's health timeout is 120 s by default).
  const follow = async (answer) => {
    status.textContent = U.installed(answer);
    const deadline = Date.now() + 180000;
    while (Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 1000));
      const r = await api('GET', '/api/v1/status');
      if (!r.ok || !r.data.firmware) { status.textContent = `${U.installed(answer)} ${U.waiting}`; continue; }
      const fw = r.data.firmware;
      const failed = fw.last_failure && (!before || !before.firmware.last_failure || before.firmware.last_failure.at_ms !== fw.last_failure.at_ms);
      if (failed) { await show(); status.textContent = U.rolledBack(fw.last_failure); return; }
      if (r.data.version === answer.version && fw.running === answer.slot) {
        await show();
        status.textContent = U.back(r.data.version);
        return;
      }
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = file.files && file.files[0];
    if (!f) { status.textContent = U.noFile; return; }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/firmware');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    progress.hidden = false;
    progress.value = 0;
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((e.loaded * 100) / e.total);
      progress.value = pct;
      status.textContent = pct < 100 ? U.uploading(pct) : U.verifying;
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status === 200 && data) { progress.value = 100; follow(data); return; }
      progress.hidden = true;
      const rule = data && data.errors && data.errors[0] ? data.errors[0].rule : '';
      status.textContent = data && data.message ? U.refused(data.message, rule) : failure({ status: xhr.status, data });
    });
    xhr.addEventListener('error', () => { progress.hidden = true; status.textContent = S.common.network; });
    xhr.send(f);
  });
}
