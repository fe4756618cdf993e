// camward UI — the shell of /live and /setup/...: who is signed in, the menu allowed to them, the page.
// The server already refused pages above the user's level; the menu only hides what would be refused.

import { api, el } from './api.js';
import { S } from './strings.js';
import { MENU, findPage } from './menu.js';
import { renderLive } from './live.js';
import { renderConfigPage, renderLog, renderReset, renderStatus, renderUpgrade } from './pages.js';

const main = document.getElementById('main');

function menu(status, current) {
  const link = (href, text, id) => el('a', { href, text, 'aria-current': id === current ? 'page' : null });
  const items = [el('li', {}, link('/live', S.menu.live, 'live'))];
  if (status.level === 'admin') {
    const groups = MENU.map((g) => el('li', {},
      el('span', { class: 'group', id: `g-${g.group}`, text: S.menu.groups[g.group] }),
      el('ul', { 'aria-labelledby': `g-${g.group}` }, g.pages.map((p) => el('li', {}, link(`/setup/${p.id}`, S.pages[p.id], p.id))))));
    items.push(el('li', { id: 'setup-menu' },
      el('span', { class: 'group', id: 'g-setup', text: S.menu.setup }),
      el('ul', { 'aria-labelledby': 'g-setup' }, groups)));
  }
  const nav = document.getElementById('menu');
  nav.setAttribute('aria-label', S.menu.label);
  nav.replaceChildren(el('ul', {}, items));
}

async function start() {
  document.documentElement.lang = S.lang;
  document.getElementById('skip-link').textContent = S.skip;
  const st = await api('GET', '/api/v1/status');
  if (!st.ok) {
    main.replaceChildren(el('p', { class: 'error', role: 'alert', text: st.status === 401 ? S.common.unauthorized : S.common.error(st.status, (st.data && st.data.message) || '') }));
    return;
  }
  const status = st.data;
  document.getElementById('who').textContent = S.signedInAs(status.user || S.guest, S.levels[status.level] || status.level);
  const path = location.pathname;
  if (path === '/live') {
    menu(status, 'live');
    document.title = `${S.app} — ${S.live.title}`;
    renderLive(main);
    return;
  }
  const id = path.replace(/^\/setup\/?/, '') || 'basic';
  const page = findPage(id);
  menu(status, id);
  if (!page) { main.replaceChildren(el('p', { text: S.common.notAvailable })); return; }
  document.title = `${S.app} — ${S.pages[id]}`;
  const h1 = el('h1', { text: S.pages[id] });
  if (page.kind === 'log') return renderLog(main, h1);
  if (page.kind === 'status') return renderStatus(main, h1, status);
  if (page.kind === 'reset') return renderReset(main, h1);
  if (page.kind === 'upgrade') return renderUpgrade(main, h1);
  return renderConfigPage(main, h1, page);
}

start();
