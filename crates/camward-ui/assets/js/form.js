// camward UI — renders one configuration section as a form from the field table in strings.js,
// sends only what changed as a JSON merge patch, and puts the API's field errors beside each field.

import { api, el, normalizePath } from './api.js';
import { S, FIELDS, humanize } from './strings.js';

export function getPath(doc, path) {
  let v = doc;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(k in v)) return undefined;
    v = v[k];
  }
  return v;
}

function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = value;
}

// The API sorts keys alphabetically; show the table's order (the paper's screens) first.
const ORDER = Object.keys(FIELDS);
function entries(path, obj) {
  const rank = (k) => { const i = ORDER.indexOf(`${path}.${k}`); return i < 0 ? ORDER.length : i; };
  return Object.entries(obj).sort(([a], [b]) => rank(a) - rank(b));
}

const idFor = (path) => 'f-' + path.replace(/[^A-Za-z0-9_]/g, '-');
const isSecret = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
  && Object.keys(v).length === 1 && typeof v.set === 'boolean';

function typeFor(path, value) {
  const d = FIELDS[path] || {};
  if (d.type) return d.type;
  if (isSecret(value)) return 'secret';
  if (typeof value === 'boolean') return 'onoff';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string' || value === null) return 'text';
  if (Array.isArray(value)) {
    return value.every((x) => typeof x === 'string' || typeof x === 'number') ? 'list' : 'json';
  }
  if (typeof value === 'object') return 'group';
  return 'json';
}

// One control: builds its element and knows how to read back a value comparable with the original.
function control(path, value, doc, controls) {
  const d = FIELDS[path] || {};
  if (d.hidden) return null;
  let type = typeFor(path, value);
  const label = d.label || humanize(path.split('.').pop());
  if (type === 'group') {
    const fs = el('fieldset', { class: 'group' }, el('legend', { text: label }));
    for (const [k, v] of entries(path, value)) {
      const c = control(`${path}.${k}`, v, doc, controls);
      if (c) fs.append(c);
    }
    return fs;
  }
  // A select whose current value is not one of its options would show a wrong value: fall back to
  // a text field, which the API validates.
  if (type === 'select' && !(d.options || []).some(([o]) => String(o) === String(value))) type = 'text';
  const id = idFor(path);
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  let input;
  let read;
  let hint = d.hint;
  const described = [errId];
  if (type === 'onoff') {
    input = el('input', { type: 'checkbox', id, name: path, checked: value === true });
    read = () => input.checked;
  } else if (type === 'number') {
    input = el('input', { type: 'number', id, name: path, value: String(value ?? ''), min: d.min, max: d.max, step: d.step || 1 });
    // An unparsable entry is sent as written so that the API names the rule it breaks.
    read = () => (input.value.trim() === '' || Number.isNaN(Number(input.value)) ? input.value : Number(input.value));
  } else if (type === 'select') {
    input = el('select', { id, name: path },
      d.options.map(([o, l]) => el('option', { value: String(o), selected: String(o) === String(value), text: l })));
    read = () => (typeof value === 'number' ? Number(input.value) : input.value);
  } else if (type === 'size') {
    const pairPath = path.replace(/[^.]+$/, d.pair);
    const other = getPath(doc, pairPath);
    const cur = `${value}x${other}`;
    const opts = d.options.some(([o]) => o === cur) ? d.options : [[cur, cur], ...d.options];
    input = el('select', { id, name: path }, opts.map(([o, l]) => el('option', { value: o, selected: o === cur, text: l })));
    // Width and height are separate settings but one choice: the height rides along as an alias.
    controls.push({ path: pairPath, alias: path, original: other, read: () => Number(input.value.split('x')[1]) });
    read = () => Number(input.value.split('x')[0]);
  } else if (type === 'list') {
    input = el('textarea', { id, name: path, rows: Math.max(3, (value || []).length + 1) });
    input.value = (value || []).join('\n');
    hint = hint || S.common.listHint;
    read = () => input.value.split('\n').map((s) => s.trim()).filter((s) => s !== '');
  } else if (type === 'secret') {
    // Secrets are never sent to the page: the field starts empty and empty means "keep".
    input = el('input', {
      type: 'password', id, name: path, autocomplete: 'new-password',
      placeholder: value && value.set ? S.common.secretSet : S.common.secretUnset,
    });
    read = () => (input.value === '' ? value : input.value);
  } else if (type === 'json') {
    input = el('textarea', { id, name: path, rows: 4, class: 'mono' });
    input.value = JSON.stringify(value, null, 1);
    hint = hint || S.common.jsonHint;
    read = () => {
      try { return JSON.parse(input.value); } catch (e) { throw { path, message: S.common.jsonInvalid }; }
    };
  } else {
    input = el('input', { type: 'text', id, name: path, value: value ?? '', autocomplete: 'off' });
    read = () => (value === null && input.value === '' ? null : input.value);
  }
  if (hint) described.push(hintId);
  input.setAttribute('aria-describedby', described.join(' '));
  controls.push({ path, original: value, read, input, errId });
  const labelEl = el('label', { for: id, text: label });
  return el('div', { class: `field field-${type}` },
    type === 'onoff' ? [input, labelEl] : [labelEl, input],
    hint ? el('p', { class: 'hint', id: hintId, text: hint }) : null,
    el('p', { class: 'error', id: errId, hidden: true }));
}

function showErrors(form, controls, errors) {
  const top = form.querySelector('.form-errors');
  top.replaceChildren();
  for (const c of controls) {
    if (!c.errId) continue;
    const p = form.querySelector(`#${CSS.escape(c.errId)}`);
    p.hidden = true;
    p.textContent = '';
    c.input.removeAttribute('aria-invalid');
  }
  let first = null;
  for (const e of errors) {
    const path = normalizePath(e.path);
    // The control of the path itself, else the nearest enclosing one (`x.allow` for `x.allow[2]`).
    let c = null;
    for (const k of controls) {
      const kp = k.alias || k.path;
      const own = k.path;
      if ((own === path || path.startsWith(own + '.')) && (!c || own.length > c.len)) c = { k, len: own.length, kp };
    }
    const target = c && controls.find((k) => k.path === c.kp && k.errId);
    const text = `${e.message} (${e.rule})`;
    if (target) {
      const p = form.querySelector(`#${CSS.escape(target.errId)}`);
      p.hidden = false;
      p.textContent = p.textContent ? `${p.textContent} ${text}` : text;
      target.input.setAttribute('aria-invalid', 'true');
      first = first || target.input;
    } else {
      top.append(el('li', { text: e.path ? `${e.path}: ${text}` : text }));
    }
  }
  top.hidden = top.children.length === 0;
  if (first) first.focus();
}

// Renders the form for `section` (a path in the document) into `parent`; `onSaved(doc)` gets the new
// document after a successful PATCH. Returns false when the section does not exist in this version.
export function renderSection(parent, doc, section, onSaved) {
  const value = getPath(doc, section);
  if (value === undefined) return false;
  const controls = [];
  const title = S.forms[section] || humanize(section);
  const headingId = `h-${idFor(section)}`;
  const status = el('p', { class: 'status', role: 'status' });
  const errors = el('ul', { class: 'form-errors', role: 'alert', hidden: true });
  const form = el('form', { class: 'config', 'aria-labelledby': headingId, 'data-section': section, novalidate: true },
    el('h2', { id: headingId, text: title }), errors);
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !isSecret(value)) {
    for (const [k, v] of entries(section, value)) {
      const c = control(`${section}.${k}`, v, doc, controls);
      if (c) form.append(c);
    }
  } else {
    form.append(control(section, value, doc, controls));
  }
  const submit = el('button', { type: 'submit', class: 'primary', text: S.common.set });
  form.append(el('div', { class: 'actions' }, submit, status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    const patch = {};
    const local = [];
    for (const c of controls) {
      let v;
      try { v = c.read(); } catch (e) { local.push({ path: e.path, rule: 'json.syntax', message: e.message }); continue; }
      if (JSON.stringify(v) !== JSON.stringify(c.original)) setPath(patch, c.path, v);
    }
    if (local.length) { showErrors(form, controls, local); return; }
    if (Object.keys(patch).length === 0) { showErrors(form, controls, []); status.textContent = S.common.noChanges; return; }
    submit.disabled = true;
    const r = await api('PATCH', '/api/v1/config', patch);
    submit.disabled = false;
    if (r.ok) {
      showErrors(form, controls, []);
      onSaved(r.data, section);
      return;
    }
    const list = (r.data && r.data.errors) || [];
    if (list.length) {
      showErrors(form, controls, list);
      status.textContent = S.common.failed;
    } else {
      showErrors(form, controls, []);
      status.textContent = r.status === 0 ? S.common.network
        : S.common.error(r.status, (r.data && r.data.message) || '');
    }
  });
  parent.append(form);
  return true;
}
