"""The web UI's browser tests (tests/ui, node's test runner driving Debian chromium via playwright-core).

Runs `node --test tests/ui/` against $CAMWARD_BIN; skipped, with the reason, only when chromium is missing.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UI = REPO / "tests" / "ui"


def test_web_ui_in_chromium():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"chromium not installed at {chromium}: run scripts/setup-ui")
    if shutil.which("node") is None:
        pytest.skip("node not installed: run scripts/setup-ui")
    if not (UI / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=UI, check=True,
                       env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}, timeout=300)
    env = dict(os.environ)
    env.setdefault("CAMWARD_BIN", str(REPO / "target" / "debug" / "camward"))
    proc = subprocess.run(["node", "--test", "--test-concurrency=1", "tests/ui/"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:])
    assert proc.returncode == 0, "browser tests failed; see the output above and tests/artifacts/ui/"
