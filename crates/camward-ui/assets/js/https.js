// camward UI — the HTTPS page's additions (paper §3.7): the port HTTPS actually uses, certificate
// management (information, self-signed generation, CSR download, CA-issued install with the
// camera's reason on refusal, delete, download), and moving the page to the address that works
// after Connection or the HTTPS port changed, so the installer is never left on a closed port.

import { api, downloadFrom, el, localTime, plainMessage, sentence } from './api.js';
import { S } from './strings.js';

const H = S.https;
const failure = (r) => plainMessage(r, S);

// The address of this page on another scheme and port, with a note of why it moved.
function address(scheme, port, moved) {
  const def = scheme === 'https' ? 443 : 80;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  const p = Number(port) === def ? '' : `:${port}`;
  return `${scheme}://${host}${p}${location.pathname}?moved=${moved}`;
}

function httpPort(details) {
  const l = details && details.listeners.find((x) => x.service === 'HTTP');
  return l ? l.port : 80;
}

// After a save: moves the page when the change closed the address it is on, or when HTTPS was
// switched on (plain HTTP then refuses passwords). Returns true when it moves.
export async function followConnection(before, after, state, status) {
  if (!before || !after || !before.https || !after.https) return false;
  const details = state && state.details;
  const onHttps = location.protocol === 'https:';
  const wantHttps = after.https.connection === 'https';
  const fixed = details && details.https_port_fixed;
  const newPort = fixed ? details.https_port : after.https.port;
  const oldPort = fixed ? details.https_port : before.https.port;
  let url = null;
  let why = null;
  if (wantHttps && !onHttps) {
    url = address('https', newPort, 'https');
    why = H.moveHttps(url.replace(/\?.*$/, ''));
  } else if (wantHttps && onHttps && newPort !== oldPort) {
    url = address('https', newPort, 'https');
    why = H.movePort(url.replace(/\?.*$/, ''));
  } else if (!wantHttps && onHttps) {
    url = address('http', httpPort(details), 'http');
    why = H.moveHttp(url.replace(/\?.*$/, ''));
  }
  if (!url) return false;
  status.textContent = why;
  // The listener opens or closes within a moment of the change; give it that moment.
  await new Promise((res) => setTimeout(res, 1500));
  location.assign(url);
  return true;
}

// Moves the page to the plain address when it is on HTTPS (after a reset closed HTTPS).
export function toPlain(details, status) {
  if (location.protocol !== 'https:') return false;
  const url = address('http', httpPort(details), 'http');
  status.textContent = H.moveHttp(url.replace(/\?.*$/, ''));
  setTimeout(() => location.assign(url), 1500);
  return true;
}

// The note for a page reached by such a move; the query is removed from the address bar.
export function arrivalNote() {
  const q = new URLSearchParams(location.search);
  const moved = q.get('moved');
  if (!moved) return '';
  history.replaceState(null, '', location.pathname);
  return moved === 'https' ? H.arrived : H.arrivedHttp;
}

function facts(rows) {
  return el('dl', { class: 'facts' }, rows.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

export async function renderHttps(body, c) {
  const details = c.state.details;
  const inUse = el('section', { class: 'panel', 'aria-labelledby': 'https-port-h' },
    el('h2', { id: 'https-port-h', text: H.inUse }));
  const listening = details && details.listeners.find((l) => l.service === 'HTTPS');
  inUse.append(el('p', { id: 'https-port', text: listening ? H.listening(listening.port) : H.notListening }));
  if (details && details.https_port_fixed) inUse.append(el('p', { class: 'hint', id: 'https-port-fixed', text: H.fixed(details.https_port) }));
  body.prepend(inUse);

  const section = el('section', { class: 'panel', 'aria-labelledby': 'cert-h', id: 'certificate' },
    el('h2', { id: 'cert-h', text: H.certificate }), el('p', { class: 'hint', text: H.signingNote }));
  body.append(section);
  const status = el('p', { class: 'status', role: 'status', id: 'cert-status' });
  const info = el('div', { id: 'cert-info' });
  const show = (cert) => {
    info.replaceChildren(...[
      el('h3', { text: H.info }),
      cert.warning ? el('p', { class: 'warning', text: sentence(cert.warning) }) : null,
      facts([
        [H.kind, H.kinds[cert.kind] || cert.kind],
        [H.subject, cert.subject],
        [H.issuer, cert.issuer],
        [H.serialNumber, cert.serial_number],
        [H.validFrom, localTime(Date.parse(cert.not_before))],
        [H.validTo, localTime(Date.parse(cert.not_after))],
        [H.fingerprint, cert.fingerprint_sha256],
        [H.names, (cert.sans || []).join(', ')],
      ]),
      el('p', {}, el('a', { class: 'button', href: '/api/v1/certificate/chain.pem', download: 'certificate.pem', text: H.download })),
    ].filter(Boolean));
    removeRow.hidden = cert.kind !== 'ca_issued';
  };
  const refresh = async () => {
    const r = await api('GET', '/api/v1/certificate');
    if (!r.ok) { info.replaceChildren(el('p', { text: r.status === 404 ? H.noIdentity : failure(r) })); return null; }
    show(r.data);
    return r.data;
  };

  // Self-signed certificate: generate.
  const gen = el('button', { type: 'button', id: 'cert-self-signed', text: H.generate });
  gen.addEventListener('click', async () => {
    if (!window.confirm(H.generateConfirm)) return;
    const r = await api('POST', '/api/v1/certificate/self-signed');
    if (!r.ok) { status.textContent = failure(r); return; }
    status.textContent = r.data.served === 'ca_issued' ? `${H.generated} ${H.servedCa}` : H.generated;
    refresh();
  });

  // CSR: common name and names, downloaded as a file.
  const cn = el('input', { type: 'text', id: 'csr-cn', autocomplete: 'off' });
  const sans = el('textarea', { id: 'csr-sans', rows: 2 });
  const csrErr = el('p', { class: 'error', id: 'csr-error', hidden: true });
  const csrBtn = el('button', { type: 'submit', text: H.csrButton });
  const csr = el('form', { id: 'csr-form', novalidate: true, 'aria-labelledby': 'csr-h' },
    el('h3', { id: 'csr-h', text: H.csr }),
    el('div', { class: 'field' }, el('label', { for: 'csr-cn', text: H.cn }), cn),
    el('div', { class: 'field' }, el('label', { for: 'csr-sans', text: H.sans }), sans),
    csrErr, el('div', { class: 'actions' }, csrBtn));
  csr.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    csrErr.hidden = true;
    const body2 = {};
    if (cn.value.trim()) body2.cn = cn.value.trim();
    const list = sans.value.split('\n').map((s) => s.trim()).filter(Boolean);
    if (list.length) body2.sans = list;
    const r = await downloadFrom('POST', '/api/v1/certificate/csr', body2, 'camward.csr');
    if (r.ok) { status.textContent = H.csrDone; return; }
    csrErr.hidden = false;
    csrErr.textContent = r.data && r.data.errors && r.data.errors.length ? sentence(r.data.errors[0].message) : failure(r);
  });

  // CA-issued certificate: install (text or file), with the camera's reason on refusal.
  const pem = el('textarea', { id: 'cert-pem', rows: 6, class: 'mono' });
  const file = el('input', { type: 'file', id: 'cert-file', accept: '.pem,.crt,.cer,text/plain' });
  file.addEventListener('change', async () => { if (file.files[0]) pem.value = await file.files[0].text(); });
  const installErr = el('p', { class: 'error', id: 'cert-install-error', hidden: true, role: 'alert' });
  const install = el('form', { id: 'cert-install', novalidate: true, 'aria-labelledby': 'install-h' },
    el('h3', { id: 'install-h', text: H.install }),
    el('div', { class: 'field' }, el('label', { for: 'cert-pem', text: H.pem }), pem),
    el('div', { class: 'field' }, el('label', { for: 'cert-file', text: H.file }), file),
    installErr, el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: H.installButton })));
  install.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    installErr.hidden = true;
    const r = await api('PUT', '/api/v1/certificate', { pem: pem.value });
    if (r.ok) { status.textContent = H.installed; pem.value = ''; refresh(); return; }
    installErr.hidden = false;
    installErr.textContent = r.data && r.data.errors && r.data.errors.length ? sentence(r.data.errors[0].message) : failure(r);
  });

  // CA-issued certificate: delete (the self-signed one is served again).
  const del = el('button', { type: 'button', class: 'danger', id: 'cert-delete', text: H.remove });
  del.addEventListener('click', async () => {
    if (!window.confirm(H.removeConfirm)) return;
    const r = await api('DELETE', '/api/v1/certificate');
    status.textContent = r.ok ? H.removed : failure(r);
    refresh();
  });
  const removeRow = el('div', { class: 'actions', hidden: true }, del);

  section.append(status, info, removeRow,
    el('h3', { text: H.selfSigned }), el('div', { class: 'actions' }, gen),
    csr, install);
  await refresh();
}
