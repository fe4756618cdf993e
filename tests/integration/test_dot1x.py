"""IEEE 802.1X (paper §3.6) against a real authenticator: hostapd (wired driver, internal EAP
server) in one network namespace plays the switch, camward runs in the other with the veth end
it authenticates. Covers EAP-MD5, PEAP-MSCHAPv2 and EAP-TLS with the device certificate,
failures with their reason and no secret in any log, a restarted authenticator, disabling, the
listener census, the 422s on enable, and the port state as net-snmp reads it from camward's SNMP
subtree (CAMWARD-MIB camwardDot1x, paper §4.7) with a trap on each change.

camward runs inside the supplicant namespace (`ip netns exec`), HTTP on that namespace's
loopback; the test reaches it through a forwarder on 127.0.0.1 whose upstream connections are
made from a thread that entered the namespace (setns), so nothing listens outside loopback.
Namespaces and links are created and deleted by each test. Without permission to create
namespaces the tests skip naming what is missing, except under CI=true where they fail.
"""
import ctypes
import json
import os
import selectors
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import BIN, SNMP_USERS, Camward, needs, snmp, snmp_v3, snmp_value, start_snmptrapd, stop_process, \
    wait_for

pytestmark = needs("hostapd", "hostapd_cli", "wpa_supplicant", "openssl", "ip", "ss")

IN_NS_HTTP = 8080
IN_NS_RTSP = 8554
IN_NS_SNMP = 8161
IN_NS_TRAP = 8162
# CAMWARD-MIB camwardDot1x (enterprises.32473.1.6) and its notification.
DOT1X_STATE = "1.3.6.1.4.1.32473.1.6.1.0"
DOT1X_METHOD = "1.3.6.1.4.1.32473.1.6.2.0"
DOT1X_REASON = "1.3.6.1.4.1.32473.1.6.3.0"
DOT1X_LAST_CHANGE = "1.3.6.1.4.1.32473.1.6.4.0"
DOT1X_TRAP = ".1.3.6.1.4.1.32473.2.0.7"
SNMP_STATES = {"disabled": 1, "connecting": 2, "authenticated": 3, "held": 4, "failed": 5}
MD5_PASSWORD = "Md5-secret-4711"
PEAP_PASSWORD = "Peap-secret-0815"
WRONG_PASSWORD = "Wrong-secret-9999"
EAP_USERS = f'''"md5user" MD5 "{MD5_PASSWORD}"
"peapuser" PEAP
"tlsclient" TLS
* PEAP
"peapuser" MSCHAPV2 "{PEAP_PASSWORD}" [2]
'''
# hostapd answers within a second; the budget covers a loaded 2-core machine.
AUTH_TIMEOUT = 45


def run(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=check, **kw)


# --- PKI -------------------------------------------------------------------------------------
def openssl_ca(d: Path, name: str, cn: str) -> Path:
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"), "-days", "30", "-subj", f"/CN={cn}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return d / f"{name}.pem"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The RADIUS server's CA and certificate, a foreign CA, and a device CA (`camward ca`)."""
    d = tmp_path_factory.mktemp("pki")
    openssl_ca(d, "server-ca", "Site RADIUS CA")
    openssl_ca(d, "foreign-ca", "Some Other CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"), "-subj", "/CN=radius.site.test")
    (d / "server.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "server-ca.pem"),
        "-CAkey", str(d / "server-ca.key"), "-CAcreateserial", "-out", str(d / "server.pem"), "-days", "30",
        "-extfile", str(d / "server.ext"))
    run(BIN, "ca", "init", str(d / "device-ca"))
    (d / "both-cas.pem").write_text((d / "server-ca.pem").read_text() + (d / "device-ca" / "root.pem").read_text())
    return d


def issue_device_certificate(pki: Path, data_dir: Path):
    """The factory's job: CSR made with the device key, signed by the device CA, installed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    csr, chain = data_dir.parent / "device.csr", data_dir.parent / "device-chain.pem"
    run(BIN, "identity", "csr", "--data", str(data_dir), "--out", str(csr))
    run(BIN, "ca", "issue", str(pki / "device-ca"), "--csr", str(csr), "--out", str(chain))
    run(BIN, "identity", "install", "--data", str(data_dir), str(chain))


# --- namespaces ------------------------------------------------------------------------------
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NsForwarder:
    """127.0.0.1:port in the test's namespace → 127.0.0.1:target inside `ns`."""

    def __init__(self, ns, target):
        self.ns, self.target = ns, target
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()

    def _pipe(self, conn):
        # setns changes only this thread's namespace; sockets keep the namespace they were made in.
        fd = os.open(f"/var/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                conn.close()
                return
        finally:
            os.close(fd)
        try:
            up = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            conn.close()
            return
        sel = selectors.DefaultSelector()
        sel.register(conn, selectors.EVENT_READ, up)
        sel.register(up, selectors.EVENT_READ, conn)
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            conn.close()
            up.close()

    def close(self):
        self.closed = True
        # shutdown wakes the thread blocked in accept(); close alone would leave it waiting.
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()


class Lab:
    """Two namespaces joined by a veth pair: `auth` (hostapd) and `supp` (camward)."""

    def __init__(self, tmp: Path, pki: Path):
        self.tmp, self.pki = tmp, pki
        tag = f"{os.getpid() % 100000}-{id(self) % 10000}"
        self.auth_ns, self.supp_ns = f"cw8021x-a-{tag}", f"cw8021x-s-{tag}"
        self.hostapd = None
        self.hostapd_log = tmp / "hostapd.log"
        self.hctrl = tmp / "hctrl"

    def create(self):
        r = run("ip", "netns", "add", self.auth_ns, check=False)
        if r.returncode != 0:
            msg = f"cannot create network namespaces (needs root / CAP_SYS_ADMIN): {r.stderr.strip()}"
            if os.environ.get("CI") == "true":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        run("ip", "netns", "add", self.supp_ns)
        # Both ends are created inside their namespaces: no name is taken in the caller's one.
        run("ip", "link", "add", "veth-auth", "netns", self.auth_ns, "type", "veth",
            "peer", "name", "veth-supp", "netns", self.supp_ns)
        for ns, dev in ((self.auth_ns, "veth-auth"), (self.supp_ns, "veth-supp")):
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def delete(self):
        self.stop_hostapd()
        for ns in (self.auth_ns, self.supp_ns):
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns, check=False)

    # --- the authenticator --------------------------------------------------------------
    def start_hostapd(self, client_ca: str = "both-cas.pem"):
        users = self.tmp / "eap_users"
        users.write_text(EAP_USERS)
        conf = self.tmp / "hostapd.conf"
        conf.write_text("\n".join([
            "interface=veth-auth", "driver=wired", "ieee8021x=1", "eapol_version=2",
            "use_pae_group_addr=1", "eap_server=1", f"eap_user_file={users}",
            # Verifies client certificates (EAP-TLS) against this bundle.
            f"ca_cert={self.pki / client_ca}",
            f"server_cert={self.pki / 'server.pem'}", f"private_key={self.pki / 'server.key'}",
            f"ctrl_interface={self.hctrl}", "logger_stdout=-1", "logger_stdout_level=1", "",
        ]))
        log = open(self.hostapd_log, "ab")
        self.hostapd = subprocess.Popen(["ip", "netns", "exec", self.auth_ns, "hostapd", str(conf)],
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.hostapd_cli("ping").strip() == "PONG" or self.hostapd.poll() is not None,
                 15, what="hostapd's control socket")
        assert self.hostapd.poll() is None, self.hostapd_log.read_text()[-2000:]

    def stop_hostapd(self):
        if self.hostapd and self.hostapd.poll() is None:
            self.hostapd.terminate()
            try:
                self.hostapd.wait(10)
            except subprocess.TimeoutExpired:
                self.hostapd.kill()
                self.hostapd.wait(5)
        self.hostapd = None

    def hostapd_cli(self, *args):
        r = run("ip", "netns", "exec", self.auth_ns, "hostapd_cli", "-p", str(self.hctrl), "-i", "veth-auth",
                *args, check=False)
        return r.stdout

    def authorized(self):
        """hostapd's view: some station on the port is AUTHORIZED."""
        return "[AUTHORIZED]" in self.hostapd_cli("all_sta")

    # --- the supplicant side ------------------------------------------------------------
    def supp_pids(self, comm):
        out = []
        for pid in run("ip", "netns", "pids", self.supp_ns, check=False).stdout.split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                    out.append(int(pid))
            except OSError:
                pass
        return out

    def listeners(self):
        """TCP/UDP listeners inside the supplicant namespace (address:port, process names stripped)."""
        r = run("ip", "netns", "exec", self.supp_ns, "ss", "-ltnuH")
        return sorted(f"{l.split()[0]} {l.split()[4]}" for l in r.stdout.splitlines() if l.strip())


class NsCamward(Camward):
    """camward run inside the supplicant namespace, reached through an NsForwarder."""

    def __init__(self, data_dir, ns):
        super().__init__(data_dir)
        self.ns = ns
        self.env = {"CAMWARD_LOG": "debug"}
        self.forwarder = NsForwarder(ns, IN_NS_HTTP)
        self.http_port = self.forwarder.port

    def args(self):
        return ["ip", "netns", "exec", self.ns, BIN, "run", "--data", str(self.data_dir),
                "--http", f"127.0.0.1:{IN_NS_HTTP}", "--rtsp", f"127.0.0.1:{IN_NS_RTSP}"] + self.extra_args

    def stop(self, *a, **kw):
        rc = super().stop(*a, **kw)
        self.forwarder.close()
        return rc

    def dot1x(self):
        try:
            r = self.get("/api/v1/status")
        except requests.RequestException as e:
            raise AssertionError(f"GET /api/v1/status: {e}\n{self.read_log()[-3000:]}") from e
        assert r.status_code == 200, r.text
        return r.json()["dot1x"]

    def wait_state(self, state, timeout=AUTH_TIMEOUT):
        last = {}

        def reached():
            last.update(self.dot1x())
            return last.get("state") == state

        try:
            wait_for(reached, timeout, step=0.5, what=f"dot1x state {state}")
        except AssertionError:
            raise AssertionError(f"dot1x never reached {state}: last {last}\n{self.read_log()[-3000:]}")
        return last


@pytest.fixture
def lab(tmp_path, pki):
    lab = Lab(tmp_path, pki).create()
    yield lab
    lab.delete()


@pytest.fixture
def supp_cam(lab, tmp_path):
    c = NsCamward(tmp_path / "data", lab.supp_ns).start()
    c.setup_admin()
    yield c
    c.stop()


def section(method, **kw):
    base = {"enabled": True, "interface": "veth-supp", "method": method}
    base.update(kw)
    return {"dot1x": base}


def md5(password=MD5_PASSWORD, **kw):
    return section("md5", identity="md5user", password=password, **kw)


def peap(pki, password=PEAP_PASSWORD, ca="server-ca.pem", **kw):
    return section("peap", identity="peapuser", anonymous_identity="anonymous", password=password,
                   ca_certificate=(pki / ca).read_text(), **kw)


def tls(pki, ca="server-ca.pem", **kw):
    return section("tls", identity="tlsclient", ca_certificate=(pki / ca).read_text(), **kw)


def enable(cam, patch):
    r = cam.patch_config(patch)
    assert r.status_code == 200, r.text
    assert r.json()["dot1x"].get("password", {"set": False}) in ({"set": True}, {"set": False})


def stored_files(data_dir: Path):
    """Every regular file under the data directory, as bytes."""
    for p in data_dir.rglob("*"):
        if p.is_file() and not p.is_socket():
            yield p, p.read_bytes()


def assert_no_secret_logged(cam, *secrets):
    """No secret in the daemon log, the audit log, nor any file of the data directory (clear or hex):
    wpa_supplicant gets the password over its control socket, never from a file."""
    for p, data in stored_files(cam.data_dir):
        for s in secrets:
            assert s.encode() not in data and s.encode().hex().encode() not in data, f"secret in {p}"
    logs = cam.read_log()
    audit = json.dumps(cam.get("/api/v1/log", params={"limit": 1000}).json())
    for s in secrets:
        assert s not in logs, f"secret in the daemon log"
        assert s not in audit, f"secret in the audit log"
        assert s.encode().hex() not in logs, "hex-encoded secret in the daemon log"


# --- tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["md5", "peap", "tls"])
def test_each_method_reaches_authenticated_and_hostapd_authorizes_the_port(lab, pki, tmp_path, method):
    data = tmp_path / "data"
    if method == "tls":
        issue_device_certificate(pki, data)
    lab.start_hostapd()
    cam = NsCamward(data, lab.supp_ns).start()
    try:
        cam.setup_admin()
        assert cam.dot1x()["state"] == "disabled"
        enable(cam, {"md5": lambda: md5(), "peap": lambda: peap(pki), "tls": lambda: tls(pki)}[method]())
        st = cam.wait_state("authenticated")
        assert st["method"] == method.upper(), st
        assert "reason" not in st
        wait_for(lab.authorized, 15, what="AUTHORIZED in hostapd_cli all_sta")
        # Generated files are private; the device key is referenced in place, never copied.
        gen = data / "dot1x"
        assert gen.stat().st_mode & 0o777 == 0o700
        for f in gen.iterdir():
            if f.is_file() and not f.is_socket():
                assert f.stat().st_mode & 0o777 == 0o600, f
        assert "PRIVATE KEY" not in "".join(f.read_text() for f in gen.iterdir() if f.is_file() and not f.is_socket())
        kinds = [e["kind"] for e in cam.get("/api/v1/log", params={"limit": 200}).json()["entries"]]
        assert "dot1x.state" in kinds
        assert_no_secret_logged(cam, MD5_PASSWORD, PEAP_PASSWORD)
    finally:
        cam.stop()


def test_uploaded_client_certificate_must_be_for_the_device_key_and_is_presented(lab, pki, tmp_path):
    data = tmp_path / "data"
    issue_device_certificate(pki, data)
    chain = (data.parent / "device-chain.pem").read_text()
    lab.start_hostapd()
    cam = NsCamward(data, lab.supp_ns).start()
    try:
        cam.setup_admin()
        # A certificate for another key (the RADIUS server's) is refused before anything runs.
        r = cam.patch_config(tls(pki, client_certificate=(pki / "server.pem").read_text()))
        assert r.status_code == 422, r.text
        assert "dot1x.client_certificate.key" in {e["rule"] for e in r.json()["errors"]}
        assert cam.dot1x()["state"] == "disabled"
        enable(cam, tls(pki, client_certificate=chain))
        cam.wait_state("authenticated")
        assert (data / "dot1x" / "client.pem").read_text() == chain
        wait_for(lab.authorized, 15, what="AUTHORIZED with the uploaded certificate")
    finally:
        cam.stop()


@pytest.mark.parametrize("method", ["md5", "peap"])
def test_wrong_password_fails_with_reason_and_no_secret_in_any_log(lab, supp_cam, pki, method):
    lab.start_hostapd()
    enable(supp_cam, md5(WRONG_PASSWORD) if method == "md5" else peap(pki, WRONG_PASSWORD))
    st = supp_cam.wait_state("failed")
    assert "refused the credentials" in st["reason"] and method.upper() in st["reason"], st
    assert not lab.authorized()
    assert_no_secret_logged(supp_cam, WRONG_PASSWORD)
    entries = supp_cam.get("/api/v1/log", params={"limit": 200}).json()["entries"]
    assert any(e["kind"] == "dot1x.state" and e["detail"].get("state") == "failed" for e in entries), entries


def test_server_certificate_from_another_ca_fails(lab, supp_cam, pki):
    lab.start_hostapd()
    enable(supp_cam, peap(pki, ca="foreign-ca.pem"))
    st = supp_cam.wait_state("failed")
    # hostapd sends its CA with the server certificate: the error names one of the two.
    assert "not trusted" in st["reason"], st
    assert "radius.site.test" in st["reason"] or "Site RADIUS CA" in st["reason"], st
    assert not lab.authorized()
    assert_no_secret_logged(supp_cam, PEAP_PASSWORD)


def test_device_certificate_the_server_does_not_trust_fails(lab, pki, tmp_path):
    data = tmp_path / "data"
    issue_device_certificate(pki, data)
    lab.start_hostapd(client_ca="server-ca.pem")  # the device CA is not among hostapd's
    cam = NsCamward(data, lab.supp_ns).start()
    try:
        cam.setup_admin()
        enable(cam, tls(pki))
        st = cam.wait_state("failed")
        assert "device certificate" in st["reason"], st
        assert not lab.authorized()
    finally:
        cam.stop()


def test_restarted_authenticator_is_rejoined_without_operator_action(lab, supp_cam):
    lab.start_hostapd()
    enable(supp_cam, md5(reauth_period=5))
    supp_cam.wait_state("authenticated")
    wait_for(lab.authorized, 15, what="AUTHORIZED before the restart")
    lab.stop_hostapd()
    lab.start_hostapd()
    assert not lab.authorized(), "a fresh hostapd knows no station yet"
    # The camera's periodic EAPOL-Start makes the new authenticator run EAP again.
    wait_for(lab.authorized, 30, step=0.5, what="AUTHORIZED by the restarted hostapd")
    assert supp_cam.wait_state("authenticated", timeout=10)["state"] == "authenticated"


def test_disable_stops_the_supplicant_removes_its_files_and_no_listener_appears(lab, supp_cam):
    lab.start_hostapd()
    before = lab.listeners()
    enable(supp_cam, md5())
    supp_cam.wait_state("authenticated")
    assert len(lab.supp_pids("wpa_supplicant")) == 1
    assert lab.listeners() == before, "802.1X must open no TCP/UDP listener"
    assert (supp_cam.data_dir / "dot1x" / "wpa_supplicant.conf").exists()
    r = supp_cam.patch_config({"dot1x": {"enabled": False}})
    assert r.status_code == 200, r.text
    wait_for(lambda: not lab.supp_pids("wpa_supplicant"), 15, what="wpa_supplicant to exit")
    wait_for(lambda: not (supp_cam.data_dir / "dot1x").exists(), 10, what="generated files removed")
    assert supp_cam.dot1x()["state"] == "disabled"
    assert lab.listeners() == before


def test_a_killed_supplicant_is_restarted_by_camward(lab, supp_cam):
    lab.start_hostapd()
    enable(supp_cam, md5())
    supp_cam.wait_state("authenticated")
    [pid] = lab.supp_pids("wpa_supplicant")
    os.kill(pid, 9)
    wait_for(lambda: supp_cam.dot1x()["state"] == "failed", 10, what="the exit to be reported")
    assert "exited" in supp_cam.dot1x()["reason"]
    supp_cam.wait_state("authenticated")
    assert len(lab.supp_pids("wpa_supplicant")) == 1
    wait_for(lab.authorized, 15, what="AUTHORIZED after the restart")


def test_a_supplicant_left_by_a_killed_camward_is_replaced_not_doubled(lab, supp_cam):
    lab.start_hostapd()
    enable(supp_cam, md5())
    supp_cam.wait_state("authenticated")
    [orphan] = lab.supp_pids("wpa_supplicant")
    supp_cam.stop(sig=9)
    assert lab.supp_pids("wpa_supplicant") == [orphan]
    supp_cam.forwarder = NsForwarder(supp_cam.ns, IN_NS_HTTP)
    supp_cam.http_port = supp_cam.forwarder.port
    supp_cam.start()
    supp_cam.wait_state("authenticated")
    pids = lab.supp_pids("wpa_supplicant")
    assert len(pids) == 1 and pids != [orphan], pids


def test_camward_stop_ends_the_supplicant(lab, supp_cam):
    lab.start_hostapd()
    enable(supp_cam, md5())
    supp_cam.wait_state("authenticated")
    assert lab.supp_pids("wpa_supplicant")
    supp_cam.stop()
    wait_for(lambda: not lab.supp_pids("wpa_supplicant"), 10, what="wpa_supplicant to end with camward")


def test_enable_is_refused_with_422_when_the_device_cannot_run_it(lab, supp_cam, pki):
    def rules(patch):
        r = supp_cam.patch_config(patch)
        assert r.status_code == 422, r.text
        return {e["rule"] for e in r.json()["errors"]}

    assert "dot1x.interface.missing" in rules(md5(interface="nonexist0"))
    assert "dot1x.ca_certificate.required" in rules(section("peap", identity="peapuser", password=PEAP_PASSWORD))
    assert "dot1x.ca_certificate.required" in rules(section("tls", identity="tlsclient"))
    assert supp_cam.dot1x()["state"] == "disabled"
    assert not lab.supp_pids("wpa_supplicant")


@needs("wpa_supplicant")
def test_missing_wpa_supplicant_is_a_422_and_nothing_else_breaks(tmp_path):
    cam = Camward(tmp_path / "data")
    cam.env = {"CAMWARD_WPA_SUPPLICANT": str(tmp_path / "no-such-wpa_supplicant")}
    cam.start()
    try:
        cam.setup_admin()
        r = cam.patch_config(md5(interface="lo"))
        assert r.status_code == 422, r.text
        assert "dot1x.wpa_supplicant.missing" in {e["rule"] for e in r.json()["errors"]}
        assert "wpasupplicant" in r.text
        # The rest of the device is untouched.
        assert cam.get("/api/v1/status").json()["dot1x"]["state"] == "disabled"
        assert cam.patch_config({"smtp": {"port": 2525}}).status_code == 200
        assert requests.get(cam.url("/api/v1/status"), timeout=5).status_code in (200, 401)
    finally:
        cam.stop()


def date_and_time(unix):
    """An RFC 2579 DateAndTime in UTC as net-snmp prints it (Hex-STRING: 07 EA 0C ...)."""
    t = time.gmtime(unix)
    b = t.tm_year.to_bytes(2, "big") + bytes([t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0, ord("+"), 0, 0])
    return " ".join(f"{x:02X}" for x in b)


@needs("snmpget", "snmptrapd")
def test_snmp_reads_the_port_state_and_traps_each_change(lab, pki, tmp_path):
    """A monitoring system's view (SNMPv3 authPriv, net-snmp in camward's namespace): disabled while
    off, authenticated after EAP-MD5 succeeds, failed with the reason after a wrong password,
    disabled again when switched off; each change also arrives as a v3 trap."""
    lab.start_hostapd()
    cam = NsCamward(tmp_path / "data", lab.supp_ns)
    cam.extra_args = ["--snmp", f"127.0.0.1:{IN_NS_SNMP}"]
    cam.start()
    trapd = None
    target = f"127.0.0.1:{IN_NS_SNMP}"

    def get(oid):
        code, out = snmp("snmpget", *snmp_v3(), target, oid, ns=lab.supp_ns)
        assert code == 0, out
        return snmp_value(out)

    def trap_after(mark, words, what):
        """A camwardDot1xPortNotification logged after offset `mark` of the trap log, holding `words`."""
        def seen():
            text = traps.read_text()[mark:]
            return DOT1X_TRAP in text and words in text
        wait_for(seen, 15, what=what)

    def snmp_state_is(state):
        wait_for(lambda: get(DOT1X_STATE) == str(SNMP_STATES[state]), 10, step=0.5,
                 what=f"camwardDot1xPortState {state}")

    try:
        cam.setup_admin()
        r = cam.patch_config({"snmp": {"enabled": True, "users": SNMP_USERS, "trap_destinations": [
            {"host": "127.0.0.1", "port": IN_NS_TRAP, "version": "v3", "user": "ops256"}]}})
        assert r.status_code == 200, r.text
        wait_for(lambda: snmp("snmpget", *snmp_v3(), target, DOT1X_STATE, ns=lab.supp_ns)[0] == 0, 15,
                 what="the SNMP agent in the namespace")
        code, out = snmp("snmpget", *snmp_v3(), target, "1.3.6.1.6.3.10.2.1.1.0", ns=lab.supp_ns)
        assert code == 0 and "Hex-STRING: " in out, out
        engine = "".join(out.split("Hex-STRING: ", 1)[1].split()).lower()
        trapd, traps = start_snmptrapd(tmp_path, IN_NS_TRAP, engine, ns=lab.supp_ns)

        # Off: disabled, no method, no reason; the same state the HTTP API shows.
        assert cam.dot1x()["state"] == "disabled"
        assert (get(DOT1X_STATE), get(DOT1X_METHOD), get(DOT1X_REASON)) == ("1", "", "")

        mark = len(traps.read_text())
        enable(cam, md5())
        st = cam.wait_state("authenticated")
        snmp_state_is("authenticated")
        assert get(DOT1X_METHOD) == "MD5"
        assert get(DOT1X_REASON) == ""
        assert get(DOT1X_LAST_CHANGE) == date_and_time(st["changed_at"])
        trap_after(mark, "IEEE 802.1X port authenticated", "the authenticated trap")

        mark = len(traps.read_text())
        enable(cam, md5(WRONG_PASSWORD))
        st = cam.wait_state("failed")
        snmp_state_is("failed")
        reason = get(DOT1X_REASON)
        assert "refused the credentials" in reason and "MD5" in reason, reason
        assert get(DOT1X_LAST_CHANGE) == date_and_time(st["changed_at"])
        trap_after(mark, "IEEE 802.1X port failed: ", "the failed trap")

        mark = len(traps.read_text())
        r = cam.patch_config({"dot1x": {"enabled": False}})
        assert r.status_code == 200, r.text
        snmp_state_is("disabled")
        trap_after(mark, "IEEE 802.1X port disabled", "the disabled trap")
        text = traps.read_text()
        assert WRONG_PASSWORD not in text and MD5_PASSWORD not in text
        assert_no_secret_logged(cam, MD5_PASSWORD, WRONG_PASSWORD)
    finally:
        if trapd:
            stop_process(trapd)
        cam.stop()
