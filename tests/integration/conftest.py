"""The one helper module of the integration tests: the daemon (`Camward`, `start_cam`), ports
(`free_port`, `port_open`, `wait_port`, `listening_sockets`), bounded waits (`wait_for`), URLs
(`rtsp_url`, `tunnel_url`), the external-tool check (`needs`), the net-snmp manager (`snmp`,
`snmp_v3`, `snmp_value`, `start_snmptrapd`, optionally inside a network namespace), and the
fixtures — one per behaviour:

- `cam`: a fresh device, no account yet;
- `cam_admin`: a fresh device with its administrator registered;
- `video_cam`: one device per module with small streams, the administrator and a live-only
  `viewer`, for read-only video checks;
- `https_cam`: a device with TLS listener addresses and its administrator (Connection = HTTP);
  `cam_https`: the same switched to Connection = HTTPS.

Domain helpers build on these: videolib.py (ffmpeg/ffprobe/raw RTSP clients), https_util.py
(TLS listeners, openssl, curl), alarm_util.py (mail/FTP peers), recording_util.py (recordings).

The binary comes from $CAMWARD_BIN (scripts/test builds release once and sets it); the default is
the debug build so that developers can iterate without a release build.
"""
import json
import os
import shutil
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

# Every daemon the tests start (here, in the UI harness, in subprocesses) runs without a discovery
# window: it must not multicast WS-Discovery on the machine's networks. Discovery tests open one on
# an interface they own (NetnsPeer, `lo`) through Camward.env, which wins over this.
os.environ["CAMWARD_DISCOVERY_WINDOW_SECS"] = "0"

ADMIN_USER = "installer"
ADMIN_PASSWORD = "Cam-ward-2026"


# Small streams keep 2 cores free for the clients; sizes come from camward-config's offered list.
SMALL_STREAMS = {
    "streams": {
        "stream1": {"width": 640, "height": 360, "fps": 10, "bitrate_kbps": 512, "gop": 10, "internet_mode": True},
        "stream2": {"width": 320, "height": 180, "fps": 10, "bitrate_kbps": 256, "gop": 10, "internet_mode": True},
    }
}


def needs(*tools):
    """A mark that skips the test when a tool is missing, naming it; under CI=true a missing tool
    fails the run instead (CI installs every peer: scripts/setup)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{', '.join(missing)} not installed: CI must have every real peer (scripts/setup)",
                    pytrace=False)
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} is not installed (scripts/setup installs it)")


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(port, want_open=True, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == want_open:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not {'open' if want_open else 'close'} within {timeout} s")


def wait_for(pred, timeout, step=0.25, what="condition"):
    """Polls `pred` until it returns a true value (returned), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def listening_sockets(pid):
    """What process `pid` listens on, as a set of (protocol, port): TCP listeners and bound UDP
    sockets, from `ss -ltnupH` (the auditor's view of paper §3.5; needs("ss"))."""
    out = subprocess.run(["ss", "-ltnupH"], capture_output=True, text=True, timeout=10, check=True).stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 7 or f"pid={pid}," not in line:
            continue
        found.add((fields[0], int(fields[4].rsplit(":", 1)[1])))
    return found


def rtsp_url(cam, path="/stream1", user=ADMIN_USER, password=ADMIN_PASSWORD, host="127.0.0.1", port=None):
    """An RTSP URL of `cam` (credentials of the administrator unless `user=None`)."""
    cred = f"{user}:{password}@" if user else ""
    return f"rtsp://{cred}{host}:{port or cam.rtsp_port}{path}"


def tunnel_url(cam, path="/stream1", user=ADMIN_USER, password=ADMIN_PASSWORD):
    """Same stream through the HTTP port: ffmpeg's `-rtsp_transport http` tunnels there."""
    return f"rtsp://{user}:{password}@127.0.0.1:{cam.http_port}{path}"


# --- net-snmp as the manager (paper §4.7) ------------------------------------------------------
# Numeric OIDs only (`MIBS=` and `-On`): CAMWARD-MIB is checked separately (smilint) and no MIB
# files are installed in CI. The users are what a test puts in `snmp.users`.
SNMP_AUTH_PW = "Auth-pass-2026"
SNMP_PRIV_PW = "Priv-pass-2026"
SNMP_USERS = [
    {"name": "ops256", "auth": "sha256", "privacy": "aes128", "auth_password": SNMP_AUTH_PW,
     "priv_password": SNMP_PRIV_PW},
    {"name": "opssha", "auth": "sha1", "privacy": "aes128", "auth_password": SNMP_AUTH_PW,
     "priv_password": SNMP_PRIV_PW},
    {"name": "opsmd5", "auth": "md5", "privacy": "des", "auth_password": SNMP_AUTH_PW,
     "priv_password": SNMP_PRIV_PW},
]
SNMP_NET_SNMP_ALG = {"ops256": ("SHA-256", "AES"), "opssha": ("SHA", "AES"), "opsmd5": ("MD5", "DES")}


def _in_ns(ns, cmd):
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


def snmp(tool, *args, timeout=2, ns=None):
    """Runs a net-snmp tool once (no retries), inside network namespace `ns` when given; returns
    (exit code, stdout+stderr)."""
    p = subprocess.run(_in_ns(ns, [tool, "-On", "-r", "0", "-t", str(timeout), *args]), capture_output=True,
                       text=True, timeout=60, env={**os.environ, "MIBS": ""})
    return p.returncode, p.stdout + p.stderr


def snmp_v3(user="ops256", level="authPriv", auth_pw=SNMP_AUTH_PW, priv_pw=SNMP_PRIV_PW):
    """The net-snmp arguments of one of SNMP_USERS."""
    a, x = SNMP_NET_SNMP_ALG[user]
    return ["-v3", "-l", level, "-u", user, "-a", a, "-A", auth_pw, "-x", x, "-X", priv_pw]


def snmp_value(out):
    """The value part of the first `OID = TYPE: value` line."""
    line = [l for l in out.splitlines() if " = " in l][0]
    return line.split(" = ", 1)[1].split(": ", 1)[-1].strip().strip('"')


def start_snmptrapd(tmp: Path, port, engine_hex, user="ops256", ns=None):
    """snmptrapd on 127.0.0.1:`port` (inside `ns` when given) accepting v3 authPriv traps of `user`
    from the agent with snmpEngineID `engine_hex`; returns (process, log path) once it runs.
    `engine_hex=None` keys the user to snmptrapd's own engine: then only informs (where the receiver
    is authoritative) authenticate, and traps from the agent's engine are dropped."""
    a, x = SNMP_NET_SNMP_ALG[user]
    conf = tmp / "snmptrapd.conf"
    engine = f"-e 0x{engine_hex} " if engine_hex else ""
    conf.write_text(f"createUser {engine}{user} {a} {SNMP_AUTH_PW} {x} {SNMP_PRIV_PW}\n"
                    f"authUser log {user} priv\n")
    persist = tmp / "trapd"
    persist.mkdir(exist_ok=True)
    out = tmp / "traps.log"
    proc = subprocess.Popen(_in_ns(ns, ["snmptrapd", "-f", "-On", "-Lf", str(out), "-C", "-c", str(conf),
                                        f"--persistentDir={persist}", "-M", "/dev/null",
                                        f"udp:127.0.0.1:{port}"]),
                            env={**os.environ, "MIBS": ""}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: out.exists() and "NET-SNMP version" in out.read_text(), 10, what="snmptrapd")
    except AssertionError:
        stop_process(proc)
        raise
    return proc, out


def stop_process(proc, timeout=10):
    """Terminates a helper process the test started, killing it when it does not end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Camward:
    """One daemon process with its own data directory and loopback ports."""

    def __init__(self, data_dir: Path, extra_args=None, http_host="127.0.0.1"):
        self.data_dir = Path(data_dir)
        self.http_host = http_host
        self.extra_args = list(extra_args or [])
        # Extra environment of the daemon (e.g. CAMWARD_LOG=debug). No discovery window by
        # default: a test daemon must not multicast on the machine's networks; discovery tests
        # open one on an interface they own (netns_peer). No test daemon ever sets the machine's
        # clock: clock requests are recorded in DATA/clock-requests.jsonl instead.
        self.env = {"CAMWARD_DISCOVERY_WINDOW_SECS": "0", "CAMWARD_CLOCK_SETTER": "record"}
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

    def setup_code(self):
        """The one-time setup code, as the installer reads it at the device: the daemon writes it
        to DATA/setup-code (0600) at start while no administrator exists (paper §3.2)."""
        return (self.data_dir / "setup-code").read_text().strip()

    def setup_body(self, user=ADMIN_USER, password=ADMIN_PASSWORD):
        """The body of POST /api/v1/setup, with the setup code."""
        return {"username": user, "password": password, "setup_code": self.setup_code()}

    def setup_admin(self, user=ADMIN_USER, password=ADMIN_PASSWORD):
        r = requests.post(self.url("/api/v1/setup"), json=self.setup_body(user, password), timeout=10)
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


def start_cam(data_dir: Path, config=None, extra_args=None, **kw):
    """A daemon with `config` applied at start (--config), administrator registered."""
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    args = list(extra_args or [])
    if config is not None:
        cfg = data_dir.parent / f"{data_dir.name}.config.json"
        cfg.write_text(json.dumps(config))
        args += ["--config", str(cfg)]
    cam = Camward(data_dir, extra_args=args, **kw).start()
    cam.setup_admin()
    return cam


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


@pytest.fixture(scope="module")
def video_cam(tmp_path_factory):
    """One daemon per module for read-only video checks (each start costs a second of encoding):
    small streams with Internet mode on, the administrator, and a live-only `viewer`."""
    c = start_cam(tmp_path_factory.mktemp("video") / "data", SMALL_STREAMS)
    c.add_user("viewer", "View-only-2026", "live")
    yield c
    c.stop()


@pytest.fixture
def https_cam(tmp_path):
    """A device with TLS listener addresses (--https/--rtsps) and its administrator; Connection = HTTP."""
    from https_util import HttpsCam  # https_util builds on this module
    c = HttpsCam(tmp_path / "data").start()
    c.setup_admin()
    yield c
    c.stop()


@pytest.fixture
def cam_https(https_cam):
    """`https_cam` switched to Connection = HTTPS."""
    https_cam.set_connection("https")
    return https_cam


class NetnsPeer:
    """A network namespace joined to this one by a veth pair, for multicast peers (WS-Discovery
    ignores loopback): this side `host_if` with `host_ip`, the namespace side with `peer_ip`,
    multicast routed over the pair on both sides. `run(cmd)` runs a command in the namespace."""

    def __init__(self, tag):
        self.ns = f"cw{tag}{os.getpid() % 10000}"
        self.host_if, self.peer_if = f"cwh{tag}{os.getpid() % 1000}", f"cwp{tag}{os.getpid() % 1000}"
        n = 16 + (os.getpid() % 200)
        self.host_ip, self.peer_ip = f"10.213.{n}.1", f"10.213.{n}.2"

    def _ip(self, *args, check=True):
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)

    def create(self):
        self.delete()
        steps = [
            ["netns", "add", self.ns],
            ["link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if],
            ["link", "set", self.peer_if, "netns", self.ns],
            ["addr", "add", f"{self.host_ip}/30", "dev", self.host_if],
            ["link", "set", self.host_if, "up"],
            ["-n", self.ns, "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_if],
            ["-n", self.ns, "link", "set", self.peer_if, "up"],
            ["-n", self.ns, "link", "set", "lo", "up"],
            ["-n", self.ns, "route", "add", "224.0.0.0/4", "dev", self.peer_if],
        ]
        for st in steps:
            self._ip(*st)
        # The veth link needs its IPv6 link-local address before ff02::c can be joined; bounded.
        wait_for(lambda: "fe80" in self._ip("-6", "addr", "show", "dev", self.host_if).stdout, 10,
                 step=0.1, what="IPv6 link-local address on the veth pair")
        return self

    def delete(self):
        self._ip("link", "del", self.host_if, check=False)
        self._ip("netns", "del", self.ns, check=False)

    def run(self, cmd, timeout=60, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *cmd], **kw)


@pytest.fixture
def netns_peer():
    """A NetnsPeer, removed afterwards. Skips (with the reason) where namespaces cannot be made
    (no root, no `ip`); under CI=true that is a failure, as CI must run these tests."""
    peer = NetnsPeer("d")
    try:
        if shutil.which("ip") is None:
            raise RuntimeError("`ip` (iproute2) is not installed")
        peer.create()
    except (RuntimeError, subprocess.CalledProcessError, AssertionError, OSError) as e:
        peer.delete()
        detail = getattr(e, "stderr", "") or str(e)
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot create a network namespace with a veth pair: {detail}", pytrace=False)
        pytest.skip(f"cannot create a network namespace with a veth pair (needs root): {detail}")
    yield peer
    peer.delete()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
