// camward UI — the shell of /live, /recordings and /setup/...: who is signed in, the menu allowed
// to them (pages whose function this camera lacks are left out, never shown as dead ends), log
// out, and the page itself. The server already refused pages above the user's level; the menu
// only hides what would be refused.

import { api, apiPaths, el } from './api.js';
import { S } from './strings.js';
import { GROUPS, PAGES, available, findPage } from './layouts.js';
import { loadSchema } from './schema.js';
import { renderLive } from './live.js';
import { renderRecordings } from './recordings.js';
import { renderPage } from './pages.js';

const main = document.getElementById('main');
const RANK = { live: 1, control: 2, admin: 3 };

async function visiblePages(status) {
  if (status.level !== 'admin') return [];
  const [schema, paths] = await Promise.all([loadSchema(), apiPaths()]);
  return PAGES.filter((p) => available(p, schema, paths));
}

function menu(status, pages, current) {
  const link = (href, text, id) => el('a', { href, text, 'aria-current': id === current ? 'page' : null });
  const items = [el('li', {}, link('/live', S.menu.live, 'live'))];
  if (RANK[status.level] >= RANK.control) items.push(el('li', { id: 'recordings-menu' }, link('/recordings', S.menu.recordings, 'recordings')));
  if (status.level === 'admin') {
    const groups = GROUPS.map((g) => [g, pages.filter((p) => p.group === g)]).filter(([, ps]) => ps.length)
      .map(([g, ps]) => el('li', {},
        el('span', { class: 'group', id: `g-${g}`, text: S.menu.groups[g] }),
        el('ul', { 'aria-labelledby': `g-${g}` }, ps.map((p) => el('li', {}, link(`/setup/${p.id}`, S.pages[p.id], p.id))))));
    items.push(el('li', { id: 'setup-menu' },
      el('span', { class: 'group', id: 'g-setup', text: S.menu.setup }),
      el('ul', { 'aria-labelledby': 'g-setup' }, groups)));
  }
  const nav = document.getElementById('menu');
  nav.setAttribute('aria-label', S.menu.label);
  nav.replaceChildren(el('ul', {}, items));
}

// Log out: the browser forgets Digest credentials when a request with other ones is refused;
// the camera answers /api/v1/logout with 401 without checking anything (no failed login counts).
function logout() {
  const x = new XMLHttpRequest();
  x.open('GET', '/api/v1/logout', true, 'logout', 'logout');
  const done = () => location.assign('/logout');
  x.onloadend = done;
  try { x.send(); } catch (e) { done(); }
}

function header() {
  const toggle = document.getElementById('menu-toggle');
  const nav = document.getElementById('menu');
  toggle.textContent = S.menuButton;
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    nav.classList.toggle('open', open);
  });
  const out = document.getElementById('logout');
  out.textContent = S.logout;
  out.addEventListener('click', logout);
}

async function start() {
  document.documentElement.lang = S.lang;
  document.getElementById('skip-link').textContent = S.skip;
  header();
  const st = await api('GET', '/api/v1/status');
  if (!st.ok) {
    main.replaceChildren(el('p', { class: 'error', role: 'alert', text: st.status === 401 ? S.common.unauthorized : S.common.network }));
    return;
  }
  const status = st.data;
  document.getElementById('who').textContent = S.signedInAs(status.user || S.guest, S.levels[status.level] || '');
  const pages = await visiblePages(status);
  const path = location.pathname;
  if (path === '/live') {
    menu(status, pages, 'live');
    document.title = `${S.app} — ${S.live.title}`;
    renderLive(main);
    return;
  }
  if (path === '/recordings') {
    menu(status, pages, 'recordings');
    document.title = `${S.app} — ${S.recordings.title}`;
    renderRecordings(main, el('h1', { text: S.recordings.title }));
    return;
  }
  const id = path.replace(/^\/setup\/?/, '') || 'basic';
  const page = findPage(id);
  menu(status, pages, id);
  if (!page || !pages.includes(page)) {
    main.replaceChildren(el('h1', { text: S.common.notFound }));
    return;
  }
  document.title = `${S.app} — ${S.pages[id]}`;
  renderPage(main, el('h1', { text: S.pages[id] }), page);
}

start();
