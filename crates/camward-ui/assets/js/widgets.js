// camward UI — controls a setting's JSON type cannot pick by itself, named by the page layouts:
// `size` (width and height chosen together, as the paper's "Image capture size"), `source` (the
// video source: kind plus location), and `rows` (a list of objects, such as the SMTP screen's
// destinations; also the fallback for any list of objects a new section brings).

import { el } from './api.js';
import { S } from './strings.js';
import { control, getPath } from './form.js';
import { vmdAreas } from './vmd.js';

function field(kind, body, hintEl, err, key) {
  return el('div', { class: `field field-${kind}`, 'data-path': key }, body, hintEl, err);
}

// Width × height from the two settings' enums (1920x1080, …), one choice for both.
function size(ctx, path, node, value, w) {
  const { schema, doc, controls } = ctx;
  const pair = path.replace(/[^.]+$/, node['x-pair'] || 'height');
  const hNode = schema.at(pair);
  const hValue = getPath(doc, pair);
  const widths = node.enum || [];
  const heights = (hNode && hNode.enum) || [];
  const opts = widths.map((wd, i) => `${wd}x${heights[i]}`);
  const cur = `${value}x${hValue}`;
  if (!opts.includes(cur)) opts.unshift(cur);
  const input = el('select', { id: w.id, name: path, 'aria-describedby': w.described },
    opts.map((o) => el('option', { value: o, selected: o === cur, text: o })));
  controls.add({
    ...w.base,
    input,
    alias: pair,
    read: () => Number(input.value.split('x')[0]),
    extra: [{ path: pair, original: hValue, read: () => Number(input.value.split('x')[1]) }],
  });
  // The choices name the sizes: the width's description would only repeat them.
  return field('select', [el('label', { for: w.id, text: w.title }), input], null, w.err, w.base.key);
}

// The video source: a string (`testsrc`, `file:PATH`, `v4l2:/dev/videoN`, `rtsp://…`) or, for an
// RTSP camera with a password, `{url, password}`.
function source(ctx, path, node, value, w) {
  const T = S.source;
  const url = typeof value === 'string' ? value : (value && value.url) || '';
  const kindOf = (s) => (s === 'testsrc' ? 'testsrc' : s.startsWith('file:') ? 'file' : s.startsWith('v4l2:') ? 'v4l2' : s.startsWith('rtsp://') ? 'rtsp' : 'testsrc');
  const kind0 = kindOf(url);
  const loc0 = kind0 === 'file' ? url.slice(5) : kind0 === 'v4l2' ? url.slice(5) : kind0 === 'rtsp' ? url : '';
  const kind = el('select', { id: w.id, name: path, 'aria-describedby': w.described },
    Object.entries(T.kinds).map(([k, t]) => el('option', { value: k, selected: k === kind0, text: t })));
  const locId = `${w.id}-location`;
  const pwId = `${w.id}-password`;
  const loc = el('input', { type: 'text', id: locId, value: loc0, autocomplete: 'off' });
  const locLabel = el('label', { for: locId });
  const pwSet = value && typeof value === 'object' && value.password && value.password.set;
  const pw = el('input', { type: 'password', id: pwId, autocomplete: 'new-password', placeholder: pwSet ? S.common.secretSet : S.common.secretUnset });
  const locRow = el('div', { class: 'field' }, locLabel, loc);
  const pwRow = el('div', { class: 'field' }, el('label', { for: pwId, text: T.password }), pw);
  const sync = () => {
    const k = kind.value;
    locRow.hidden = k === 'testsrc';
    pwRow.hidden = k !== 'rtsp';
    locLabel.textContent = T.location[k] || '';
  };
  kind.addEventListener('change', sync);
  sync();
  const read = () => {
    const k = kind.value;
    const l = loc.value.trim();
    if (k === kind0 && l === loc0 && pw.value === '') return value;
    if (k === 'testsrc') return 'testsrc';
    if (k === 'file') return `file:${l}`;
    if (k === 'v4l2') return `v4l2:${l}`;
    if (pw.value !== '') return { url: l, password: pw.value };
    // A password already set stays with the camera it belongs to ({"set": true} keeps it).
    if (pwSet) return { url: l, password: { set: true } };
    return l;
  };
  ctx.controls.add({ ...w.base, input: kind, read });
  return el('div', { class: 'field field-source', 'data-path': w.base.key },
    el('label', { for: w.id, text: T.kind }), kind,
    el('p', { class: 'hint', text: T.hint }), locRow, pwRow, w.err);
}

// A list of objects: one group of controls per item, with Add and Delete (up to `maxItems`).
function rows(ctx, path, node, value, w) {
  const { schema, controls } = ctx;
  const items = schema.resolve(node.items || {});
  const max = node.maxItems || 16;
  const list = el('div', { class: 'rows' });
  // The words of this list's items: S.rows[path] when the list has its own, else the e-mail
  // destinations' (the first list of objects the UI had).
  const R = (S.rows && S.rows[path]) || S.destinations;
  const add = el('button', { type: 'button', text: R.add });
  const all = [];
  const blank = () => {
    const o = {};
    for (const [k, p] of Object.entries(items.properties || {})) {
      const n = schema.resolve(p);
      // A property that refers to a definition (an enum) carries its default beside the `$ref`;
      // a secret's (`{"set": false}`) is how it reads back, not a value to send, so it stays out.
      const own = p.default !== undefined && (p.default === null || typeof p.default !== 'object') ? p.default : undefined;
      const dflt = own !== undefined ? own : n.default;
      o[k] = dflt !== undefined ? dflt : n.type === 'array' ? [] : n.type === 'boolean' ? false : n.type === 'string' ? '' : null;
    }
    return o;
  };
  const render = (values) => {
    for (const r of all) controls.list = controls.list.filter((c) => !r.parts.includes(c));
    all.length = 0;
    list.replaceChildren();
    values.forEach((item, i) => {
      const before = controls.list.length;
      const group = el('fieldset', { class: 'group row' }, el('legend', { text: R.address(i + 1) }));
      for (const k of Object.keys(items.properties || {})) {
        const c = control(ctx, `${path}[${i}].${k}`, { patch: false, value: item[k], node: schema.resolve(items.properties[k]) });
        if (c) group.append(c);
      }
      const parts = controls.list.slice(before);
      const del = el('button', { type: 'button', text: R.remove(i + 1) });
      del.addEventListener('click', () => {
        const cur = readAll();
        cur.splice(i, 1);
        render(cur);
      });
      group.append(el('div', { class: 'actions' }, del));
      all.push({ parts, keys: Object.keys(items.properties || {}) });
      list.append(group);
    });
    if (!values.length) list.append(el('p', { class: 'hint', text: R.none }));
    add.disabled = values.length >= max;
  };
  const readAll = () => all.map((r) => {
    const o = {};
    for (const k of r.keys) {
      const part = r.parts.find((p) => p.path.endsWith(`].${k}`));
      if (part) o[k] = part.read();
    }
    return o;
  });
  add.addEventListener('click', () => render([...readAll(), blank()]));
  render(Array.isArray(value) ? value : []);
  controls.add({ ...w.base, input: add, read: () => readAll() });
  return el('div', { class: 'field field-rows', 'data-path': w.base.key },
    el('fieldset', { class: 'group' }, el('legend', { text: w.title }), w.hintEl, list, el('div', { class: 'actions' }, add), w.err));
}

export const WIDGETS = { size, source, rows, vmdAreas };
