// camward UI — the Recordings page (access level Camera control): a day's timeline per stream
// with alarm marks, the list with size, length, signature and encryption, playback in the
// browser (the stored fMP4 file, seekable through HTTP ranges), download, export of a time range,
// and the camera's own check of each file's signatures (paper §3.9). Encrypted recordings never
// play here: the camera does not decrypt them (§3.8); the page says how a viewer does. In
// recorder mode the upstream cameras' recordings are listed beside this camera's: a source filter
// (GET /api/v1/recordings?camera=NAME), a timeline row and a Source column per camera.

import { api, el, humanBytes, localTime, plainMessage, seconds, sentence } from './api.js';
import { S } from './strings.js';

const R = S.recordings;
const DAY = 86400000;

const pad = (x) => String(x).padStart(2, '0');
const dayValue = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const dayStart = (v) => { const [y, m, d] = v.split('-').map(Number); return new Date(y, m - 1, d).getTime(); };

// The verdict, and who signed (this camera, which kind of certificate) on a second line.
function verdictNodes(v) {
  const head = v.verdict === 'altered' && v.first_altered_frame ? R.alteredAt(v.first_altered_frame) : R.verdicts[v.verdict] || R.verdicts.not_verifiable;
  const who = v.signer ? [v.signer.this_camera ? R.thisCamera : null, R.signer[v.signer.trust]].filter(Boolean).join(', ') : '';
  return [el('strong', { text: head }), who ? el('span', { class: 'signer', text: who }) : null].filter(Boolean);
}

// What a timeline row or a list cell calls a recording's source: a stream of this camera, or an
// upstream camera (with its stream number when it is not its first).
const sourceName = (camera, n) => (camera ? R.cameraStream(camera, n) : R.timelineStream(n));

// A 24-hour bar per source ([camera or '', stream]): recordings as blocks, alarm recordings and
// alarms as marks.
function timeline(day0, list, alarms, sources, onPick) {
  const hours = el('div', { class: 'hours', 'aria-hidden': 'true' }, [0, 6, 12, 18, 24].map((h) => el('span', { text: `${pad(h)}:00` })));
  const rows = sources.map(([camera, n]) => {
    const label = sourceName(camera, n);
    const svg = el('svg:svg', { class: 'timeline', viewBox: '0 0 1440 20', preserveAspectRatio: 'none', role: 'img', 'aria-label': label, 'data-source': camera || 'local' });
    const x = (ms) => Math.max(0, Math.min(1440, (ms - day0) / 60000));
    svg.append(el('svg:rect', { class: 'track', x: 0, y: 0, width: 1440, height: 20 }));
    for (const r of list.filter((r) => r.stream === n && (r.camera || '') === camera)) {
      const a = x(Date.parse(r.start));
      // At least a few minutes wide, so that a short recording stays visible (and clickable).
      const b = Math.max(a + 4, x(Date.parse(r.end)));
      const block = el('svg:rect', { class: `rec ${r.trigger}`, x: a, y: 3, width: b - a, height: 14, 'data-id': r.id });
      block.append(el('svg:title', { text: `${localTime(Date.parse(r.start))} ${R.triggers[r.trigger]}` }));
      block.addEventListener('click', () => onPick(r));
      svg.append(block);
    }
    for (const t of alarms) {
      const a = x(t);
      if (a > 0 && a < 1440) svg.append(el('svg:rect', { class: 'alarm-mark', x: a - 1, y: 0, width: 2, height: 20 }, el('svg:title', { text: `${R.alarmMark} ${localTime(t)}` })));
    }
    return el('div', { class: 'timeline-row' }, el('span', { class: 'timeline-label', text: label }), svg);
  });
  return el('div', { class: 'timelines' }, rows, el('div', { class: 'timeline-row' }, el('span', { class: 'timeline-label' }), hours),
    el('p', { class: 'hint legend' }, el('span', { class: 'key continuous' }), R.legend.continuous, ' ', el('span', { class: 'key alarm' }), R.legend.alarm, ' ',
      el('span', { class: 'key mark' }), R.alarmMark));
}

export async function renderRecordings(main, h1) {
  const day = el('input', { type: 'date', id: 'rec-day', value: dayValue(new Date()) });
  const stream = el('select', { id: 'rec-stream' }, [['', R.all], ['1', S.live.streams[1]], ['2', S.live.streams[2]]].map(([v, t]) => el('option', { value: v, text: t })));
  // Sources: every one, this camera's own streams, or one upstream camera (recorder mode). The
  // cameras come from GET /api/v1/cameras and from the listings (a removed camera's recordings
  // stay); the field shows only once there is one.
  const THIS = '.';
  const camera = el('select', { id: 'rec-camera' }, el('option', { value: '', text: R.allSources }), el('option', { value: THIS, text: R.thisCamera }));
  const cameraField = el('div', { class: 'field', hidden: true }, el('label', { for: 'rec-camera', text: R.source }), camera);
  const exportCamera = el('select', { id: 'export-camera' }, el('option', { value: '', text: R.thisCamera }));
  const exportCameraField = el('div', { class: 'field', hidden: true }, el('label', { for: 'export-camera', text: R.source }), exportCamera);
  const known = new Set();
  const learn = (names) => {
    for (const n of [...names].sort()) {
      if (known.has(n)) continue;
      known.add(n);
      camera.append(el('option', { value: n, text: n }));
      exportCamera.append(el('option', { value: n, text: n }));
    }
    cameraField.hidden = exportCameraField.hidden = known.size === 0;
  };
  const filter = el('form', { class: 'panel filter', id: 'rec-filter', novalidate: true },
    el('div', { class: 'filter-row' },
      el('div', { class: 'field' }, el('label', { for: 'rec-day', text: R.day }), day),
      cameraField,
      el('div', { class: 'field' }, el('label', { for: 'rec-stream', text: R.stream }), stream)),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: R.show })));
  const status = el('p', { class: 'status', role: 'status', id: 'rec-status' });
  const tl = el('section', { class: 'panel', 'aria-labelledby': 'tl-h' }, el('h2', { id: 'tl-h' }));
  const player = el('section', { class: 'panel', id: 'player-panel', hidden: true, 'aria-labelledby': 'player-h' }, el('h2', { id: 'player-h' }));
  const video = el('video', { id: 'player', controls: true, preload: 'metadata', playsinline: true });
  player.append(el('div', { class: 'viewer' }, video));
  const table = el('table', { id: 'recordings' });
  const listPanel = el('section', { class: 'panel', 'aria-labelledby': 'list-h' }, el('h2', { id: 'list-h', text: R.list }), table);
  const from = el('input', { type: 'time', id: 'export-from', step: 1, value: '00:00:00' });
  const to = el('input', { type: 'time', id: 'export-to', step: 1, value: '23:59:59' });
  const exportStream = el('select', { id: 'export-stream' }, [['1', S.live.streams[1]], ['2', S.live.streams[2]]].map(([v, t]) => el('option', { value: v, text: t })));
  const exportLink = el('a', { class: 'button', id: 'export-link', download: 'export.mp4', text: R.exportButton });
  const exportPanel = el('section', { class: 'panel', 'aria-labelledby': 'export-h' }, el('h2', { id: 'export-h', text: R.export }),
    el('div', { class: 'filter-row' },
      exportCameraField,
      el('div', { class: 'field' }, el('label', { for: 'export-stream', text: R.stream }), exportStream),
      el('div', { class: 'field' }, el('label', { for: 'export-from', text: R.exportFrom }), from),
      el('div', { class: 'field' }, el('label', { for: 'export-to', text: R.exportTo }), to)),
    el('p', { class: 'hint', text: R.exportHint }), el('div', { class: 'actions' }, exportLink));
  const help = el('details', { class: 'panel', id: 'decrypt-help' }, el('summary', { text: R.decryptTitle }),
    el('p', { text: R.encryptedNote }), el('ol', {}, R.decryptSteps.map((s) => el('li', { text: s }))));
  main.replaceChildren(h1, filter, status, tl, player, listPanel, exportPanel, help);

  const updateExport = () => {
    const d0 = dayStart(day.value);
    const t = (v) => { const [h, m, s] = v.split(':').map(Number); return new Date(d0 + ((h * 60 + m) * 60 + (s || 0)) * 1000).toISOString(); };
    const q = new URLSearchParams({ stream: exportStream.value, from: t(from.value || '00:00:00'), to: t(to.value || '23:59:59') });
    if (exportCamera.value) q.set('camera', exportCamera.value);
    exportLink.href = `/api/v1/export.mp4?${q}`;
  };
  for (const i of [from, to, exportStream, exportCamera, day]) i.addEventListener('change', updateExport);

  const play = (r) => {
    player.hidden = false;
    player.querySelector('h2').textContent = R.playing(`${sourceName(r.camera, r.stream)} ${localTime(Date.parse(r.start))}`);
    video.src = `/api/v1/recordings/${r.id}.mp4`;
    video.play().catch(() => {});
    player.scrollIntoView({ block: 'nearest' });
  };

  // Checks run one at a time: each reads a whole file on the camera.
  const check = async (rows) => {
    for (const [r, cell] of rows) {
      if (!cell.isConnected) return;
      const v = await api('GET', `/api/v1/recordings/${r.id}/verification`);
      if (v.ok) cell.replaceChildren(...verdictNodes(v.data));
      else cell.textContent = plainMessage(v, S);
      if (v.ok) {
        cell.dataset.verdict = v.data.verdict;
        cell.title = sentence(v.data.message);
        cell.className = `verdict verdict-${v.data.verdict}`;
      }
    }
  };

  const load = async () => {
    status.textContent = '';
    updateExport();
    const d0 = dayStart(day.value);
    const q = new URLSearchParams({ from: new Date(d0).toISOString(), to: new Date(d0 + DAY).toISOString() });
    if (stream.value) q.set('stream', stream.value);
    if (camera.value && camera.value !== THIS) q.set('camera', camera.value);
    const [r, alarms] = await Promise.all([api('GET', `/api/v1/recordings?${q}`), api('GET', '/api/v1/alarm/log')]);
    tl.querySelector('h2').textContent = R.timeline(day.value);
    if (!r.ok) {
      status.textContent = r.status === 503 ? R.unavailable : plainMessage(r, S);
      return;
    }
    learn(r.data.map((x) => x.camera).filter(Boolean));
    // Without `camera` the API lists every source; this camera's own are those without one.
    const list = camera.value === THIS ? r.data.filter((x) => !x.camera) : r.data;
    const marks = [
      ...list.filter((x) => x.trigger === 'alarm').map((x) => Date.parse(x.start)),
      ...(alarms.ok ? alarms.data.alarms.map((a) => Date.parse(a.time)) : []),
    ];
    const streams = stream.value ? [Number(stream.value)] : [1, 2];
    // This camera's streams (unless one upstream camera is chosen), then each upstream camera's
    // streams that recorded something that day.
    const sources = camera.value && camera.value !== THIS ? [] : streams.map((n) => ['', n]);
    const seen = new Set(list.filter((x) => x.camera).map((x) => `${x.camera}\n${x.stream}`));
    for (const k of [...seen].sort()) {
      const [c, n] = k.split('\n');
      sources.push([c, Number(n)]);
    }
    // A chosen camera that recorded nothing that day still gets its (empty) row.
    if (!sources.length) sources.push([camera.value, streams[0]]);
    tl.replaceChildren(tl.querySelector('h2'), timeline(d0, list, marks, sources, (x) => (x.encrypted ? null : play(x))));
    if (!list.length) {
      status.textContent = R.none;
      table.replaceChildren();
      return;
    }
    const pending = [];
    const rows = [...list].reverse().map((x) => {
      const cell = el('td', { class: 'verdict', text: x.encrypted ? R.verdicts.encrypted : R.checking, 'data-verdict': x.encrypted ? 'encrypted' : null });
      if (!x.encrypted) pending.push([x, cell]);
      const playBtn = el('button', { type: 'button', text: R.play, disabled: x.encrypted, 'data-id': x.id });
      playBtn.addEventListener('click', () => play(x));
      const len = (Date.parse(x.end) - Date.parse(x.start)) / 1000;
      return el('tr', { 'data-id': x.id, 'data-camera': x.camera || null },
        el('td', { class: 'nowrap', text: localTime(Date.parse(x.start)) }),
        el('td', { text: x.state === 'recording' ? `${seconds(len)} (${R.recordingNow})` : seconds(len) }),
        // The Source column only where this device records other cameras.
        known.size ? el('td', { class: 'source', text: x.camera || R.thisCamera }) : null,
        el('td', { text: S.live.streams[x.stream] }),
        el('td', { text: humanBytes(x.bytes) }),
        el('td', { text: R.triggers[x.trigger] }),
        el('td', { text: x.signed ? S.common.yes : S.common.no }),
        el('td', {}, x.encrypted ? el('a', { href: '#decrypt-help', text: S.common.yes }) : S.common.no),
        cell,
        el('td', {}, el('div', { class: 'cell-actions' }, playBtn, el('a', { class: 'button', href: `/api/v1/recordings/${x.id}.mp4`, download: `recording-${x.id}.mp4`, text: R.download }))));
    });
    table.replaceChildren(
      el('thead', {}, el('tr', {}, [R.start, R.duration, known.size ? R.source : null, R.stream, R.size, R.trigger, R.signed, R.encrypted, R.check, R.actions].filter(Boolean).map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, rows));
    check(pending);
  };
  filter.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  api('GET', '/api/v1/cameras').then((c) => { if (c.ok && Array.isArray(c.data)) learn(c.data.map((x) => x.name)); });
  await load();
}
