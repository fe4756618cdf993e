// camward's web UI in a real browser (Debian Chromium driven by playwright-core), against the real
// binary: registration, Digest login, Setup pages, Live, access levels, CSRF and CSP.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ADMIN, ARTIFACTS, Camward, attackerSite, context, launch, shot } from './harness.mjs';

const VIEWER = { username: 'viewer', password: 'View-er-2026' };

describe('camward web UI', () => {
  let cam;
  let browser;

  before(async () => {
    cam = await new Camward().start();
    browser = await launch();
  });

  after(async () => {
    if (browser) await browser.close();
    if (cam) await cam.stop();
  });

  test('a weak password is refused on the registration page with the rule named', async () => {
    const ctx = await context(browser);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/`);
      assert.equal(new URL(page.url()).pathname, '/setup/register');
      // A wrong setup code is refused by the camera, beside the code field.
      await page.getByLabel('Setup code').fill('AAAA-BBBB-CCCC');
      await page.getByLabel('User name (1 to 32 characters)').fill(ADMIN.username);
      await page.getByLabel('Password (8 to 32 characters)').fill(ADMIN.password);
      await page.getByLabel('Retype password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.locator('#setup_code-error', { hasText: 'setup_code' }).waitFor();
      assert.equal(await page.getByLabel('Setup code').getAttribute('aria-invalid'), 'true');
      await page.getByLabel('Setup code').fill(cam.setupCode());
      // Too short: the page's own check names the rule, as the user types and on submit.
      await page.getByLabel('Password (8 to 32 characters)').fill('abc1');
      await page.getByLabel('Retype password').fill('abc1');
      await page.locator('li[data-rule="password.length"].rule-bad').waitFor();
      await page.getByRole('button', { name: 'Register' }).click();
      await page.locator('#password-error', { hasText: 'password.length' }).waitFor();
      // Passes every rule the page can check, but the camera knows it is common: its 422 rule shows.
      await page.getByLabel('Password (8 to 32 characters)').fill('password1');
      await page.getByLabel('Retype password').fill('password1');
      await page.getByRole('button', { name: 'Register' }).click();
      await page.locator('#password-error', { hasText: 'password.common' }).waitFor();
      await shot(page, 'register-weak-password');
      assert.equal(await page.getByLabel('Password (8 to 32 characters)').getAttribute('aria-invalid'), 'true');
      const st = cam.curl('GET', '/api/v1/status', { user: null });
      assert.equal(st.status, 401);
      assert.equal(st.json.error, 'needs_setup', 'no administrator may exist after refused attempts');
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      await shot(page, 'register-weak-password-end');
      await ctx.close();
    }
  });

  test('register the administrator on a fresh device, reload, log in with the new credentials', async () => {
    const ctx = await context(browser);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/live`);
      assert.equal(new URL(page.url()).pathname, '/setup/register', 'every page leads to registration');
      // The code the camera printed on its console (and wrote to DATA/setup-code).
      await page.getByLabel('Setup code').fill(cam.setupCode());
      await page.getByLabel('User name (1 to 32 characters)').fill(ADMIN.username);
      await page.getByLabel('Password (8 to 32 characters)').fill(ADMIN.password);
      await page.getByLabel('Retype password').fill(ADMIN.password);
      assert.equal(await page.locator('.rules li.rule-bad').count(), 0);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.locator('#registered').waitFor();
      await shot(page, 'register-done');
      assert.equal(cam.setupCode(), '', 'the setup code file is gone once the administrator exists');
      // Reload: registration is closed for good; without credentials the Live page asks for them.
      // (Headless Chromium without credentials answers the login prompt with "cancel".)
      const reloaded = await page.reload().then((r) => r, (e) => e);
      if (reloaded instanceof Error) assert.match(reloaded.message, /ERR_INVALID_AUTH_CREDENTIALS/);
      else assert.equal(reloaded.status(), 401);
      const bare = await fetch(`${cam.base}/live`, { redirect: 'manual' });
      assert.equal(bare.status, 401);
      assert.match(bare.headers.get('www-authenticate') || '', /Digest/);
      const again = await fetch(`${cam.base}/setup/register`, { redirect: 'manual' });
      assert.equal(again.headers.get('location'), '/live', 'registration is closed once an administrator exists');
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      await ctx.close();
    }
    const auth = await context(browser, ADMIN);
    const p2 = await auth.newPage();
    try {
      const resp = await p2.goto(`${cam.base}/`);
      assert.equal(resp.status(), 200);
      assert.equal(new URL(p2.url()).pathname, '/live');
      await p2.locator('#who', { hasText: ADMIN.username }).waitFor();
      await p2.locator('#setup-menu').waitFor();
      await shot(p2, 'login-live');
    } finally {
      await auth.close();
    }
  });

  test('Host auth. page: a field error shows beside the field; a change reaches GET /api/v1/config', async () => {
    cam.ensureAdmin();
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/setup/host_auth`);
      const allow = page.getByLabel(/Allowed IP addresses/);
      await page.getByRole('checkbox', { name: 'Host auth.' }).check();
      await allow.fill('10.0.0.5/8');
      await page.getByRole('button', { name: 'Set' }).click();
      await page.locator('#f-host_auth-allow-error', { hasText: 'host_auth.allow.invalid' }).waitFor();
      await shot(page, 'host-auth-error');
      assert.equal(cam.curl('GET', '/api/v1/config').json.host_auth.enabled, false, 'nothing applied on 422');
      await allow.fill('127.0.0.0/8\n::1');
      await page.getByRole('button', { name: 'Set' }).click();
      await page.locator('#saved', { hasText: 'Settings saved.' }).waitFor();
      await shot(page, 'host-auth-saved');
      const cfg = cam.curl('GET', '/api/v1/config').json;
      assert.deepEqual(cfg.host_auth, { enabled: true, allow: ['127.0.0.0/8', '::1'] });
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      cam.curl('PATCH', '/api/v1/config', { body: { host_auth: null } });
      await ctx.close();
    }
  });

  test('Image page: a stream setting changed in the browser reaches GET /api/v1/config', async (t) => {
    cam.ensureAdmin();
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/setup/image`);
      const cfg = cam.curl('GET', '/api/v1/config').json;
      if (!cfg.streams) {
        await page.locator('#not-available').waitFor();
        await shot(page, 'image-not-available');
        t.skip('this build has no `streams` section: the page says "not available in this version"');
        return;
      }
      const fps = page.locator('#f-streams-stream2-fps');
      const next = cfg.streams.stream2.fps === 10 ? 12 : 10;
      await fps.fill('99');
      await page.getByRole('button', { name: 'Set' }).click();
      await page.locator('#f-streams-stream2-fps-error').waitFor();
      await shot(page, 'image-error');
      await fps.fill(String(next));
      await page.getByRole('button', { name: 'Set' }).click();
      await page.locator('#saved', { hasText: 'Settings saved.' }).waitFor();
      await shot(page, 'image-saved');
      assert.equal(cam.curl('GET', '/api/v1/config').json.streams.stream2.fps, next);
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      await ctx.close();
    }
  });

  test('the Live page shows a moving image', async () => {
    cam.ensureAdmin();
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/live`);
      const img = page.locator('#live-image');
      await page.waitForFunction(() => {
        const i = document.getElementById('live-image');
        const m = document.getElementById('live-msg');
        return (i && i.naturalWidth > 0) || (m && m.textContent !== '');
      }, null, { timeout: 20000 });
      const msg = await page.locator('#live-msg').textContent();
      assert.equal(msg, '', `the Live page reports: ${msg}`);
      await page.waitForTimeout(500);
      const a = await img.screenshot({ path: path.join(ARTIFACTS, 'live-1.png') });
      await page.waitForTimeout(1000);
      const b = await img.screenshot({ path: path.join(ARTIFACTS, 'live-2.png') });
      assert.ok(a.length > 1000, 'the first screenshot holds a picture');
      assert.notDeepEqual(a, b, 'two screenshots 1 s apart must differ');
      await shot(page, 'live-page');
      // Snapshot link and full screen control are present and labelled.
      assert.match(await page.getByRole('link', { name: 'Snapshot' }).getAttribute('href'), /snapshot\.jpg\?stream=1/);
      await page.getByRole('button', { name: 'Full screen' }).waitFor();
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      await shot(page, 'live-page-end');
      await ctx.close();
    }
  });

  test('a live-only user sees no Setup menu and gets 403 on a Setup URL typed by hand', async () => {
    cam.ensureAdmin();
    const made = cam.curl('POST', '/api/v1/users', { body: { ...VIEWER, level: 'live' } });
    assert.ok(made.status === 201 || made.status === 409, `create viewer: ${made.status} ${made.text}`);
    const ctx = await context(browser, VIEWER);
    const page = await ctx.newPage();
    try {
      const r = await page.goto(`${cam.base}/live`);
      assert.equal(r.status(), 200);
      await page.locator('#who', { hasText: VIEWER.username }).waitFor();
      await page.locator('#menu a', { hasText: 'Live' }).waitFor();
      assert.equal(await page.locator('#setup-menu').count(), 0);
      assert.equal(await page.locator('#menu a[href^="/setup"]').count(), 0);
      await shot(page, 'viewer-live');
      const s = await page.goto(`${cam.base}/setup/host_auth`);
      assert.equal(s.status(), 403);
      await shot(page, 'viewer-setup-403');
      const api = await page.evaluate(async () => (await fetch('/api/v1/config')).status);
      assert.equal(api, 403);
    } finally {
      await ctx.close();
    }
  });

  test('a cross-site form post to a state-changing endpoint is refused', async () => {
    cam.ensureAdmin();
    // text/plain is the one form encoding that can carry a JSON-looking body.
    const html = `<!doctype html><html><body>
<form id="f" method="POST" action="${cam.base}/api/v1/users" enctype="text/plain">
<input type="hidden" name='{"username":"evil","level":"admin","password":"Ev1l-pass-2026","x":"' value='"}'>
</form><script>document.getElementById('f').submit();</script></body></html>`;
    const site = await attackerSite(html);
    // The victim is logged in: the browser holds the administrator's credentials for the camera.
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/live`);
      for (const host of ['localhost', '127.0.0.1']) {
        const [resp] = await Promise.all([
          page.waitForResponse((r) => r.url().startsWith(`${cam.base}/api/v1/users`), { timeout: 15000 }),
          page.goto(`http://${host}:${site.port}/`),
        ]);
        assert.equal(resp.status(), 403, `attacker at ${host}`);
        assert.match(await resp.text(), /csrf\.cross_site/);
        await shot(page, `csrf-refused-${host}`);
      }
      const users = cam.curl('GET', '/api/v1/users').json.users.map((u) => u.username);
      assert.ok(!users.includes('evil'), `users: ${users}`);
      // The same request from the camera's own page goes through (and is then judged on its merits).
      await page.goto(`${cam.base}/live`);
      const own = await page.evaluate(async () => (await fetch('/api/v1/config', {
        method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: '{"user_auth":{"guest":false}}',
      })).status);
      assert.equal(own, 200);
    } finally {
      await ctx.close();
      await site.stop();
    }
  });

  test('every UI page carries the strict CSP and is not framable', async () => {
    cam.ensureAdmin();
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      for (const p of ['/live', '/setup/user_auth', '/setup/status', '/setup/log', '/setup/smtp', '/setup/https', '/setup/sd', '/setup/basic']) {
        const r = await page.goto(`${cam.base}${p}`);
        assert.equal(r.status(), 200, p);
        const h = r.headers();
        assert.match(h['content-security-policy'], /default-src 'self'.*script-src 'self'.*frame-ancestors 'none'/, p);
        assert.equal(h['x-frame-options'], 'DENY', p);
        await page.locator('main h1').waitFor();
        if (p !== '/live') await page.waitForLoadState('networkidle');
        await shot(page, `page-${p.split('/').pop()}`);
      }
      // A page whose function is not built shows so, and no form.
      const cfg = cam.curl('GET', '/api/v1/config').json;
      if (!cfg.qos) {
        await page.goto(`${cam.base}/setup/qos`);
        await page.locator('#not-available', { hasText: 'not available in this version' }).waitFor();
        assert.equal(await page.locator('main form').count(), 0);
      }
      // No password is ever put into a page: every password input starts empty.
      await page.goto(`${cam.base}/setup/user_auth`);
      await page.locator('#users tbody tr').first().waitFor();
      const values = await page.locator('input[type=password]').evaluateAll((els) => els.map((e) => e.value));
      assert.ok(values.every((v) => v === ''), `password inputs: ${values}`);
      assert.ok(!(await page.content()).includes(ADMIN.password));
      await shot(page, 'user-auth-page');
      assert.deepEqual(ctx.cspViolations, []);
    } finally {
      await ctx.close();
    }
  });
});
