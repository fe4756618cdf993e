// Harness for camward's browser tests: starts the real binary on loopback ports with a temporary data
// directory, launches Debian's Chromium through playwright-core, and talks to the API with curl --digest.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.CAMWARD_BIN || path.join(REPO, 'target', 'debug', 'camward');
export const ARTIFACTS = path.join(REPO, 'tests', 'artifacts', 'ui');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ADMIN = { username: 'installer', password: 'Cam-ward-2026' };

mkdirSync(ARTIFACTS, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns something truthy, which it returns; throws after `timeoutMs`
// naming `what` (every wait in the UI tests is bounded).
export async function until(what, fn, timeoutMs = 30000, stepMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

// One camward daemon with its own data directory and ports.
export class Camward {
  // `https`: give HTTPS and RTSPS loopback addresses, for tests that switch Connection to HTTPS.
  async start({ https = false } = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'camward-ui-'));
    this.data = path.join(this.dir, 'data');
    this.httpPort = await freePort();
    this.rtspPort = await freePort();
    this.base = `http://127.0.0.1:${this.httpPort}`;
    this.logPath = path.join(this.dir, 'camward.log');
    const log = openSync(this.logPath, 'a');
    // FTP access listens on loopback too, should a test allow it.
    this.ftpPort = await freePort();
    // And the SNMP agent (UDP; a port free for TCP is as good a guess as any on loopback).
    this.snmpPort = await freePort();
    const args = ['run', '--data', this.data, '--http', `127.0.0.1:${this.httpPort}`, '--rtsp', `127.0.0.1:${this.rtspPort}`,
      '--ftp', `127.0.0.1:${this.ftpPort}`, '--snmp', `127.0.0.1:${this.snmpPort}`,
      // UPnP's SSDP search, once a form switches auto port forwarding on, stays on this machine.
      '--upnp-ssdp', '127.0.0.1:9'];
    if (https) {
      this.httpsPort = await freePort();
      this.rtspsPort = await freePort();
      this.httpsBase = `https://127.0.0.1:${this.httpsPort}`;
      args.push('--https', `127.0.0.1:${this.httpsPort}`, '--rtsps', `127.0.0.1:${this.rtspsPort}`);
    }
    // No discovery window (a test daemon must not multicast on the machine's networks), and no
    // test daemon ever sets the machine's clock: clock requests are only recorded.
    this.proc = spawn(BIN, args, { stdio: ['ignore', log, log], env: { ...process.env, CAMWARD_DISCOVERY_WINDOW_SECS: '0', CAMWARD_CLOCK_SETTER: 'record' } });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`camward exited: ${this.log().slice(-2000)}`);
      try {
        await fetch(`${this.base}/api/v1/status`);
        return this;
      } catch (e) {
        await sleep(100);
      }
    }
    throw new Error(`camward did not answer in time: ${this.log().slice(-2000)}`);
  }

  log() {
    try { return readFileSync(this.logPath, 'utf8'); } catch (e) { return ''; }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      const deadline = Date.now() + 10000;
      while (this.proc.exitCode === null && Date.now() < deadline) await sleep(50);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  // The API through curl --digest: a real non-browser client (no Origin, no Sec-Fetch-Site).
  // `base`: another address of the camera (its HTTPS one; its certificate is not checked here).
  curl(method, url, { user = ADMIN, body, base = this.base } = {}) {
    const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '--max-time', '20'];
    if (base.startsWith('https:')) args.push('-k');
    if (user) args.push('--digest', '-u', `${user.username}:${user.password}`);
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
    args.push(`${base}${url}`);
    const out = execFileSync('curl', args, { encoding: 'utf8' });
    const i = out.lastIndexOf('\n');
    const text = out.slice(0, i);
    let json = null;
    try { json = JSON.parse(text); } catch (e) { json = null; }
    return { status: Number(out.slice(i + 1)), json, text };
  }

  // The one-time setup code, as the installer reads it at the device (DATA/setup-code); '' once
  // an administrator exists (the file is gone).
  setupCode() {
    try { return readFileSync(path.join(this.dir, 'data', 'setup-code'), 'utf8').trim(); } catch (e) { return ''; }
  }

  // Registers the administrator unless one exists, so later tests do not depend on earlier ones.
  ensureAdmin() {
    const r = this.curl('POST', '/api/v1/setup', { user: null, body: { ...ADMIN, setup_code: this.setupCode() } });
    if (r.status !== 201 && r.status !== 409) throw new Error(`setup failed: ${r.status} ${r.text}`);
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A browser context that collects CSP violations and every console error and page error (a
// failed request is a console error in Chromium, so a 404 of the UI's own fetches shows here).
export async function context(browser, credentials, opts = {}) {
  const ctx = await browser.newContext({ ...(credentials ? { httpCredentials: credentials } : {}), ignoreHTTPSErrors: true, acceptDownloads: true, ...opts });
  ctx.cspViolations = [];
  ctx.consoleErrors = [];
  ctx.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) ctx.cspViolations.push(m.text());
    if (m.type() === 'error') ctx.consoleErrors.push(`${m.location().url || ''}: ${m.text()}`);
  });
  ctx.on('page', (p) => p.on('pageerror', (e) => ctx.consoleErrors.push(`page error: ${e.message}`)));
  return ctx;
}

export async function shot(page, name, target) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  try {
    await (target || page).screenshot({ path: file, fullPage: !target });
  } catch (e) {
    // A missing screenshot must not hide the test's own result.
  }
  return file;
}

// Serves `html` as index.html from a second origin (Python's http.server): the attacker's site.
export async function attackerSite(html) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'camward-attacker-'));
  writeFileSync(path.join(dir, 'index.html'), html);
  const port = await freePort();
  const proc = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir],
    { stdio: 'ignore' });
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    try { await fetch(`http://127.0.0.1:${port}/`); break; } catch (e) { await sleep(100); }
  }
  return {
    port,
    async stop() {
      proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Reads the frame counter the test pattern burns into its top-right corner ("#NNNNNN", 5x7
// glyphs scaled by height/90) from the H.264 <video> and from an MJPEG <img> of the same stream,
// at the same instants.
export async function measureDelays(page, stream = 2, mjpegQuery = '') {
  return page.evaluate(async ([n, q]) => {
    const GLYPHS = {
      0: [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e], 1: [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
      2: [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f], 3: [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
      4: [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02], 5: [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
      6: [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e], 7: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
      8: [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e], 9: [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
    };
    const read = (src, w, h) => {
      const c = document.createElement('canvas');
      c.width = w; c.height = h;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(src, 0, 0, w, h);
      const px = g.getImageData(0, 0, w, h).data;
      const s = Math.max(1, Math.floor(h / 90));
      const cw = 7 * 6 * s + 2 * s;
      const x0 = w - cw - 2 * s;
      const y0 = 2 * s;
      let n = '';
      for (let i = 1; i < 7; i++) {
        const gx = x0 + s + i * 6 * s;
        const rows = [];
        for (let r = 0; r < 7; r++) {
          let bits = 0;
          for (let col = 0; col < 5; col++) {
            const x = gx + col * s + (s >> 1);
            const y = y0 + s + r * s + (s >> 1);
            const o = (y * w + x) * 4;
            if ((px[o] + px[o + 1] + px[o + 2]) / 3 > 128) bits |= 0x10 >> col;
          }
          rows.push(bits);
        }
        const d = Object.entries(GLYPHS).find(([, g2]) => g2.every((b, k) => b === rows[k]));
        if (!d) return null;
        n += d[0];
      }
      return Number(n);
    };
    const video = document.getElementById('live-video');
    const img = document.createElement('img');
    img.src = `/api/v1/mjpeg?stream=${n}${q}`;
    img.hidden = true;
    document.body.append(img);
    await new Promise((r) => setTimeout(r, 3000));
    const info = (await (await fetch('/api/v1/streams')).json()).streams.find((s) => s.stream === n);
    // At each instant: the H.264 picture on screen was captured at `captureMs` (the page's prft
    // mapping); the MJPEG picture is (frame difference) / fps older or newer than it.
    const h264 = [];
    const mjpeg = [];
    for (let i = 0; i < 60 && h264.length < 25; i++) {
      const now = performance.timeOrigin + performance.now();
      const cap = Number(video.dataset.captureMs);
      const v = read(video, video.videoWidth, video.videoHeight);
      const m = read(img, img.naturalWidth, img.naturalHeight);
      if (v !== null && m !== null && cap) {
        h264.push(now - cap);
        mjpeg.push(now - cap + ((v - m) * 1000) / info.fps);
      }
      await new Promise((r) => setTimeout(r, 120));
    }
    img.remove();
    const median = (a) => { const s = [...a].sort((x, y) => x - y); return Math.round(s[s.length >> 1]); };
    return { samples: h264.length, h264_ms: median(h264), mjpeg_ms: median(mjpeg), fps: info.fps, size: `${info.width}x${info.height}` };
  }, [stream, mjpegQuery]);
}
