// camward UI — the Live page: H.264 in the browser without plug-ins (fragmented MP4 from
// GET /api/v1/live.mp4 fed to Media Source Extensions) with MJPEG as the fallback, stream
// details, copyable addresses for players and recorders, snapshot, full screen, alarm indicator.
// The source is this camera or one of the upstream cameras it records (recorder mode) that the
// user may watch (GET /api/v1/cameras; a Live-only user sees those shared with them): their views
// are /api/v1/cameras/NAME/live.mp4, /mjpeg and /snapshot.jpg, their RTSP address /cameras/NAME.
// The H.264 view measures its own delay from capture to screen: every fragment carries its
// capture time (`prft`), and each shown frame reports its media time (requestVideoFrameCallback).

import { api, el } from './api.js';
import { S } from './strings.js';

const L = S.live;

// The fragmented-MP4 boxes of a byte stream, as they complete.
class Boxes {
  constructor() { this.buf = new Uint8Array(0); }
  push(chunk) {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    this.buf = b;
    const out = [];
    for (;;) {
      if (this.buf.length < 8) break;
      const v = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      let size = v.getUint32(0);
      if (size === 1) {
        if (this.buf.length < 16) break;
        size = Number(v.getBigUint64(8));
      }
      if (size < 8) throw new Error('bad box');
      if (this.buf.length < size) break;
      const type = String.fromCharCode(...this.buf.subarray(4, 8));
      out.push([type, this.buf.subarray(0, size)]);
      this.buf = this.buf.subarray(size);
    }
    return out;
  }
}

// `avc1.PPCCLL` from the avcC box of an init segment.
function codecOf(moov) {
  for (let i = 4; i + 8 < moov.length; i++) {
    if (moov[i] === 0x61 && moov[i + 1] === 0x76 && moov[i + 2] === 0x63 && moov[i + 3] === 0x43) {
      const hex = (x) => x.toString(16).padStart(2, '0');
      return `avc1.${hex(moov[i + 5])}${hex(moov[i + 6])}${hex(moov[i + 7])}`;
    }
  }
  return 'avc1.42E01F';
}

// ProducerReferenceTimeBox: [media time in seconds, capture time in ms since 1970].
function prftOf(box) {
  const v = new DataView(box.buffer, box.byteOffset, box.byteLength);
  const version = box[8];
  const secs = v.getUint32(16);
  const frac = v.getUint32(20);
  const media = version === 0 ? v.getUint32(24) : Number(v.getBigUint64(24));
  return [media / 90000, (secs - 2208988800) * 1000 + (frac / 4294967296) * 1000];
}

const concat = (parts) => {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

export const h264Supported = () => typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01F"');

// Plays the fragmented MP4 at `url` into `video`; returns a stop function. `onDelay(ms)` gets
// the median delay.
function playH264(video, url, onDelay, onFail) {
  const ctrl = new AbortController();
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  const times = [];
  const delays = [];
  let stopped = false;
  // The capture time of the picture on screen, from the nearest fragment's prft.
  const frame = (now, meta) => {
    if (stopped) return;
    let best = null;
    for (const t of times) if (t[0] <= meta.mediaTime + 1e-6 && (!best || t[0] > best[0])) best = t;
    if (best) video.dataset.captureMs = String(best[1] + (meta.mediaTime - best[0]) * 1000);
    video.requestVideoFrameCallback(frame);
  };
  // The delay from capture to screen: now minus the capture time of the picture shown, sampled
  // (so the time a picture stays on screen counts), the median of the last five seconds.
  const sample = () => {
    if (stopped) return;
    const cap = Number(video.dataset.captureMs);
    if (cap && !video.paused) {
      delays.push(performance.timeOrigin + performance.now() - cap);
      if (delays.length > 20) delays.shift();
      if (delays.length >= 4) onDelay([...delays].sort((x, y) => x - y)[delays.length >> 1]);
    }
    setTimeout(sample, 250);
  };
  setTimeout(sample, 250);
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(frame);
  ms.addEventListener('sourceopen', async () => {
    let sb = null;
    const queue = [];
    let init = [];
    let frag = [];
    const pump = () => {
      if (!sb || sb.updating || stopped) return;
      if (queue.length) { sb.appendBuffer(queue.shift()); return; }
      // Keep a short buffer: a live view needs no history.
      if (sb.buffered.length && video.currentTime - sb.buffered.start(0) > 20) sb.remove(0, video.currentTime - 10);
    };
    try {
      const resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
      if (!resp.ok || !resp.body) { onFail(resp.status); return; }
      const reader = resp.body.getReader();
      const boxes = new Boxes();
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stopped) break;
        for (const [type, box] of boxes.push(value)) {
          if (type === 'ftyp') init = [box];
          else if (type === 'moov') {
            init.push(box);
            if (!sb) {
              sb = ms.addSourceBuffer(`video/mp4; codecs="${codecOf(box)}"`);
              sb.addEventListener('updateend', () => {
                // Stay at the live edge: a late start or a stall must not add delay. Far behind,
                // jump; a little behind, play slightly faster until caught up (no visible jump).
                if (sb.buffered.length) {
                  const lag = sb.buffered.end(sb.buffered.length - 1) - video.currentTime;
                  if (lag > 0.5) video.currentTime = Math.max(sb.buffered.end(sb.buffered.length - 1) - 0.05, 0);
                  else video.playbackRate = lag > 0.12 ? 1.1 : 1.0;
                }
                if (video.paused) video.play().catch(() => {});
                pump();
              });
            }
            queue.push(concat(init));
          } else if (type === 'prft') {
            times.push(prftOf(box));
            if (times.length > 200) times.shift();
          } else if (type === 'moof') frag = [box];
          else if (type === 'mdat' && frag.length) {
            frag.push(box);
            queue.push(concat(frag));
            frag = [];
          }
        }
        pump();
      }
      if (!stopped) onFail(0);
    } catch (e) {
      if (!stopped) onFail(0);
    }
  }, { once: true });
  return () => {
    stopped = true;
    ctrl.abort();
    URL.revokeObjectURL(video.src);
    video.removeAttribute('src');
  };
}

function copyRow(id, label, url) {
  const input = el('input', { type: 'text', id, value: url, readonly: true, class: 'mono url' });
  const btn = el('button', { type: 'button', text: S.common.copy, 'aria-describedby': id });
  const done = el('span', { class: 'hint', role: 'status' });
  btn.addEventListener('click', async () => {
    input.select();
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(url);
      else document.execCommand('copy');
      done.textContent = S.common.copied;
    } catch (e) { done.textContent = ''; }
  });
  return el('div', { class: 'field url-row' }, el('label', { for: id, text: label }), el('div', { class: 'url-line' }, input, btn, done));
}

// The URLs of a source's views: this camera's stream `n`, or the upstream camera `camera`.
const views = (camera, n) => {
  const base = camera ? `/api/v1/cameras/${encodeURIComponent(camera)}` : '/api/v1';
  const q = camera ? '' : `?stream=${n}`;
  return { mp4: `${base}/live.mp4${q}`, mjpeg: `${base}/mjpeg${q}`, snapshot: `${base}/snapshot.jpg${q}` };
};

export function renderLive(main) {
  let stream = 1;
  // '' is this camera; otherwise an upstream camera's name.
  let camera = '';
  let cameras = [];
  let view = h264Supported() ? 'h264' : 'mjpeg';
  let stop = null;
  const img = el('img', { id: 'live-image', alt: L.imageAlt(1), hidden: true });
  const video = el('video', { id: 'live-video', muted: true, autoplay: true, playsinline: true, hidden: true });
  video.muted = true;
  const viewer = el('div', { class: 'viewer', id: 'viewer' }, video, img);
  const msg = el('p', { class: 'status', id: 'live-msg', role: 'status' });
  const delay = el('p', { class: 'hint', id: 'live-latency' });
  const snapshot = el('a', { class: 'button', id: 'snapshot', download: 'snapshot.jpg', 'aria-describedby': 'snapshot-hint', text: L.snapshot });
  const full = el('button', { type: 'button', id: 'fullscreen', text: L.fullscreen });
  const alarm = el('p', { class: 'alarm', id: 'alarm', role: 'status', 'aria-live': 'polite' });
  const details = el('div', { id: 'stream-details' });
  const urls = el('div', { id: 'stream-urls' });
  let info = null;

  const alt = () => (camera ? L.cameraAlt(camera) : L.imageAlt(stream));
  const unavailable = () => { msg.textContent = camera ? L.cameraUnavailable(camera) : L.unavailable; viewer.classList.add('empty'); };
  const show = () => {
    if (stop) { stop(); stop = null; }
    img.removeAttribute('src');
    msg.textContent = '';
    delay.textContent = '';
    delete delay.dataset.ms;
    viewer.classList.remove('empty');
    viewer.dataset.source = camera || 'local';
    img.alt = alt();
    const urls = views(camera, stream);
    snapshot.href = urls.snapshot;
    snapshot.setAttribute('download', camera ? `snapshot-${camera}.jpg` : `snapshot-stream${stream}.jpg`);
    streamSet.hidden = Boolean(camera);
    if (view === 'h264') {
      img.hidden = true;
      video.hidden = false;
      video.setAttribute('aria-label', alt());
      stop = playH264(video, urls.mp4, (ms) => {
        delay.dataset.ms = String(Math.round(ms));
        delay.textContent = L.latency(Math.round(ms));
      }, unavailable);
    } else {
      video.hidden = true;
      img.hidden = false;
      img.src = urls.mjpeg;
    }
    renderDetails();
    renderUrls();
  };
  img.addEventListener('error', () => { if (!img.hidden) unavailable(); });
  img.addEventListener('load', () => viewer.classList.remove('empty'));
  full.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen();
  });

  const radios = (name, entries, current, onPick) => entries.map(([v, t]) => {
    const id = `${name}-${v}`;
    const r = el('input', { type: 'radio', name, id, value: String(v), checked: v === current });
    r.addEventListener('change', () => onPick(v));
    return el('span', { class: 'radio' }, r, el('label', { for: id, text: t }));
  });
  const kinds = h264Supported() ? [['h264', L.views.h264], ['mjpeg', L.views.mjpeg]] : [['mjpeg', L.views.mjpeg]];
  // The source list: this camera, then the upstream cameras once GET /api/v1/cameras answers
  // (hidden while there are none, as on a camera that records no others).
  const source = el('select', { id: 'live-source' }, el('option', { value: '', text: L.thisCamera }));
  const sourceField = el('div', { class: 'field', hidden: true }, el('label', { for: 'live-source', text: L.source }), source);
  source.addEventListener('change', () => { camera = source.value; show(); });
  const streamSet = el('fieldset', {}, el('legend', { text: L.stream }), radios('stream', [[1, L.streams[1]], [2, L.streams[2]]], 1, (v) => { stream = v; show(); }));
  const picker = el('form', { class: 'live-controls', id: 'stream-form' },
    sourceField,
    streamSet,
    el('fieldset', {}, el('legend', { text: L.view }), radios('view', kinds, view, (v) => { view = v; show(); })));
  picker.addEventListener('submit', (ev) => ev.preventDefault());
  if (!h264Supported()) msg.textContent = L.noMse;

  const renderDetails = () => {
    const cam = camera && cameras.find((c) => c.name === camera);
    if (cam) {
      details.replaceChildren(el('table', {},
        el('thead', {}, el('tr', {}, [L.source, L.codec, L.size, L.fps].map((t) => el('th', { scope: 'col', text: t })))),
        el('tbody', {}, el('tr', {},
          el('td', { text: cam.name }),
          cam.connected && cam.width ? [el('td', { text: 'H.264' }), el('td', { text: `${cam.width}x${cam.height}` }), el('td', { text: cam.fps ? L.fpsValue(cam.fps) : '' })]
            : el('td', { colspan: 3, text: L.cameraOffline })))));
      return;
    }
    if (!info) return;
    details.replaceChildren(el('table', {},
      el('thead', {}, el('tr', {}, [L.stream, L.codec, L.size, L.fps, L.bitrate].map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, info.streams.map((s) => el('tr', {},
        el('td', { text: L.streams[s.stream] }),
        s.enabled ? [el('td', { text: s.codec }), el('td', { text: `${s.width}x${s.height}` }), el('td', { text: L.fpsValue(s.fps) }), el('td', { text: L.kbps(s.bitrate_kbps) })]
          : el('td', { colspan: 4, text: L.off }))))));
  };
  const renderUrls = () => {
    const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
    const origin = location.origin;
    const rows = [];
    if (camera) {
      const path = `cameras/${encodeURIComponent(camera)}`;
      const v = views(camera, stream);
      if (info && info.rtsp_port) rows.push(copyRow('url-rtsp', L.rtsp, `rtsp://${host}:${info.rtsp_port}/${path}`));
      if (info && info.rtsps_port) rows.push(copyRow('url-rtsps', L.rtsps, `rtsps://${host}:${info.rtsps_port}/${path}`));
      rows.push(copyRow('url-mjpeg', L.mjpegUrl, `${origin}${v.mjpeg}`));
      rows.push(copyRow('url-snapshot', L.snapshotUrl, `${origin}${v.snapshot}`));
      urls.replaceChildren(...rows, el('p', { class: 'hint', text: L.urlsHint }));
      return;
    }
    if (info && info.rtsp_port) rows.push(copyRow('url-rtsp', L.rtsp, `rtsp://${host}:${info.rtsp_port}/stream${stream}`));
    if (info && info.rtsps_port) rows.push(copyRow('url-rtsps', L.rtsps, `rtsps://${host}:${info.rtsps_port}/stream${stream}`));
    const s = info && info.streams.find((x) => x.stream === stream);
    if (s && s.internet_mode) rows.push(copyRow('url-tunnel', L.tunnel, `rtsp://${host}:${location.port || (location.protocol === 'https:' ? 443 : 80)}/stream${stream}`));
    rows.push(copyRow('url-mjpeg', L.mjpegUrl, `${origin}/api/v1/mjpeg?stream=${stream}`));
    rows.push(copyRow('url-snapshot', L.snapshotUrl, `${origin}/api/v1/snapshot.jpg?stream=${stream}`));
    urls.replaceChildren(...rows, el('p', { class: 'hint', text: L.urlsHint }));
  };

  main.replaceChildren(
    el('h1', { text: L.title }),
    picker,
    viewer,
    msg,
    delay,
    el('div', { class: 'actions' }, snapshot, full),
    el('p', { class: 'hint', id: 'snapshot-hint', text: L.snapshotHint }),
    el('h2', { text: L.alarm }),
    alarm,
    el('section', { class: 'panel', 'aria-labelledby': 'details-h' }, el('h2', { id: 'details-h', text: L.details }), details),
    el('section', { class: 'panel', 'aria-labelledby': 'urls-h' }, el('h2', { id: 'urls-h', text: L.addresses }), urls),
  );
  show();
  api('GET', '/api/v1/streams').then((r) => { if (r.ok) { info = r.data; renderDetails(); renderUrls(); } });
  pollCameras(source, sourceField, (list) => {
    cameras = list;
    if (camera) renderDetails();
  });
  pollAlarm(alarm);
}

// The source list follows GET /api/v1/cameras while the page is open (every 10 s): a camera added
// by the installer appears, each option says whether its camera is connected now, and a camera
// removed disappears unless it is the one being watched (its view then says it is unavailable).
async function pollCameras(source, sourceField, onList) {
  for (;;) {
    if (!source.isConnected) return;
    const r = await api('GET', '/api/v1/cameras');
    if (r.ok && Array.isArray(r.data) && source.isConnected) {
      const byName = new Map(r.data.map((c) => [c.name, c]));
      for (const o of [...source.options]) {
        if (!o.value) continue;
        const c = byName.get(o.value);
        if (c) o.textContent = L.cameraOption(c.name, c.connected);
        else if (o.value !== source.value) o.remove();
        byName.delete(o.value);
      }
      source.append(...[...byName.values()].map((c) => el('option', { value: c.name, text: L.cameraOption(c.name, c.connected) })));
      sourceField.hidden = source.options.length < 2;
      onList(r.data);
    }
    await new Promise((res) => setTimeout(res, 10000));
  }
}

// The alarm state comes from GET /api/v1/alarm when the camera has an alarm service; without one
// the indicator says so instead of showing a permanent "no alarm".
async function pollAlarm(node) {
  for (;;) {
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
