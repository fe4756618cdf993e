// camward UI — the Status page: what an installer checks before leaving the site. Model, serial,
// firmware, uptime; every listening service (paper §3.5); streams with their recording state and
// viewers; the upstream cameras of recorder mode with theirs (§3.8); storage; the certificate
// (§3.7); the IEEE 802.1X port (§3.6); UPnP port forwarding with each mapping's state while it is
// on (§4.1); settings that weaken security; and the findings of the security audit when this
// camera has one (`GET /api/v1/audit`).

import { api, apiPaths, el, humanBytes, localTime, plainMessage, sentence } from './api.js';
import { S } from './strings.js';
import { listenerTable } from './pages.js';
import { PAGES } from './layouts.js';

const T = S.status;

function facts(id, rows) {
  return el('dl', { class: 'facts', id }, rows.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

export function uptime(secs) {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  if (d) return T.days(d, h);
  if (h) return T.hours(h, m);
  return T.minutes(m);
}

function panel(id, title, ...children) {
  return el('section', { class: 'panel', id, 'aria-labelledby': `${id}-h` }, el('h2', { id: `${id}-h`, text: title }), children);
}

// The page that shows a setting: the first layout page listing its section.
function pageOf(path) {
  const section = path.split('.')[0];
  const p = PAGES.find((x) => (x.forms || []).some((f) => f.section.split('.')[0] === section));
  return p ? p.id : null;
}

// The IEEE 802.1X port state (paper §3.6), for the Status page and the 802.1X page.
export function dot1xPanel(s) {
  return panel('dot1x', T.dot1x, facts('dot1x-facts', [
    [T.state, T.dot1xStates[s.state] || s.state],
    [T.reason, s.reason ? sentence(s.reason) : ''],
    [T.eapMethod, s.method || ''],
    [T.since, s.changed_at ? localTime(s.changed_at * 1000) : ''],
  ]));
}

export async function renderStatus(body, c) {
  const r = await api('GET', '/api/v1/status/details');
  if (!r.ok) { body.append(el('p', { class: 'error', role: 'alert', text: plainMessage(r, S) })); return; }
  const d = r.data;
  const me = await api('GET', '/api/v1/status');
  body.append(panel('device', T.device, facts('status', [
    [T.model, d.model],
    [T.serial, d.serial || S.common.unknown],
    [T.version, `${d.product} ${d.version}`],
    [T.uptime, uptime(d.uptime_secs)],
    [T.started, localTime(Date.parse(d.started_at))],
    [T.user, me.ok ? `${me.data.user || S.guest} (${S.levels[me.data.level] || ''})` : ''],
  ])));

  if (me.ok && me.data.time) body.append(timePanel(me.data.time));

  body.append(panel('services', T.services, listenerTable(d.listeners)));

  const streams = el('table', { id: 'streams' },
    el('thead', {}, el('tr', {}, [T.stream, T.picture, T.state, T.recording, T.viewers].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, d.streams.map((s) => el('tr', {},
      el('td', { text: S.live.streams[s.stream] || String(s.stream) }),
      el('td', { text: `${s.codec} ${s.width}x${s.height}, ${S.live.fpsValue(s.fps)}, ${S.live.kbps(s.bitrate_kbps)}` }),
      el('td', { text: s.enabled && s.running ? T.running : T.stopped }),
      el('td', { text: T.recordingState[s.recording] || '' }),
      el('td', { text: viewerList(s.viewers) })))));
  body.append(panel('stream-state', T.streams, streams));

  // Recorder mode (paper §3.8): each upstream camera as this device pulls it, with who watches it
  // through this device. Camera control and above; absent while no camera is configured.
  const cams = await api('GET', '/api/v1/cameras/status');
  if (cams.ok && Array.isArray(cams.data) && cams.data.length) body.append(camerasPanel(cams.data));

  if (d.storage) {
    const st = d.storage;
    body.append(panel('storage', T.storage, facts('storage-facts', [
      [T.state, T.storageState[st.state] || st.state],
      [T.used, st.state === 'ok' ? humanBytes(st.used_bytes) : ''],
      [T.free, st.state === 'ok' ? `${humanBytes(st.free_bytes)} / ${humanBytes(st.total_bytes)}` : ''],
      [T.count, st.state === 'ok' ? String(st.recordings) : ''],
      [T.oldest, st.oldest ? localTime(Date.parse(st.oldest)) : ''],
      [T.newest, st.newest ? localTime(Date.parse(st.newest)) : ''],
    ])));
    // Paper §3.8: recordings moving to the bucket; a full card or a refused key is said loudly.
    const o = st.object_store;
    if (o) {
      const loud = o.card_full || o.state !== 'ok';
      body.append(panel('object-store', T.objectStore,
        loud && o.message ? el('p', { class: 'warning', text: sentence(o.message) }) : null,
        facts('object-store-facts', [
          [T.state, T.objectStoreState[o.state] || o.state],
          [T.waiting, `${o.waiting} (${humanBytes(o.waiting_bytes)})`],
          [T.inBucket, `${o.in_bucket} (${humanBytes(o.in_bucket_bytes)})`],
          [T.uploaded, String(o.uploaded)],
          // Only after a lost or replaced index: the recordings found again in the bucket.
          [T.adopted, o.adopted || o.adopting ? `${o.adopted}${o.adopting ? ` (${T.adopting})` : ''}` : ''],
        ])));
    }
  }

  if (d.certificate) {
    const ce = d.certificate;
    body.append(panel('cert', T.certificate,
      ce.warning ? el('p', { class: 'warning', text: sentence(ce.warning) }) : null,
      facts('cert-facts', [
        [T.kind, T.kinds[ce.kind] || ''],
        [T.subject, ce.subject],
        [T.issuer, ce.issuer],
        [T.expires, `${localTime(Date.parse(ce.not_after))} (${T.daysLeft(ce.days_left)})`],
      ])));
  }

  if (d.dot1x) body.append(dot1xPanel(d.dot1x));

  const upnp = me.ok ? me.data.upnp : null;
  if (upnp && (upnp.enabled || upnp.mappings.length)) body.append(upnpPanel(upnp));

  const warn = panel('warnings-panel', T.warnings);
  if (d.warnings.length) {
    const items = [];
    for (const w of d.warnings) {
      const page = pageOf(w.path);
      items.push(el('li', {}, sentence(w.message), ' ', page ? el('a', { href: `/setup/${page}`, text: `${T.goTo}: ${S.pages[page] || ''}` }) : null));
    }
    warn.append(el('ul', { id: 'warnings' }, items));
  } else {
    warn.append(el('p', { text: T.noWarnings }));
  }
  body.append(warn);

  // The security audit appears when this camera has one (another module of camward adds it).
  if ((await apiPaths()).has('/api/v1/audit')) {
    const a = await api('GET', '/api/v1/audit');
    body.append(a.ok && a.data ? auditPanel(a.data) : panel('audit', T.audit, el('p', { class: 'error', text: plainMessage(a, S) })));
  }
}

function viewerList(viewers) {
  return viewers.length ? viewers.map((v) => `${T.carriers[v.carrier] || v.carrier}: ${v.viewers}`).join(', ') : T.noViewers;
}

// The upstream cameras: connected or not, what they send, recording, the last error with its time
// (kept after the camera is back: `connected` says whether it is current) and the viewers.
function camerasPanel(list) {
  const table = el('table', { id: 'camera-state' },
    el('thead', {}, el('tr', {}, [T.camera, T.state, T.picture, T.recording, T.lastError, T.viewers]
      .map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, list.map((c) => el('tr', { 'data-camera': c.name, class: c.connected ? 'camera-connected' : 'camera-away' },
      el('td', { text: c.name }),
      el('td', { text: !c.enabled ? T.stopped : c.connected ? T.cameraConnected : T.cameraAway }),
      el('td', { text: c.width ? `${c.width}x${c.height}, ${S.live.fpsValue(c.fps || 0)}, ${S.live.kbps(Math.round(c.bitrate_bps / 1000))}` : '' }),
      el('td', { text: c.recording ? T.recordingState.recording : T.recordingState.off }),
      el('td', { text: c.last_error ? `${sentence(c.last_error)} (${localTime(Date.parse(c.last_error_at))})` : '' }),
      el('td', { text: viewerList(c.viewers) })))));
  return panel('cameras-state', T.cameras, table);
}

// UPnP auto port forwarding (paper §4.1) as it runs: the router, its Internet address, and each
// port mapping with its state and why it is not forwarded.
function upnpPanel(u) {
  const gateway = u.gateway ? (() => {
    try { return new URL(u.gateway.location).host; } catch { return u.gateway.location; }
  })() : '';
  const rows = facts('upnp-facts', [
    [T.upnpGateway, gateway],
    [T.upnpExternalAddress, u.external_address || ''],
    [T.upnpError, u.error ? sentence(u.error) : ''],
    [T.upnpNext, u.next_attempt_at ? localTime(u.next_attempt_at * 1000) : ''],
  ]);
  if (!u.mappings.length) return panel('upnp', T.upnp, rows, el('p', { text: T.upnpNone }));
  const table = el('table', { id: 'upnp-mappings' },
    el('thead', {}, el('tr', {}, [T.upnpService, T.upnpProtocol, T.upnpInternal, T.upnpExternal, T.state, T.upnpNote]
      .map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, u.mappings.map((m) => {
      const external = m.external_port || m.requested_external_port;
      const note = [
        m.external_port && m.external_port !== m.requested_external_port ? T.upnpAsked(m.requested_external_port) : '',
        m.taken_by ? T.upnpTakenBy(m.taken_by) : '',
        m.message ? sentence(m.message) : '',
      ].filter(Boolean).join(' ');
      return el('tr', { class: `upnp-${m.state}` },
        el('td', { text: T.upnpServices[m.service] || m.service.toUpperCase() }),
        el('td', { text: m.protocol }),
        el('td', { text: String(m.internal_port) }),
        el('td', { text: String(external) }),
        el('td', { text: T.upnpStates[m.state] || m.state }),
        el('td', { text: note }));
    })));
  return panel('upnp', T.upnp, rows, table);
}

// Date and time (the NTP tab's state): mode, sync state and offset, each server's answer, and
// whether this camera may set its clock (root outside a container).
function timePanel(t) {
  const rows = [
    [T.timeNow, t.utc],
    [T.timeLocal, t.local],
    [T.timeZone, t.timezone],
    [T.state, `${T.timeMode[t.mode] || t.mode}: ${T.timeState[t.state] || t.state}`],
    [T.timeSource, t.source ? `${t.source} (${S.status.timeAuth[t.authenticated]})` : ''],
    [T.timeOffset, typeof t.offset_ms === 'number' ? T.ms(t.offset_ms) : ''],
    [T.timeLastSync, t.last_sync || ''],
    [T.timeError, t.last_error || ''],
    [T.timeClock, t.clock.settable ? T.timeClockOk : sentence(t.clock.refusal || '')],
  ];
  const servers = t.servers.length ? el('ul', { id: 'time-servers' }, t.servers.map((s) => el('li', {},
    `${s.server}: ${T.serverState[s.state] || s.state}`,
    typeof s.offset_ms === 'number' ? ` (${T.ms(s.offset_ms)})` : '',
    s.error ? ` — ${sentence(s.error)}` : ''))) : null;
  return panel('time', T.time, facts('time-facts', rows), servers);
}

// The audit's findings (`camward audit`'s report): most severe first, each with what is the case,
// why it matters (the paper's §) and where to change it — a link to the page of the setting, never
// the setting's key.
function auditPanel(report) {
  const list = (report && report.findings) || [];
  if (!list.length) return panel('audit', T.audit, el('p', { text: T.auditNone }));
  return panel('audit', T.audit, el('ul', { id: 'audit-findings' }, list.map((f) => {
    const page = f.fix && f.fix.path ? pageOf(f.fix.path) : null;
    const fix = page
      ? el('a', { href: `/setup/${page}`, text: `${T.goTo}: ${S.pages[page] || ''}` })
      : f.fix && f.fix.action && !f.fix.path ? sentence(f.fix.action) : null;
    return el('li', { class: `sev-${f.severity}` },
      el('strong', { text: `${T.severity[f.severity] || ''}: ` }),
      sentence(f.subject ? `${f.title} (${f.subject})` : f.title), ' ',
      el('span', { class: 'hint', text: `${sentence(f.why)} ${f.paper || ''}`.trim() }), ' ', fix);
  })));
}
