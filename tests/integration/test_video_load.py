"""Fan-out under load (camera core, paper §4.4): 20 ffmpeg viewers decode at once while other viewers
come and go (cleanly, by being killed, and flapping between UDP and TCP); afterwards the sessions are
gone and the daemon's RSS is back near its baseline."""
import signal
import subprocess
import time


from conftest import SMALL_STREAMS, needs, rtsp_url, start_cam, wait_for
from videolib import rss_kib

pytestmark = needs("ffmpeg")

VIEWERS = 20
FRAMES = 50  # 5 s of stream2 at 10 fps
CHURN = 10
# Allocator caches, per-thread arenas and tokio's grown buffers stay mapped after a burst of
# 21 sessions; a leak of even 1 MiB per session would exceed this.
RSS_MARGIN_KIB = 24 * 1024


def ffmpeg(url, frames):
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url,
         "-frames:v", str(frames), "-f", "framecrc", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_twenty_viewers_and_churn_then_memory_returns(tmp_path):
    cam = start_cam(tmp_path / "data", SMALL_STREAMS)
    procs = []
    try:
        url = rtsp_url(cam, "/stream2")
        # Baseline after one viewer has come and gone, so lazily built state is counted in it.
        warm = ffmpeg(url, 5)
        assert warm.wait(timeout=30) == 0, warm.stderr.read()
        time.sleep(1)
        baseline = rss_kib(cam.proc.pid)

        procs = [ffmpeg(url, FRAMES) for _ in range(VIEWERS)]
        started = time.monotonic()
        peak = baseline
        flaps = 0
        for i in range(CHURN):
            p = ffmpeg(url, 1000)
            if i % 2:
                time.sleep(0.8)
                p.send_signal(signal.SIGKILL)  # vanishes without TEARDOWN
                p.wait(timeout=10)
            else:
                # Meanwhile a short viewer comes and goes over UDP and TCP in turn (flapping).
                flap = subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "udp" if i % 4 else "tcp",
                     "-i", url, "-frames:v", "3", "-f", "null", "-"], capture_output=True, text=True, timeout=30)
                assert flap.returncode == 0, flap.stderr
                flaps += 1
                p.terminate()  # ffmpeg sends TEARDOWN on SIGTERM
                p.wait(timeout=10)
            peak = max(peak, rss_kib(cam.proc.pid))
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            frames = sum(1 for line in out.splitlines() if line and not line.startswith("#"))
            results.append((p.returncode, frames, err[-300:]))
        elapsed = time.monotonic() - started
        bad = [r for r in results if r[0] != 0 or r[1] != FRAMES]
        assert not bad, bad
        assert flaps >= 3
        assert elapsed < 40, elapsed

        # Sessions of killed clients end with their connection; nothing keeps their buffers.
        def settled():
            return rss_kib(cam.proc.pid) < baseline + RSS_MARGIN_KIB
        wait_for(settled, 15, step=0.5, what="RSS back near baseline")
        after = rss_kib(cam.proc.pid)
        print(f"RSS baseline {baseline} KiB, peak {peak} KiB, after {after} KiB")
        # The daemon still serves.
        last = ffmpeg(url, 5)
        assert last.wait(timeout=30) == 0, last.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        cam.stop()
