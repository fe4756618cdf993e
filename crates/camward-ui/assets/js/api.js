// camward UI — the one place that talks to the camera's JSON API, plus small DOM and formatting
// helpers. Same-origin fetches reuse the credentials the browser entered for the page's own
// navigation.

export async function api(method, url, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(url, opts);
  } catch (e) {
    return { status: 0, ok: false, data: null, headers: null };
  }
  let data = null;
  if (r.status !== 204) {
    try { data = await r.json(); } catch (e) { data = null; }
  }
  return { status: r.status, ok: r.ok, data, headers: r.headers };
}

// POSTs (or GETs) and saves the answer as a file named by the camera's Content-Disposition.
export async function downloadFrom(method, url, body, fallbackName) {
  const opts = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r;
  try { r = await fetch(url, opts); } catch (e) { return { status: 0, ok: false, data: null }; }
  if (!r.ok) {
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, ok: false, data };
  }
  const cd = r.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  saveBlob(await r.blob(), m ? m[1] : fallbackName);
  return { status: r.status, ok: true, data: null };
}

export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// `host_auth.allow[2]` and `/streams/stream1/fps` (both forms occur) become `host_auth.allow`
// and `streams.stream1.fps`: the path of the control that shows the error.
export function normalizePath(p) {
  return String(p || '')
    .replace(/^\//, '')
    .replace(/\//g, '.')
    .replace(/\[\d+\]/g, '')
    .replace(/\.\d+(?=\.|$)/g, '');
}

// Small DOM helper: el('p', {class: 'x', text: 'hi'}, child, ...). Never sets HTML from data.
export function el(tag, attrs = {}, ...children) {
  const svg = tag.startsWith('svg:');
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.setAttribute('class', v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// Sizes as people read them (1 MB = 1024 × 1024 bytes, as storage settings count them).
export function humanBytes(n) {
  const v = Number(n) || 0;
  const units = [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]];
  for (const [u, f] of units) {
    if (v >= f) return `${trim(v / f)} ${u}`;
  }
  return `${v} B`;
}

function trim(x) {
  return (Math.round(x * 10) / 10).toLocaleString('en', { maximumFractionDigits: 1 });
}

// A local date and time, as the camera's visitor reads it.
export function localTime(ms) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function seconds(s) {
  const n = Math.max(0, Math.round(s));
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = n % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

// The paths of the API this camera serves (its OpenAPI document), fetched once per page: pages
// and sections for functions the camera lacks are left out instead of probing (a 404 would be a
// console error in the browser).
let paths = null;
export async function apiPaths() {
  if (!paths) {
    paths = api('GET', '/api/v1/openapi.json').then((r) => new Set(r.ok && r.data && r.data.paths ? Object.keys(r.data.paths) : []));
  }
  return paths;
}

// The camera's answer as a sentence for people: its own message without code quotes.
export function plainMessage(r, S) {
  if (r.status === 0) return S.common.network;
  if (r.status === 403) return S.common.forbidden;
  if (r.status === 401) return S.common.unauthorized;
  const msg = r.data && r.data.message ? sentence(r.data.message) : String(r.status);
  return S.common.error(msg);
}

// The API writes messages for people, sometimes with code quotes: drop them, capitalise, end with a stop.
export function sentence(m) {
  let s = String(m || '').replace(/`/g, '').trim();
  if (!s) return s;
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}
