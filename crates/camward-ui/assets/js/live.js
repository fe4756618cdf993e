// camward UI — the Live page: stream choice, MJPEG live view, snapshot, full screen, alarm indicator.
// MJPEG is a plain <img> (no plug-in, no script decoding), authenticated like any same-origin request.

import { api, el } from './api.js';
import { S } from './strings.js';

const L = S.live;

export function renderLive(main) {
  let stream = 1;
  const img = el('img', { id: 'live-image', alt: L.imageAlt(1) });
  const viewer = el('div', { class: 'viewer', id: 'viewer' }, img);
  const msg = el('p', { class: 'status', id: 'live-msg', role: 'status' });
  const snapshot = el('a', { class: 'button', id: 'snapshot', download: 'snapshot.jpg', 'aria-describedby': 'snapshot-hint', text: L.snapshot });
  const full = el('button', { type: 'button', id: 'fullscreen', text: L.fullscreen });
  const alarm = el('p', { class: 'alarm', id: 'alarm', role: 'status', 'aria-live': 'polite' });
  const choose = (n) => {
    stream = n;
    msg.textContent = '';
    img.alt = L.imageAlt(n);
    img.src = `/api/v1/mjpeg?stream=${n}`;
    snapshot.href = `/api/v1/snapshot.jpg?stream=${n}`;
    snapshot.setAttribute('download', `snapshot-stream${n}.jpg`);
  };
  img.addEventListener('error', () => { msg.textContent = L.unavailable; viewer.classList.add('empty'); });
  img.addEventListener('load', () => viewer.classList.remove('empty'));
  full.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen();
  });
  const radios = [1, 2].map((n) => {
    const id = `stream-${n}`;
    const r = el('input', { type: 'radio', name: 'stream', id, value: String(n), checked: n === 1 });
    r.addEventListener('change', () => choose(n));
    return el('span', { class: 'radio' }, r, el('label', { for: id, text: L.streams[n] }));
  });
  const picker = el('form', { class: 'live-controls', id: 'stream-form' },
    el('fieldset', {}, el('legend', { text: L.stream }), radios));
  picker.addEventListener('submit', (ev) => ev.preventDefault());
  main.replaceChildren(
    el('h1', { text: L.title }),
    picker,
    viewer,
    msg,
    el('div', { class: 'actions' }, snapshot, full),
    el('p', { class: 'hint', id: 'snapshot-hint', text: L.snapshotHint }),
    el('h2', { text: L.alarm }),
    alarm,
  );
  choose(stream);
  pollAlarm(alarm);
}

// The alarm state comes from GET /api/v1/alarm when the camera has an alarm service; without one
// the indicator says so instead of showing a permanent "no alarm".
async function pollAlarm(node) {
  for (let i = 0; ; i++) {
    if (!node.isConnected) return;
    const r = await api('GET', '/api/v1/alarm');
    if (r.status === 404 || r.status === 405) {
      node.textContent = L.alarmNone;
      node.className = 'alarm alarm-none';
      return;
    }
    if (r.ok && r.data) {
      const active = r.data.active === true;
      node.textContent = active ? L.alarmActive : L.alarmIdle;
      node.className = active ? 'alarm alarm-on' : 'alarm';
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}
