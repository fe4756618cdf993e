// camward UI — the one place that talks to the camera's JSON API.
// Same-origin fetches reuse the credentials the browser entered for the page's own navigation.

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
    return { status: 0, ok: false, data: null };
  }
  let data = null;
  if (r.status !== 204) {
    try { data = await r.json(); } catch (e) { data = null; }
  }
  return { status: r.status, ok: r.ok, data };
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
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
