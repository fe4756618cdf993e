// camward UI — renders a settings form from a page layout (layouts.js) and the settings' JSON
// Schema: labels, descriptions, choices, ranges and units come from the schema; order, grouping,
// dependent fields and special widgets from the layout. Sends only what changed as an RFC 7396
// merge patch and shows the API's field errors beside their fields, in plain words.

import { api, el, normalizePath, sentence, plainMessage } from './api.js';
import { S } from './strings.js';
import { WIDGETS } from './widgets.js';

export function getPath(doc, path) {
  let v = doc;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(k in v)) return undefined;
    v = v[k];
  }
  return v;
}

export function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = value;
}

export const idFor = (path) => 'f-' + path.replace(/[^A-Za-z0-9_]/g, '-');

// Stored units → the units people read, both ways. `exact` keeps the stored value when the
// shown text was not edited, so a round trip never turns 65537 bytes into 65536.
export const UNITS = {
  bytes: { factor: 1024 * 1024, digits: 3 },
  ms: { factor: 1000, digits: 1 },
};

function shown(v, unit) {
  const u = UNITS[unit];
  if (!u || typeof v !== 'number') return v === null || v === undefined ? '' : String(v);
  return String(Math.round((v / u.factor) * 10 ** u.digits) / 10 ** u.digits);
}

function stored(text, unit, integer) {
  const t = String(text).trim();
  if (t === '' || Number.isNaN(Number(t))) return t; // sent as written: the API names the rule
  const u = UNITS[unit];
  const v = u ? Number(t) * u.factor : Number(t);
  return integer || u ? Math.round(v) : v;
}

function rangeText(node, unit) {
  const u = UNITS[unit];
  const f = (v) => (u ? shown(v, unit) : String(v));
  const lo = node.minimum;
  const hi = node.maximum;
  // The limits of a storage type (u32, u64…) say nothing to people; only chosen bounds are shown.
  const hasHi = hi !== undefined && hi < 4294967295;
  if (lo !== undefined && hasHi) return S.common.range(f(lo), f(hi));
  if (lo !== undefined && lo > 0 && unit !== 'bytes') return S.common.atLeast(f(lo));
  return '';
}

// A form's controls: `path` (with [i] inside rows), `key` (normalised, for error lookup),
// `read()`, `original`, the element to focus, the error line; `patch: false` for controls
// that are parts of another (rows of a list).
export class Controls {
  constructor() { this.list = []; }
  add(c) { this.list.push(c); return c; }
  find(path) {
    const exact = this.list.find((c) => c.path === path && c.err);
    if (exact) return exact;
    const key = normalizePath(path);
    let best = null;
    for (const c of this.list) {
      if (!c.err) continue;
      if ((c.key === key || key.startsWith(c.key + '.')) && (!best || c.key.length > best.key.length)) best = c;
      if (c.alias && c.alias === key) return c;
    }
    return best;
  }
}

// One labelled control for `path` (a leaf setting). Returns the element; registers the control.
export function control(ctx, path, opts = {}) {
  const { schema, doc, controls } = ctx;
  const node = opts.node || schema.at(normalizePath(path));
  if (!node) return null;
  const value = opts.value !== undefined ? opts.value : getPath(doc, path);
  const kind = opts.widget ? 'widget' : schema.kind(node);
  const id = idFor(path);
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const title = node.title || S.common.unknown;
  // A description that only repeats the title says nothing: leave it out.
  const desc = node.description ? sentence(node.description) : '';
  const hint = desc && desc.toLowerCase() !== `${title.toLowerCase()}.` ? desc : '';
  const err = el('p', { class: 'error', id: errId, hidden: true });
  const hintEl = hint && !opts.noHint ? el('p', { class: 'hint', id: hintId, text: hint }) : null;
  const described = [errId, hintEl ? hintId : null].filter(Boolean).join(' ');
  const key = normalizePath(path);
  const base = { path, key, original: value, err, patch: opts.patch !== false };
  if (kind === 'widget') {
    const w = WIDGETS[opts.widget];
    return w(ctx, path, node, value, { id, err, hintEl, described, base, title });
  }
  if (kind === 'group') {
    const fs = el('fieldset', { class: 'group' }, el('legend', { text: title }));
    for (const [k] of Object.entries(node.properties || {})) {
      const c = control(ctx, `${path}.${k}`, { patch: opts.patch });
      if (c) fs.append(c);
    }
    return fs;
  }
  let input;
  let read;
  let body;
  if (kind === 'onoff') {
    const labelId = `${id}-label`;
    const on = el('input', { type: 'radio', name: id, id: `${id}-on`, value: 'on', checked: value === true, 'aria-describedby': described });
    const off = el('input', { type: 'radio', name: id, id: `${id}-off`, value: 'off', checked: value !== true });
    input = on;
    read = () => on.checked;
    body = [
      el('span', { class: 'label', id: labelId, text: title }),
      el('span', { class: 'choices', role: 'radiogroup', 'aria-labelledby': labelId },
        el('span', { class: 'radio' }, on, el('label', { for: `${id}-on`, text: node['x-true'] || S.common.on })),
        el('span', { class: 'radio' }, off, el('label', { for: `${id}-off`, text: node['x-false'] || S.common.off }))),
    ];
    base.onChange = (fn) => { on.addEventListener('change', fn); off.addEventListener('change', fn); };
  } else if (kind === 'select') {
    const choices = schema.choices(node);
    const known = choices.some(([v]) => String(v) === String(value));
    const list = known ? choices : [[value, String(value)], ...choices];
    input = el('select', { id, name: path, 'aria-describedby': described },
      list.map(([v, t]) => el('option', { value: String(v), selected: String(v) === String(value), text: t })));
    read = () => (typeof value === 'number' ? Number(input.value) : input.value);
    body = [el('label', { for: id, text: title }), input];
    base.onChange = (fn) => input.addEventListener('change', fn);
  } else if (kind === 'number') {
    const unit = node['x-unit'];
    const integer = node.type === 'integer';
    const u = UNITS[unit];
    const text = shown(value, unit);
    input = el('input', {
      type: 'number', id, name: path, value: text, 'aria-describedby': described,
      step: u || !integer ? 'any' : '1', inputmode: integer && !u ? 'numeric' : 'decimal',
    });
    read = () => (input.value === text ? value : stored(input.value, unit, integer));
    const range = rangeText(node, unit);
    body = [el('label', { for: id, text: title }),
      el('span', { class: 'with-unit' }, input,
        S.units[unit] ? el('span', { class: 'unit', text: S.units[unit] }) : null,
        range ? el('span', { class: 'range', text: `(${range})` }) : null)];
  } else if (kind === 'secret') {
    input = el('input', {
      type: 'password', id, name: path, autocomplete: 'new-password', 'aria-describedby': described,
      placeholder: value && value.set ? S.common.secretSet : S.common.secretUnset,
    });
    read = () => (input.value === '' ? value : input.value);
    body = [el('label', { for: id, text: title }), input];
  } else if (kind === 'checks') {
    const choices = schema.choices(schema.resolve(node.items));
    const cur = Array.isArray(value) ? value : [];
    const boxes = choices.map(([v, t], i) => {
      const cid = `${id}-${i}`;
      const box = el('input', { type: 'checkbox', id: cid, value: String(v), checked: cur.some((x) => String(x) === String(v)) });
      return { v, box, row: el('span', { class: 'check' }, box, el('label', { for: cid, text: t })) };
    });
    input = boxes[0] ? boxes[0].box : el('span');
    // In the choices' order, so an untouched list reads back equal whatever order it was stored in.
    const ordered = (arr) => choices.map(([v]) => v).filter((v) => arr.some((x) => String(x) === String(v)));
    const unknown = cur.filter((x) => !choices.some(([v]) => String(v) === String(x)));
    read = () => {
      const picked = boxes.filter((b) => b.box.checked).map((b) => b.v);
      const same = JSON.stringify(picked) === JSON.stringify(ordered(cur));
      return same && !unknown.length ? value : [...picked, ...unknown];
    };
    const labelId = `${id}-label`;
    controls.add({ ...base, read, input });
    return el('div', { class: 'field field-checks', 'data-path': key },
      el('span', { class: 'label', id: labelId, text: title }),
      el('span', { class: 'choices', role: 'group', 'aria-labelledby': labelId, 'aria-describedby': described }, boxes.map((b) => b.row)),
      hintEl, err);
  } else if (kind === 'lines') {
    const lines = Array.isArray(value) ? value : [];
    input = el('textarea', { id, name: path, rows: Math.max(3, lines.length + 1), 'aria-describedby': described });
    input.value = lines.join('\n');
    const initial = input.value;
    read = () => (input.value === initial ? value : input.value.split('\n').map((s) => s.trim()).filter((s) => s !== ''));
    body = [el('label', { for: id, text: title }), input, el('p', { class: 'hint', text: S.common.linesHint })];
  } else if (kind === 'list') {
    return WIDGETS.rows(ctx, path, node, value, { id, err, hintEl, described, base, title });
  } else {
    input = el('input', { type: 'text', id, name: path, value: value ?? '', autocomplete: 'off', 'aria-describedby': described });
    read = () => (value === null && input.value === '' ? null : input.value);
    const multiline = node.description && /PEM/.test(node.description);
    if (multiline) {
      input = el('textarea', { id, name: path, rows: 4, class: 'mono', 'aria-describedby': described });
      input.value = value ?? '';
      read = () => (value === null && input.value === '' ? null : input.value);
    }
    body = [el('label', { for: id, text: title }), input];
  }
  controls.add({ ...base, read, input });
  return el('div', { class: `field field-${kind}`, 'data-path': key }, body, hintEl, err);
}

// The fields of `section` that a layout did not place, in schema order, so that a setting added
// to the configuration is editable before its layout entry lists it.
function unplaced(ctx, section, placed) {
  const out = [];
  const walk = (path) => {
    if (placed.has(path)) return;
    const node = ctx.schema.at(path);
    if (!node) return;
    if ([...placed].some((p) => p.startsWith(path + '.'))) {
      for (const k of Object.keys(node.properties || {})) walk(`${path}.${k}`);
      return;
    }
    out.push(path);
  };
  const node = ctx.schema.at(section);
  if (!node) return out;
  if (!node.properties) return placed.has(section) ? out : [section];
  for (const k of Object.keys(node.properties)) walk(`${section}.${k}`);
  return out;
}

function itemPath(item) { return typeof item === 'string' ? item : item.path; }

// Renders layout items (fields and groups) into `parent`; wires `when` dependencies.
function renderItems(ctx, items, parent, placed, deps) {
  for (const item of items) {
    if (item.group) {
      // A group without a heading of its own (S.groups or a schema title) is a plain sub-block.
      const legend = S.groups[item.group] || (item.title ? ctx.schema.title(item.title) : null);
      const fs = el('fieldset', { class: legend ? 'group' : 'group sub', 'data-group': item.group }, legend ? el('legend', { text: legend }) : null);
      renderItems(ctx, item.items, fs, placed, deps);
      if (item.when) deps.push({ target: fs, when: item.when });
      parent.append(fs);
      continue;
    }
    const path = itemPath(item);
    placed.add(path);
    const node = ctx.schema.at(path);
    if (!node) continue;
    const elm = control(ctx, path, { widget: item.widget, noHint: item.noHint });
    if (!elm) continue;
    const wrap = el('fieldset', { class: 'plain' }, elm);
    if (item.when) deps.push({ target: wrap, when: item.when });
    if (item.pair) placed.add(item.pair);
    (item.placed || []).forEach((p) => placed.add(p));
    parent.append(wrap);
  }
}

// A layout form: `{ section, heading?, note?, items: [path | {path, when, widget} | {group, items, when}] }`.
// `onSaved(doc, formId)` gets the new document after a successful save.
export function renderForm(ctx, spec, onSaved) {
  const controls = new Controls();
  const fctx = { ...ctx, controls };
  const formId = `form-${spec.id || spec.section}`;
  const headingId = `${formId}-h`;
  const heading = spec.heading ? S.groups[spec.heading] || spec.heading : ctx.schema.title(spec.section) || '';
  const errors = el('ul', { class: 'form-errors', role: 'alert', hidden: true });
  const status = el('p', { class: 'status', role: 'status', text: ctx.savedForm === formId ? S.common.saved : '' });
  const form = el('form', { class: 'config', id: formId, 'aria-labelledby': headingId, 'data-section': spec.section, novalidate: true },
    el('h2', { id: headingId, text: heading }),
    spec.note ? el('p', { class: 'hint', text: spec.note }) : null,
    errors);
  const placed = new Set();
  const deps = [];
  renderItems(fctx, spec.items || [], form, placed, deps);
  if (spec.rest !== false) {
    const rest = unplaced(fctx, spec.section, placed);
    renderItems(fctx, rest, form, placed, deps);
  }
  // Dependent fields: disabled while their switch is off (or not at the given value).
  for (const d of deps) {
    const w = typeof d.when === 'string' ? { path: d.when, is: true } : { is: true, ...d.when };
    const sw = controls.list.find((c) => c.path === w.path);
    const update = () => {
      const v = sw ? sw.read() : getPath(ctx.doc, w.path);
      d.target.disabled = Array.isArray(w.is) ? !w.is.includes(v) : v !== w.is;
    };
    if (sw && sw.onChange) sw.onChange(update);
    update();
  }
  const submit = el('button', { type: 'submit', class: 'primary', text: S.common.set });
  form.append(el('div', { class: 'actions' }, submit, status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    // The page's "saved" line speaks of this save only.
    const pageSaved = document.getElementById('saved');
    if (pageSaved) pageSaved.textContent = '';
    const patch = {};
    for (const c of controls.list) {
      if (!c.patch) continue;
      const v = c.read();
      if (JSON.stringify(v) !== JSON.stringify(c.original)) setPath(patch, c.path, v);
      for (const extra of c.extra || []) {
        const ev2 = extra.read();
        if (JSON.stringify(ev2) !== JSON.stringify(extra.original)) setPath(patch, extra.path, ev2);
      }
    }
    if (Object.keys(patch).length === 0) { showErrors(fctx, form, []); status.textContent = S.common.noChanges; return; }
    submit.disabled = true;
    const r = await api('PATCH', '/api/v1/config', patch);
    submit.disabled = false;
    if (r.ok) {
      showErrors(fctx, form, []);
      onSaved(r.data, formId, patch);
      return;
    }
    const list = (r.data && r.data.errors) || [];
    if (list.length) {
      showErrors(fctx, form, list);
      status.textContent = S.common.failed;
    } else {
      showErrors(fctx, form, []);
      status.textContent = plainMessage(r, S);
    }
  });
  return form;
}

// The API's rule as plain words: type and enum errors carry serde's wording, not a sentence.
export function errorText(e) {
  if (e.rule === 'type') return S.errors.type;
  if (e.rule === 'enum') return S.errors.enum;
  if (e.rule === 'unknown_field') return S.errors.unknown;
  if (e.rule === 'missing_field') return S.errors.missing;
  return sentence(e.message);
}

export function showErrors(ctx, form, errors) {
  const top = form.querySelector('.form-errors');
  top.replaceChildren();
  for (const c of ctx.controls.list) {
    if (!c.err) continue;
    c.err.hidden = true;
    c.err.textContent = '';
    if (c.input) c.input.removeAttribute('aria-invalid');
  }
  let first = null;
  for (const e of errors) {
    const c = ctx.controls.find(e.path);
    const text = errorText(e);
    if (c) {
      c.err.hidden = false;
      c.err.textContent = c.err.textContent ? `${c.err.textContent} ${text}` : text;
      if (c.input) c.input.setAttribute('aria-invalid', 'true');
      first = first || c.input;
    } else {
      const where = e.path ? ctx.schema.trail(normalizePath(e.path)) : '';
      top.append(el('li', { text: where ? `${where}: ${text}` : text }));
    }
  }
  top.hidden = top.children.length === 0;
  if (first) first.focus();
}
