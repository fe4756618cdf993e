// camward UI — first-access registration of the administrator (POST /api/v1/setup, no credentials:
// the one-time setup code the camera prints on its console instead). Shows the rules, marks each as
// met while the user types, and shows the camera's 422 rules (or a wrong code) by the field.

import { api, el, plainMessage, sentence } from './api.js';
import { S } from './strings.js';
import { RULES, SERVER_ONLY, checkPassword, checkUsername } from './policy.js';

const main = document.getElementById('main');
const R = S.register;

function field(id, label, type, autocomplete) {
  const input = el('input', { id, name: id, type, autocomplete, required: true, 'aria-describedby': `${id}-error rules` });
  return {
    input,
    error: el('p', { class: 'error', id: `${id}-error`, hidden: true }),
    row() { return el('div', { class: 'field' }, el('label', { for: id, text: label }), input, this.error); },
  };
}

function render() {
  document.title = `${S.app} — ${R.title}`;
  const code = field('setup_code', R.code, 'text', 'one-time-code');
  const user = field('username', R.username, 'text', 'username');
  const pw = field('password', R.password, 'password', 'new-password');
  const pw2 = field('retype', R.retype, 'password', 'new-password');
  const items = new Map(RULES.map((r) => [r, el('li', { 'data-rule': r })]));
  const rules = el('section', { id: 'rules', 'aria-labelledby': 'rules-h' },
    el('h2', { id: 'rules-h', text: R.rulesTitle }), el('ul', { class: 'rules' }, [...items.values()]));
  const status = el('p', { class: 'status', role: 'status' });
  const submit = el('button', { type: 'submit', class: 'primary', text: R.submit });
  const form = el('form', { id: 'register', novalidate: true, 'aria-labelledby': 'reg-h' },
    code.row(), el('p', { class: 'hint', id: 'setup_code-hint', text: R.codeHint }),
    user.row(), pw.row(), pw2.row(), el('div', { class: 'actions' }, submit, status));

  const broken = () => {
    const b = [...checkUsername(user.input.value), ...checkPassword(user.input.value, pw.input.value)];
    if (pw.input.value !== pw2.input.value) b.push('password.retype');
    return b;
  };
  const update = () => {
    const b = new Set(broken());
    for (const [rule, li] of items) {
      const state = SERVER_ONLY.has(rule) ? 'server' : b.has(rule) ? 'bad' : 'ok';
      li.className = `rule-${state}`;
      const mark = state === 'server' ? `(${R.checkedByCamera})` : state === 'ok' ? `✓ ${R.met}` : `✗ ${R.notMet}`;
      li.replaceChildren(el('span', { class: 'mark', text: mark }), ' ', S.rules[rule]);
    }
  };
  const show = (errors) => {
    for (const f of [code, user, pw, pw2]) { f.error.hidden = true; f.error.textContent = ''; f.input.removeAttribute('aria-invalid'); }
    let first = null;
    for (const e of errors) {
      const f = e.path === 'setup_code' ? code : e.path === 'username' ? user : e.path === 'retype' ? pw2 : pw;
      f.error.hidden = false;
      // The rule's own line when the page knows it; otherwise the camera's sentence.
      const text = S.rules[e.rule] || sentence(e.message);
      f.error.textContent = f.error.textContent ? `${f.error.textContent} ${text}` : text;
      f.input.setAttribute('aria-invalid', 'true');
      first = first || f.input;
    }
    if (first) first.focus();
  };
  for (const f of [user, pw, pw2]) f.input.addEventListener('input', update);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    const local = broken().map((rule) => ({
      path: rule.startsWith('username') ? 'username' : rule === 'password.retype' ? 'retype' : 'password',
      rule,
      message: rule === 'password.retype' ? R.mismatch : S.rules[rule],
    }));
    if (local.length) { show(local); return; }
    submit.disabled = true;
    const r = await api('POST', '/api/v1/setup',
      { username: user.input.value, password: pw.input.value, setup_code: code.input.value });
    submit.disabled = false;
    if (r.status === 201) {
      pw.input.value = ''; pw2.input.value = '';
      main.replaceChildren(el('h1', { text: R.title }),
        el('p', { id: 'registered', role: 'status', text: R.done }),
        el('p', {}, el('a', { href: '/live', id: 'to-live', text: R.next })));
      return;
    }
    if (r.status === 409) {
      main.replaceChildren(el('h1', { text: R.title }), el('p', { role: 'status', text: R.already }),
        el('p', {}, el('a', { href: '/live', text: R.toLive })));
      return;
    }
    if (r.status === 403 && r.data && r.data.error === 'setup_code') {
      show([{ path: 'setup_code', rule: 'setup_code', message: R.codeWrong }]);
      return;
    }
    const errors = (r.data && r.data.errors) || [];
    if (errors.length) show(errors);
    else status.textContent = plainMessage(r, S);
  });
  main.replaceChildren(el('h1', { id: 'reg-h', text: R.title }), el('p', { text: R.intro }), form, rules);
  update();
  code.input.focus();
}

render();
