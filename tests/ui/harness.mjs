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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One camward daemon with its own data directory and ports.
export class Camward {
  async start() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'camward-ui-'));
    this.httpPort = await freePort();
    this.rtspPort = await freePort();
    this.base = `http://127.0.0.1:${this.httpPort}`;
    this.logPath = path.join(this.dir, 'camward.log');
    const log = openSync(this.logPath, 'a');
    this.proc = spawn(BIN, ['run', '--data', path.join(this.dir, 'data'),
      '--http', `127.0.0.1:${this.httpPort}`, '--rtsp', `127.0.0.1:${this.rtspPort}`],
    { stdio: ['ignore', log, log] });
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
  curl(method, url, { user = ADMIN, body } = {}) {
    const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '--max-time', '20'];
    if (user) args.push('--digest', '-u', `${user.username}:${user.password}`);
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
    args.push(`${this.base}${url}`);
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

// A browser context that collects CSP violations reported on the console.
export async function context(browser, credentials) {
  const ctx = await browser.newContext(credentials ? { httpCredentials: credentials } : {});
  ctx.cspViolations = [];
  ctx.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) ctx.cspViolations.push(m.text());
  });
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
