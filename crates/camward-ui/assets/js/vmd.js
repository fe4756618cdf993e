// camward UI — the VMD area editor: up to four rectangles drawn with the pointer on a snapshot of
// the analysed stream, each with its numbers (in % of the picture), sensitivity and threshold.
// Stored as fractions of the picture (0–1), so an area fits every stream size.

import { el } from './api.js';
import { S } from './strings.js';

const round = (v) => Math.round(v * 1000) / 1000;
const pct = (v) => String(Math.round(v * 1000) / 10);

export function vmdAreas(ctx, path, node, value, w) {
  const V = S.vmd;
  const { schema, controls } = ctx;
  const item = schema.resolve(node.items || {});
  const props = item.properties || {};
  const t = (k) => (props[k] && schema.resolve(props[k]).title) || k;
  const max = node.maxItems || 4;
  const original = Array.isArray(value) ? value : [];
  let areas = original.map((a) => ({ ...a }));
  const streamCtl = () => controls.list.find((c) => c.path === path.replace(/areas$/, 'stream'));
  const img = el('img', { class: 'vmd-picture', alt: V.pictureAlt });
  const svg = el('svg:svg', { class: 'vmd-overlay', viewBox: '0 0 1000 1000', preserveAspectRatio: 'none', role: 'presentation' });
  const canvas = el('div', { class: 'vmd-canvas', id: `${w.id}-canvas` }, img, svg);
  const panels = el('div', { class: 'vmd-panels' });
  const msg = el('p', { class: 'hint', role: 'status' });
  const setPicture = () => {
    const c = streamCtl();
    const n = c ? c.read() : 2;
    img.src = `/api/v1/snapshot.jpg?stream=${n}&_=${Date.now()}`;
  };
  const draw = () => {
    svg.replaceChildren(...areas.map((a, i) => el('svg:rect', {
      class: `area area${i + 1}${a.enabled === false ? ' off' : ''}`,
      x: a.x * 1000, y: a.y * 1000, width: a.width * 1000, height: a.height * 1000,
      'vector-effect': 'non-scaling-stroke',
    })));
  };
  const subs = [];
  const panelsRender = () => {
    for (const s of subs) controls.list = controls.list.filter((c) => c !== s);
    subs.length = 0;
    panels.replaceChildren();
    if (!areas.length) panels.append(el('p', { class: 'hint', text: V.noArea }));
    areas.forEach((a, i) => {
      const base = `${path}[${i}]`;
      const id = `${w.id}-${i}`;
      // Edges and sizes are fractions shown as %; the threshold is a percentage already.
      const num = (k, label, fraction = true) => {
        const iid = `${id}-${k}`;
        const err = el('p', { class: 'error', id: `${iid}-error`, hidden: true });
        const input = el('input', {
          type: 'number', id: iid, step: 'any', min: fraction ? 0 : 1, max: 100,
          value: fraction ? pct(a[k]) : String(a[k]), 'aria-describedby': `${iid}-error`,
        });
        input.addEventListener('change', () => {
          a[k] = fraction ? round(Number(input.value) / 100) : Math.round(Number(input.value));
          draw();
        });
        subs.push(controls.add({ path: `${base}.${k}`, key: `${base}.${k}`, err, input, patch: false, read: () => a[k] }));
        return el('div', { class: 'field field-number' }, el('label', { for: iid, text: label }),
          el('span', { class: 'with-unit' }, input, el('span', { class: 'unit', text: '%' })), err);
      };
      const sel = (k, lo, hi) => {
        const iid = `${id}-${k}`;
        const err = el('p', { class: 'error', id: `${iid}-error`, hidden: true });
        const input = el('select', { id: iid, 'aria-describedby': `${iid}-error` },
          Array.from({ length: hi - lo + 1 }, (_, j) => lo + j).map((v) => el('option', { value: String(v), selected: v === a[k], text: String(v) })));
        input.addEventListener('change', () => { a[k] = Number(input.value); });
        subs.push(controls.add({ path: `${base}.${k}`, key: `${base}.${k}`, err, input, patch: false, read: () => a[k] }));
        return el('div', { class: 'field field-select' }, el('label', { for: iid, text: t(k) }), input, err);
      };
      const onId = `${id}-enabled`;
      const on = el('input', { type: 'checkbox', id: onId, checked: a.enabled !== false });
      on.addEventListener('change', () => { a.enabled = on.checked; draw(); });
      const del = el('button', { type: 'button', text: V.remove(i + 1) });
      del.addEventListener('click', () => { areas.splice(i, 1); draw(); panelsRender(); });
      panels.append(el('fieldset', { class: `group vmd-area area${i + 1}` },
        el('legend', {}, el('span', { class: `swatch area${i + 1}` }), V.area(i + 1)),
        el('div', { class: 'field field-check' }, on, el('label', { for: onId, text: t('enabled') })),
        el('div', { class: 'vmd-numbers' }, num('x', t('x')), num('y', t('y')), num('width', t('width')), num('height', t('height'))),
        el('div', { class: 'vmd-numbers' }, sel('sensitivity', 1, 10), num('threshold', t('threshold'), false)),
        el('div', { class: 'actions' }, del)));
    });
  };
  let start = null;
  let temp = null;
  const at = (ev) => {
    const r = svg.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height))];
  };
  svg.addEventListener('pointerdown', (ev) => {
    if (areas.length >= max) { msg.textContent = V.max; return; }
    start = at(ev);
    svg.setPointerCapture(ev.pointerId);
    temp = el('svg:rect', { class: 'area drawing', x: start[0] * 1000, y: start[1] * 1000, width: 0, height: 0, 'vector-effect': 'non-scaling-stroke' });
    svg.append(temp);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!start || !temp) return;
    const p = at(ev);
    temp.setAttribute('x', Math.min(start[0], p[0]) * 1000);
    temp.setAttribute('y', Math.min(start[1], p[1]) * 1000);
    temp.setAttribute('width', Math.abs(p[0] - start[0]) * 1000);
    temp.setAttribute('height', Math.abs(p[1] - start[1]) * 1000);
  });
  svg.addEventListener('pointerup', (ev) => {
    if (!start) return;
    const p = at(ev);
    const x = round(Math.min(start[0], p[0]));
    const y = round(Math.min(start[1], p[1]));
    const wd = round(Math.abs(p[0] - start[0]));
    const ht = round(Math.abs(p[1] - start[1]));
    start = null;
    if (temp) temp.remove();
    temp = null;
    if (wd < 0.05 || ht < 0.05) return;
    areas.push({ enabled: true, x, y, width: Math.min(wd, round(1 - x)), height: Math.min(ht, round(1 - y)), sensitivity: 5, threshold: 2 });
    msg.textContent = '';
    draw();
    panelsRender();
  });
  controls.add({ ...w.base, input: svg, read: () => (JSON.stringify(areas) === JSON.stringify(original) ? value : areas.map((a) => ({ ...a }))) });
  const sc = streamCtl();
  if (sc && sc.onChange) sc.onChange(setPicture);
  setPicture();
  draw();
  panelsRender();
  return el('div', { class: 'field field-vmd', 'data-path': w.base.key },
    el('fieldset', { class: 'group' }, el('legend', { text: w.title }),
      el('p', { class: 'hint', text: V.intro }), canvas, msg, panels, w.err));
}
