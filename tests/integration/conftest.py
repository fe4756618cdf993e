"""Fixtures that start the real camward binary on loopback ports for integration tests.

The binary comes from $CAMWARD_BIN (scripts/test builds release once and sets it); the default is
the debug build so that developers can iterate without a release build.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPDigestAuth

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("CAMWARD_BIN", str(REPO / "target" / "debug" / "camward"))
ARTIFACTS = REPO / "tests" / "artifacts"

ADMIN_USER = "installer"
ADMIN_PASSWORD = "Cam-ward-2026"


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Camward:
    """One daemon process with its own data directory and loopback ports."""

    def __init__(self, data_dir: Path, extra_args=None, http_host="127.0.0.1"):
        self.data_dir = Path(data_dir)
        self.http_host = http_host
        self.extra_args = list(extra_args or [])
        # Extra environment of the daemon (e.g. CAMWARD_LOG=debug).
        self.env = {}
        self.proc = None
        self.http_port = free_port(http_host)
        self.rtsp_port = free_port(http_host)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    # --- process control -------------------------------------------------
    def args(self):
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return [BIN, "run", "--data", str(self.data_dir),
                "--http", f"{host}:{self.http_port}",
                "--rtsp", f"{host}:{self.rtsp_port}"] + self.extra_args

    def start(self, wait=True):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # free_port() cannot reserve a port: another socket may take it before camward binds. When
        # that happens the daemon names the flag; pick fresh ports for that listener and try again.
        for attempt in range(5):
            self.log = open(self.log_path, "ab")
            mark = self.log.tell()
            self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.env})
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                tail = self.read_log()[mark:]
                if attempt == 4 or "Address already in use" not in tail:
                    raise
                if "--http " in tail:
                    self.http_port = free_port(self.http_host)
                elif "--rtsp " in tail:
                    self.rtsp_port = free_port(self.http_host)
                else:
                    time.sleep(0.5)  # a flag the test chose itself: the holder may let go
        return self

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"camward exited with {self.proc.returncode}: {self.read_log()[-2000:]}")
            try:
                requests.get(self.url("/api/v1/status"), timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise TimeoutError("camward did not answer HTTP in time:\n" + self.read_log()[-2000:])

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode if self.proc else None

    def restart(self):
        self.stop()
        return self.start()

    def read_log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- clients ---------------------------------------------------------
    def url(self, path, scheme="http"):
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"{scheme}://{host}:{self.http_port}{path}"

    def rtsp_url(self, path="/stream1", user=None, password=None):
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        cred = f"{user}:{password}@" if user else ""
        return f"rtsp://{cred}{host}:{self.rtsp_port}{path}"

    def setup_admin(self, user=ADMIN_USER, password=ADMIN_PASSWORD):
        r = requests.post(self.url("/api/v1/setup"), json={"username": user, "password": password}, timeout=10)
        assert r.status_code == 201, r.text
        return HTTPDigestAuth(user, password)

    def admin(self):
        return HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD)

    def get(self, path, auth=None, **kw):
        return requests.get(self.url(path), auth=auth or self.admin(), timeout=kw.pop("timeout", 15), **kw)

    def patch_config(self, patch, auth=None):
        return requests.patch(self.url("/api/v1/config"), json=patch, auth=auth or self.admin(), timeout=15)

    def add_user(self, name, password, level):
        r = requests.post(self.url("/api/v1/users"), json={"username": name, "password": password, "level": level},
                          auth=self.admin(), timeout=10)
        assert r.status_code == 201, r.text
        return HTTPDigestAuth(name, password)


@pytest.fixture
def cam(tmp_path):
    """A fresh device: no account exists yet."""
    c = Camward(tmp_path / "data").start()
    yield c
    c.stop()


@pytest.fixture
def cam_admin(cam):
    """A device whose administrator (ADMIN_USER / ADMIN_PASSWORD) has been registered."""
    cam.setup_admin()
    return cam


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
