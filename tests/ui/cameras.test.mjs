// Recorder mode in the web UI (paper §3.8, §3.2's per-camera Live-only access), in a real browser
// against the real binary: an upstream RTSP camera (GStreamer's RTSP server on loopback,
// tests/integration/gst_rtsp_camera.py) picked on the Live page plays as H.264 and as MJPEG with its
// RTSP address; a Live-only user is offered only the cameras shared with them; the Recordings page
// filters to the camera and lists, verifies and offers its recordings for download.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, openSync } from 'node:fs';
import path from 'node:path';
import { ADMIN, ARTIFACTS, Camward, REPO, context, freePort, launch, shot, sleep, until } from './harness.mjs';

const VIEWER = { username: 'lobbywatch', password: 'Lobby-watch-2026' };
const CAMERA_SCRIPT = path.join(REPO, 'tests', 'integration', 'gst_rtsp_camera.py');
const SYSTEM_PY = '/usr/bin/python3';

// The GStreamer camera: 320x240 at 10 fps; resolves once it prints that it listens.
async function gstCamera() {
  const port = await freePort();
  // Its stderr (GStreamer's own warnings and aborts) is kept with the test's artifacts.
  const log = openSync(path.join(ARTIFACTS, 'gst-camera.log'), 'a');
  const proc = spawn(SYSTEM_PY, [CAMERA_SCRIPT, '--port', String(port), '--fps', '10', '--gop', '10'], { stdio: ['ignore', 'pipe', log] });
  const line = await Promise.race([
    new Promise((resolve) => createInterface({ input: proc.stdout }).once('line', resolve)),
    sleep(20000).then(() => ''),
  ]);
  if (!line.includes('"ready": true')) {
    proc.kill('SIGTERM');
    throw new Error(`GStreamer camera did not listen: ${line}`);
  }
  return { url: `rtsp://127.0.0.1:${port}/cam`, stop: () => proc.kill('SIGTERM') };
}

// python3-gi with gst-rtsp-server comes with scripts/setup; without it there is no camera to pull.
const haveGst = existsSync(SYSTEM_PY) && (await new Promise((resolve) => {
  const p = spawn(SYSTEM_PY, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"], { stdio: 'ignore' });
  p.on('exit', (code) => resolve(code === 0));
}));

describe('recorder mode in the web UI', { skip: haveGst ? false : 'python3-gi with gir1.2-gst-rtsp-server-1.0 is not installed (scripts/setup)' }, () => {
  let cam;
  let upstream;
  let browser;

  before(async () => {
    upstream = await gstCamera();
    cam = await new Camward().start();
    cam.ensureAdmin();
    const made = cam.curl('POST', '/api/v1/users', { body: { ...VIEWER, level: 'live' } });
    assert.equal(made.status, 201, made.text);
    // Two entries for the one camera: "lobby" shared with the Live-only user, "yard" not; both
    // recorded in 10 s files.
    const r = cam.curl('PATCH', '/api/v1/config', {
      body: {
        recording: { enabled: false, file_seconds: 10 },
        cameras: {
          cameras: [
            { name: 'lobby', url: upstream.url, reconnect_max_secs: 1, live_users: [VIEWER.username] },
            { name: 'yard', url: upstream.url, reconnect_max_secs: 1 },
          ],
        },
      },
    });
    assert.equal(r.status, 200, r.text);
    // The status (with each camera's last error) and the daemon's log go into the failure, which
    // is all a CI run keeps of a pull that never connected.
    let last = '';
    await until('both cameras connected', () => {
      const s = cam.curl('GET', '/api/v1/cameras/status');
      last = s.text;
      return s.status === 200 && s.json.filter((c) => c.connected).length === 2;
    }, 45000).catch((e) => {
      throw new Error(`${e.message}; last status ${last}; log:\n${cam.log().slice(-3000)}`);
    });
    browser = await launch();
  });

  after(async () => {
    if (browser) await browser.close();
    if (cam) await cam.stop();
    if (upstream) upstream.stop();
  });

  test('Live page: an upstream camera picked from the list plays as H.264 and MJPEG, with its RTSP address and snapshot', async () => {
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.goto(`${cam.base}/live`);
      await page.locator('#live-source option[value="lobby"]').waitFor({ state: 'attached' });
      assert.deepEqual(await page.locator('#live-source option').evaluateAll((os) => os.map((o) => o.value)), ['', 'lobby', 'yard']);
      await page.getByLabel('Camera', { exact: true }).selectOption('lobby');
      const t0 = await until('the camera plays in the <video>', () => page.evaluate(() => {
        const v = document.getElementById('live-video');
        return !v.hidden && v.currentTime > 0.2 ? v.currentTime : 0;
      }), 20000);
      await until('its picture advances', () => page.evaluate((t) => document.getElementById('live-video').currentTime > t + 1, t0), 20000);
      assert.deepEqual(await page.evaluate(() => [document.getElementById('live-video').videoWidth, document.getElementById('live-video').videoHeight]), [320, 240]);
      assert.equal(await page.locator('#viewer').getAttribute('data-source'), 'lobby');
      assert.equal(await page.locator('#url-rtsp').inputValue(), `rtsp://127.0.0.1:${cam.rtspPort}/cameras/lobby`);
      assert.equal(await page.locator('#snapshot').getAttribute('href'), '/api/v1/cameras/lobby/snapshot.jpg');
      assert.match(await page.locator('#stream-details').innerText(), /lobby\s+H\.264\s+320x240/);
      await shot(page, 'camera-live-h264');
      // The MJPEG view of the same camera.
      await page.getByRole('radio', { name: 'MJPEG' }).check();
      await until('the MJPEG picture loads', () => page.evaluate(() => {
        const img = document.getElementById('live-image');
        return !img.hidden && img.src.endsWith('/api/v1/cameras/lobby/mjpeg') && img.naturalWidth === 320;
      }), 20000);
      // The snapshot link is a JPEG of the camera's size.
      const size = await page.evaluate(async () => {
        const img = new Image();
        img.src = document.getElementById('snapshot').href;
        await img.decode();
        return [img.naturalWidth, img.naturalHeight];
      });
      assert.deepEqual(size, [320, 240]);
      // Back to this camera's own stream.
      await page.getByLabel('Camera', { exact: true }).selectOption('');
      await until('this camera again', () => page.evaluate(() => document.getElementById('live-image').src.includes('/api/v1/mjpeg?stream=1')));
      assert.deepEqual(ctx.consoleErrors, []);
    } finally {
      await ctx.close();
    }
  });

  test('Live page: the camera list follows cameras added and removed while the page is open', async () => {
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    const cameras = (extra) => cam.curl('PATCH', '/api/v1/config', {
      body: {
        cameras: {
          cameras: [
            { name: 'lobby', url: upstream.url, reconnect_max_secs: 1, live_users: [VIEWER.username] },
            { name: 'yard', url: upstream.url, reconnect_max_secs: 1 },
            ...extra,
          ],
        },
      },
    });
    const options = () => page.locator('#live-source option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
    try {
      await page.goto(`${cam.base}/live`);
      await page.locator('#live-source option[value="yard"]').waitFor({ state: 'attached' });
      // Added by the installer while the operator watches: port 9 on loopback, where nothing
      // listens, so the new camera stays unconnected and says so.
      let r = cameras([{ name: 'gate', url: 'rtsp://127.0.0.1:9/cam', reconnect_max_secs: 1 }]);
      assert.equal(r.status, 200, r.text);
      await until('the added camera is offered, marked not connected', async () => {
        const o = await options();
        return o.some(([v, t]) => v === 'gate' && t === 'gate (not connected)') && o;
      }, 25000);
      assert.deepEqual((await options()).map(([v]) => v), ['', 'lobby', 'yard', 'gate']);
      r = cameras([]);
      assert.equal(r.status, 200, r.text);
      // The others stay, each marked as connected once it is (a settings change may reconnect it).
      await until('the removed camera gone, the others listed as connected', async () => {
        const o = await options();
        return JSON.stringify(o.slice(1)) === JSON.stringify([['lobby', 'lobby'], ['yard', 'yard']]);
      }, 25000);
      assert.equal((await options())[0][0], '');
      assert.deepEqual(ctx.consoleErrors, []);
    } finally {
      await ctx.close();
      await until('both cameras connected again', () => {
        const s = cam.curl('GET', '/api/v1/cameras/status');
        return s.status === 200 && s.json.filter((c) => c.connected).length === 2;
      });
    }
  });

  test('Status page: each camera with its state, picture and who watches it', async () => {
    const ctx = await context(browser, ADMIN);
    const watcher = await ctx.newPage();
    const page = await ctx.newPage();
    try {
      // Someone watches camera lobby on the Live page in another tab (H.264 in the browser).
      await watcher.goto(`${cam.base}/live`);
      await watcher.locator('#live-source option[value="lobby"]').waitFor({ state: 'attached' });
      await watcher.getByLabel('Camera', { exact: true }).selectOption('lobby');
      await page.setViewportSize({ width: 1400, height: 900 });
      const row = (name) => page.locator(`#camera-state tbody tr[data-camera="${name}"]`);
      await until('the Status page counts the browser viewer of lobby', async () => {
        await page.goto(`${cam.base}/setup/status`);
        await row('yard').waitFor();
        return /H\.264 \(browser\): 1/.test(await row('lobby').innerText());
      }, 20000, 1000);
      for (const name of ['lobby', 'yard']) {
        const cells = await row(name).locator('td').allInnerTexts();
        assert.equal(cells[0], name);
        assert.equal(cells[1], 'Connected');
        assert.match(cells[2], /^320x240, \d+ fps, \d+ kbit\/s$/);
        assert.equal(cells[3], 'Recording');
      }
      assert.equal((await row('yard').locator('td').allInnerTexts())[5], 'none');
      await shot(page, 'camera-status');
      assert.deepEqual(ctx.consoleErrors, []);
    } finally {
      await ctx.close();
    }
  });

  test('a Live-only user is offered only the cameras shared with them', async () => {
    const ctx = await context(browser, VIEWER);
    const page = await ctx.newPage();
    try {
      await page.goto(`${cam.base}/live`);
      await page.locator('#live-source option[value="lobby"]').waitFor({ state: 'attached' });
      assert.deepEqual(await page.locator('#live-source option').evaluateAll((os) => os.map((o) => o.value)), ['', 'lobby']);
      await page.getByLabel('Camera', { exact: true }).selectOption('lobby');
      await until('the shared camera plays', () => page.evaluate(() => document.getElementById('live-video').currentTime > 0.5), 20000);
      const refused = await page.evaluate(async () => (await fetch('/api/v1/cameras/yard/snapshot.jpg')).status);
      assert.equal(refused, 403);
      await shot(page, 'camera-live-viewer');
    } finally {
      await ctx.close();
    }
  });

  test('Recordings page: filtered to a camera it lists, verifies and offers its recordings', async () => {
    await until('a finished recording of camera lobby', () => {
      const r = cam.curl('GET', '/api/v1/recordings?camera=lobby');
      return r.status === 200 && r.json.some((x) => x.state === 'finished');
    }, 40000, 500);
    const ctx = await context(browser, ADMIN);
    const page = await ctx.newPage();
    try {
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.goto(`${cam.base}/recordings`);
      await page.locator('#rec-camera option[value="lobby"]').waitFor({ state: 'attached' });
      // Unfiltered, both cameras' recordings are listed with their source.
      await page.locator('#recordings tbody tr[data-camera="yard"]').first().waitFor();
      await page.getByLabel('Source', { exact: true }).first().selectOption('lobby');
      await page.getByRole('button', { name: 'Show', exact: true }).click();
      await until('only lobby rows', async () => {
        const cams = await page.locator('#recordings tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.camera));
        return cams.length > 0 && cams.every((c) => c === 'lobby');
      }, 15000);
      const row = page.locator('#recordings tbody tr', { has: page.locator('td', { hasText: /^\d+ s$/ }) }).last();
      assert.equal(await page.locator('#recordings tbody tr td.source').first().innerText(), 'lobby');
      assert.equal(await page.locator('svg.timeline[data-source="lobby"]').count(), 1);
      assert.equal(await page.locator('svg.timeline[data-source="local"]').count(), 0);
      // The camera's own check of the file (an unsigned camera: it says so) and its download link.
      await until('a verdict', async () => {
        const v = await page.locator('#recordings tbody tr td.verdict[data-verdict]').evaluateAll((cs) => cs.map((c) => c.dataset.verdict));
        return v.includes('unsigned');
      }, 20000);
      const id = await row.getAttribute('data-id');
      assert.equal(await row.locator('a', { hasText: 'Download' }).getAttribute('href'), `/api/v1/recordings/${id}.mp4`);
      // The recording plays in the page.
      await row.getByRole('button', { name: 'Play' }).click();
      await until('the recording plays', () => page.evaluate(() => document.getElementById('player').currentTime > 0.3), 15000);
      // The export of a time range takes the camera too.
      await page.getByLabel('Source', { exact: true }).last().selectOption('lobby');
      assert.match(await page.locator('#export-link').getAttribute('href'), /camera=lobby/);
      await shot(page, 'camera-recordings');
      assert.deepEqual(ctx.consoleErrors, []);
    } finally {
      await ctx.close();
    }
  });
});
