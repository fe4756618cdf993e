// camward UI — Setup › Maintenance: settings backup (secrets stay encrypted, paper §3.2) and
// restore; default reset; restart; factory reset (recordings kept or wiped, as the user chooses).
// Each asks for confirmation, the camera audits it, and the page follows the camera to the
// address that answers afterwards (plain HTTP once HTTPS is off).

import { api, downloadFrom, el, plainMessage } from './api.js';
import { S } from './strings.js';
import { followConnection, toPlain } from './https.js';
import { errorText } from './form.js';

const M = S.maintenance;
const failure = (r) => plainMessage(r, S);
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

function panel(id, title, ...children) {
  return el('section', { class: 'panel', id, 'aria-labelledby': `${id}-h` }, el('h2', { id: `${id}-h`, text: title }), children);
}

function fieldError(id) {
  return el('p', { class: 'error', id: `${id}-error`, hidden: true });
}

function showError(p, text) {
  p.hidden = !text;
  p.textContent = text || '';
}

export async function renderBackup(body, c) {
  // Save.
  const pass = el('input', { type: 'password', id: 'backup-passphrase', autocomplete: 'new-password', 'aria-describedby': 'backup-passphrase-error' });
  const passErr = fieldError('backup-passphrase');
  const status = el('p', { class: 'status', role: 'status', id: 'backup-status' });
  const save = el('form', { id: 'backup-form', novalidate: true, 'aria-labelledby': 'backup-h' },
    el('p', { text: M.backupIntro }),
    el('div', { class: 'field' }, el('label', { for: 'backup-passphrase', text: M.passphrase }), pass, passErr),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: M.backupButton }), status));
  save.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(passErr, '');
    status.textContent = '';
    const r = await downloadFrom('POST', '/api/v1/config/backup', pass.value ? { passphrase: pass.value } : undefined, 'camward-settings.json');
    if (r.ok) { status.textContent = M.backedUp; pass.value = ''; return; }
    const e = r.data && r.data.errors && r.data.errors[0];
    if (e) showError(passErr, errorText(e));
    else status.textContent = failure(r);
  });

  // Restore.
  const file = el('input', { type: 'file', id: 'restore-file', accept: '.json,application/json', 'aria-describedby': 'restore-file-error' });
  const fileErr = fieldError('restore-file');
  const rpass = el('input', { type: 'password', id: 'restore-passphrase', autocomplete: 'off', 'aria-describedby': 'restore-passphrase-error' });
  const rpassErr = fieldError('restore-passphrase');
  const rstatus = el('p', { class: 'status', role: 'status', id: 'restore-status' });
  const restore = el('form', { id: 'restore-form', novalidate: true, 'aria-labelledby': 'restore-h' },
    el('p', { text: M.restoreIntro }),
    el('div', { class: 'field' }, el('label', { for: 'restore-file', text: M.file }), file, fileErr),
    el('div', { class: 'field' }, el('label', { for: 'restore-passphrase', text: M.restorePassphrase }), rpass, rpassErr),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: M.restoreButton }), rstatus));
  restore.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(fileErr, '');
    showError(rpassErr, '');
    rstatus.textContent = '';
    if (!file.files[0]) { showError(fileErr, M.noFile); return; }
    let backup;
    try { backup = JSON.parse(await file.files[0].text()); } catch (e) { showError(fileErr, M.badFile); return; }
    if (!window.confirm(M.restoreConfirm)) return;
    const before = await api('GET', '/api/v1/config');
    const r = await api('POST', '/api/v1/config/restore', rpass.value ? { backup, passphrase: rpass.value } : { backup });
    if (r.ok) {
      rstatus.textContent = M.restored;
      rpass.value = '';
      await followConnection(before.data, r.data, c.state, rstatus);
      return;
    }
    const errs = (r.data && r.data.errors) || [];
    const pe = errs.find((e) => e.path === 'passphrase');
    if (pe) showError(rpassErr, errorText(pe));
    else if (errs.length) showError(fileErr, errs.map(errorText).join(' '));
    else rstatus.textContent = failure(r);
  });

  body.append(panel('backup', M.backupTitle, save), panel('restore', M.restoreTitle, restore));
}

// Waits until the camera's process has started again (a later start time), at most a minute.
async function waitForRestart(status, started) {
  status.textContent = M.restarting;
  for (let i = 0; i < 120; i++) {
    await sleep(500);
    const r = await api('GET', '/api/v1/status');
    if (r.ok && r.data && r.data.started_at !== started) return true;
  }
  return false;
}

// Waits until the registration page answers (a camera without accounts), at most a minute.
async function waitForRegistration() {
  for (let i = 0; i < 120; i++) {
    await sleep(500);
    try {
      const r = await fetch('/setup/register', { redirect: 'manual', cache: 'no-store' });
      if (r.status === 200) return true;
    } catch (e) { /* restarting */ }
  }
  return false;
}

export async function renderReset(body, c) {
  const details = c.state.details;
  // Default reset: every setting back to its default; accounts, recordings and certificate stay.
  const rstatus = el('p', { class: 'status', role: 'status', id: 'reset-status' });
  const reset = el('form', { id: 'reset-form', novalidate: true, 'aria-labelledby': 'reset-h' },
    el('p', { text: M.resetIntro }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'danger', text: M.resetButton }), rstatus));
  reset.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!window.confirm(M.resetConfirm)) return;
    const cur = await api('GET', '/api/v1/config');
    if (!cur.ok) { rstatus.textContent = failure(cur); return; }
    // `null` restores a section's default (RFC 7396 as the camera applies it).
    const patch = Object.fromEntries(Object.keys(cur.data).filter((k) => k !== 'warnings' && k !== 'certificate').map((k) => [k, null]));
    const r = await api('PATCH', '/api/v1/config', patch);
    if (!r.ok) {
      rstatus.textContent = r.data && r.data.errors ? r.data.errors.map(errorText).join(' ') : failure(r);
      return;
    }
    rstatus.textContent = M.resetDone;
    toPlain(details, rstatus);
  });

  // Restart.
  const sstatus = el('p', { class: 'status', role: 'status', id: 'restart-status' });
  const restart = el('form', { id: 'restart-form', novalidate: true, 'aria-labelledby': 'restart-h' },
    el('p', { text: M.restartIntro }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: M.restartButton }), sstatus));
  restart.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!window.confirm(M.restartConfirm)) return;
    const before = await api('GET', '/api/v1/status');
    const r = await api('POST', '/api/v1/maintenance/restart');
    if (!r.ok) { sstatus.textContent = failure(r); return; }
    if (await waitForRestart(sstatus, before.ok ? before.data.started_at : null)) {
      sstatus.textContent = S.common.back;
      setTimeout(() => location.reload(), 500);
    } else {
      sstatus.textContent = S.common.network;
    }
  });

  // Factory reset: the user must choose what happens to the recordings.
  const keep = el('input', { type: 'radio', name: 'recordings', id: 'factory-keep', value: 'keep' });
  const wipe = el('input', { type: 'radio', name: 'recordings', id: 'factory-wipe', value: 'wipe' });
  const choiceErr = fieldError('factory-recordings');
  const fstatus = el('p', { class: 'status', role: 'status', id: 'factory-status' });
  const factory = el('form', { id: 'factory-form', novalidate: true, 'aria-labelledby': 'factory-h' },
    el('p', { text: M.factoryIntro }),
    el('fieldset', { class: 'checks', 'aria-describedby': 'factory-recordings-error' }, el('legend', { text: M.recordings }),
      el('span', { class: 'radio' }, keep, el('label', { for: 'factory-keep', text: M.keep })),
      el('span', { class: 'radio' }, wipe, el('label', { for: 'factory-wipe', text: M.wipe }))),
    choiceErr,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'danger', text: M.factoryButton }), fstatus));
  factory.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(choiceErr, '');
    if (!keep.checked && !wipe.checked) { showError(choiceErr, M.chooseRecordings); keep.focus(); return; }
    if (!window.confirm(M.factoryConfirm(wipe.checked))) return;
    const r = await api('POST', '/api/v1/maintenance/factory-reset', { recordings: wipe.checked ? 'wipe' : 'keep' });
    if (!r.ok) { fstatus.textContent = failure(r); return; }
    fstatus.textContent = M.restarting;
    if (location.protocol === 'https:') {
      // HTTPS closes for good; the plain address cannot be probed from here (mixed content).
      await sleep(6000);
      toPlain(details, fstatus);
      return;
    }
    if (await waitForRegistration()) {
      fstatus.textContent = M.backAfterReset;
      location.assign('/setup/register');
    } else {
      fstatus.textContent = S.common.network;
    }
  });

  body.append(panel('reset', M.resetTitle, reset), panel('restart', M.restartTitle, restart), panel('factory', M.factoryTitle, factory));
}

// Maintenance > Upgrade (paper §3.11): both slots and the anti-rollback floor from GET /api/v1/status,
// and an upload to POST /api/v1/firmware with a progress bar (XMLHttpRequest reports upload
// progress; fetch does not). After an install the page follows the restart until the new version
// answers, or the camera rolled back by itself.
export async function renderUpgrade(body) {
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
  body.append(facts, el('section', { class: 'panel' }, form));

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
