// Glass-to-glass delay of the Live page's two views, measured in headless Chromium against the
// real binary (not a test: nothing is asserted). At sampled instants: H.264 — now minus the capture
// time of the picture on screen (each fragment's prft, matched to the shown frame by
// requestVideoFrameCallback); MJPEG — the same, corrected by how many frames its picture is behind
// or ahead of the H.264 one, read from the frame counter the test pattern burns into the picture.
//   node tests/ui/bench-latency.mjs [runs]      (CAMWARD_BIN, CHROMIUM as for the UI tests)
import { ADMIN, Camward, context, launch, measureDelays } from './harness.mjs';

const runs = Number(process.argv[2] || 3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cam = await new Camward().start();
cam.ensureAdmin();
const browser = await launch();
const out = [];
try {
  for (const stream of [1, 2]) {
    for (let i = 0; i < runs; i++) {
      const ctx = await context(browser, ADMIN);
      const page = await ctx.newPage();
      await page.goto(`${cam.base}/live`);
      await page.getByRole('radio', { name: `Stream(${stream})` }).check();
      await page.locator('#live-latency[data-ms]').waitFor({ timeout: 30000 });
      await sleep(4000); // past the start, at the live edge
      const shown = await measureDelays(page, stream); // MJPEG as the Live page shows it (refresh rate setting)
      const full = await measureDelays(page, stream, '&fps=30'); // MJPEG at the stream's own rate
      out.push({ stream, size: shown.size, fps: shown.fps, h264_ms: shown.h264_ms, mjpeg_ms: shown.mjpeg_ms, mjpeg_full_rate_ms: full.mjpeg_ms });
      await ctx.close();
    }
  }
} finally {
  await browser.close();
  await cam.stop();
}
console.log(JSON.stringify({ when: new Date().toISOString(), runs: out }, null, 1));
