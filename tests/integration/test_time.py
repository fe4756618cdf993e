"""Date and time (the paper's NTP tab) against a real NTP server: chrony from Debian on loopback
ports, started with -x so it never touches the machine's clock, serving plain NTP and NTS
(RFC 8915, with a certificate made here by openssl). camward's offset is compared with the one
chrony's own client (`chronyd -Q`, which only prints) measures against the same server; an
unreachable server is reported within the configured timeout; manual time goes to the recording
clock setter (CAMWARD_CLOCK_SETTER=record, conftest's default for every daemon), and the real
setter refuses inside a container. No test changes the machine's clock."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, Camward, free_port, needs, start_cam, wait_for

pytestmark = needs("chronyd", "openssl")


def free_udp_tcp_port():
    """A loopback port free for both UDP (NTP) and TCP (NTS-KE)."""
    for _ in range(50):
        p = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free loopback port")


def closed_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        return u.getsockname()[1]


@pytest.fixture(scope="module")
def chrony():
    """chronyd -x on 127.0.0.1: NTP on `port`, NTS-KE on `nts_port` with `cert` (PEM)."""
    # Not under pytest's tmp_path: its parents are 0700, and chronyd runs as _chrony.
    d = Path(tempfile.mkdtemp(prefix="camward-chrony-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True, timeout=30)
    # chronyd drops privileges to _chrony: it must read the key and write in the directory.
    os.chmod(d, 0o777)
    for f in ("key.pem", "cert.pem"):
        os.chmod(d / f, 0o644)
    port, nts_port = free_udp_tcp_port(), free_udp_tcp_port()
    (d / "chrony.conf").write_text(
        f"port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n"
        f"pidfile {d}/chronyd.pid\nntsserverkey {d}/key.pem\nntsservercert {d}/cert.pem\n"
        f"ntsport {nts_port}\nntsdumpdir {d}/nts\nntsprocesses 0\n")
    log = open(d / "chronyd.log", "wb")
    proc = subprocess.Popen(["chronyd", "-x", "-d", "-f", str(d / "chrony.conf")],
                            stdout=log, stderr=subprocess.STDOUT)

    def nts_up():
        try:
            socket.create_connection(("127.0.0.1", nts_port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(nts_up, 10, what="chronyd's NTS-KE port")
    assert "Disabled control of system clock" in (d / "chronyd.log").read_text(), \
        "chronyd must run with -x"
    yield {"port": port, "nts_port": nts_port, "cert": (d / "cert.pem").read_text(), "dir": d}
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    shutil.rmtree(d, ignore_errors=True)


def chrony_offset_ms(chrony):
    """The offset chrony's own client measures against the server, in ms (-Q only prints it;
    the sign is 'local clock wrong by', the opposite of camward's 'server ahead by')."""
    out = subprocess.run(["chronyd", "-Q", "-t", "10",
                          f"server 127.0.0.1 port {chrony['port']} iburst maxsamples 1",
                          f"pidfile {chrony['dir']}/q.pid"],
                         capture_output=True, text=True, timeout=20)
    m = re.search(r"System clock wrong by (-?[0-9.]+) seconds", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    return -float(m.group(1)) * 1000


def server(port, **kw):
    return {"host": "127.0.0.1", "port": port, **kw}


@pytest.fixture(scope="module")
def tcam(tmp_path_factory):
    """One daemon for the module (manual mode by default), administrator and a live-only user."""
    c = start_cam(tmp_path_factory.mktemp("time") / "data")
    c.add_user("viewer", "View-only-2026", "live")
    yield c
    c.stop()


def set_time(tcam, patch):
    r = tcam.patch_config({"time": patch})
    assert r.status_code == 200, r.text
    return r.json()


def status_time(tcam):
    r = tcam.get("/api/v1/status")
    assert r.status_code == 200, r.text
    return r.json()["time"]


def test_default_is_manual_without_ntp_traffic(tcam):
    t = status_time(tcam)
    assert t["mode"] == "manual" and t["state"] == "manual" and t["servers"] == []
    assert t["timezone"] == "UTC0" and t["utc"].endswith("Z")
    assert t["clock"]["settable"] is True  # the recording setter, never the machine's clock


def test_offset_matches_chrony_and_an_unreachable_server_is_reported(tcam, chrony):
    closed = closed_udp_port()
    set_time(tcam, {"mode": "ntp", "poll_interval_secs": 16, "timeout_ms": 1000,
                    "servers": [server(closed), server(chrony["port"])]})
    wait_for(lambda: status_time(tcam)["state"] == "synchronized", 15, what="NTP synchronisation")
    t = status_time(tcam)
    assert t["synchronized"] is True
    assert t["source"] == f"127.0.0.1:{chrony['port']}"
    assert t["stratum"] == 8 and t["authenticated"] is False
    ours = t["offset_ms"]
    theirs = chrony_offset_ms(chrony)
    # Both read this machine's clock: each offset is ~0, and they agree within 50 ms.
    assert abs(ours) < 50, t
    assert abs(ours - theirs) < 50, (ours, theirs)
    bad, good = t["servers"]
    assert bad["server"] == f"127.0.0.1:{closed}" and bad["state"] == "unreachable", bad
    assert "unreachable" in bad["error"] or "refused" in bad["error"].lower(), bad
    assert good["state"] == "ok" and abs(good["offset_ms"] - ours) < 1e-6
    # The same through /api/v1/time, for every level.
    r = requests.get(tcam.url("/api/v1/time"), auth=requests.auth.HTTPDigestAuth("viewer", "View-only-2026"),
                     timeout=10)
    assert r.status_code == 200 and r.json()["source"] == t["source"]
    # Unauthenticated time is warned about on the status page.
    w = requests.get(tcam.url("/api/v1/config"), auth=tcam.admin(), timeout=10).json()["warnings"]
    assert any(x["rule"] == "time.ntp.unauthenticated" for x in w), w


def test_a_silent_server_is_reported_within_the_timeout_not_waited_on(tcam):
    # A socket that takes datagrams and never answers: the worst case, no ICMP error either.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        set_time(tcam, {"mode": "ntp", "timeout_ms": 300, "servers": [server(port)]})
        wait_for(lambda: status_time(tcam)["state"] == "unsynchronized", 15, what="the round to fail")
        t = status_time(tcam)
        assert t["synchronized"] is False
        s = t["servers"][0]
        assert s["state"] == "unreachable" and "no answer" in s["error"] and "300 ms" in s["error"], s
        assert "no answer" in t["last_error"]
        silent.settimeout(5)
        data, _ = silent.recvfrom(1024)
        assert len(data) == 48 and data[0] & 7 == 3  # it was asked: a mode-3 SNTP request
    # The API stayed responsive throughout (the round runs beside it).
    assert tcam.get("/api/v1/status").status_code == 200


def test_nts_authenticated_time_from_chrony(tcam, chrony):
    set_time(tcam, {"mode": "ntp", "timeout_ms": 2000, "servers": [
        server(chrony["port"], nts=True, nts_ke_port=chrony["nts_port"], ca_certificate=chrony["cert"])]})
    wait_for(lambda: status_time(tcam)["authenticated"] is True, 15, what="NTS synchronisation")
    t = status_time(tcam)
    assert t["state"] == "synchronized" and abs(t["offset_ms"]) < 50, t
    assert t["servers"][0]["nts"] is True and t["servers"][0]["state"] == "ok"
    w = requests.get(tcam.url("/api/v1/config"), auth=tcam.admin(), timeout=10).json()["warnings"]
    assert not any(x["rule"] == "time.ntp.unauthenticated" for x in w), w


def test_nts_refuses_a_server_it_cannot_authenticate(tcam, chrony):
    # No CA given: the test's self-made certificate is not among the system roots.
    set_time(tcam, {"mode": "ntp", "timeout_ms": 2000, "servers": [
        server(chrony["port"], nts=True, nts_ke_port=chrony["nts_port"], ca_certificate="")]})
    wait_for(lambda: status_time(tcam)["state"] == "unsynchronized", 15, what="the NTS round to fail")
    s = status_time(tcam)["servers"][0]
    assert s["state"] == "error" and "TLS" in s["error"], s


def test_settings_are_validated(tcam):
    r = tcam.patch_config({"time": {"timezone": "Europe/Berlin"}})
    assert r.status_code == 422
    assert any(e["path"] == "time.timezone" and e["rule"] == "time.timezone.invalid"
               for e in r.json()["errors"]), r.text
    r = tcam.patch_config({"time": {"mode": "ntp", "servers": []}})
    assert r.status_code == 422 and "time.servers.empty" in r.text
    r = tcam.patch_config({"time": {"servers": [server(0)], "poll_interval_secs": 1}})
    assert r.status_code == 422
    paths = {e["path"] for e in r.json()["errors"]}
    assert {"time.servers[0].port", "time.poll_interval_secs"} <= paths, paths


def test_manual_time_and_time_zone(tcam):
    set_time(tcam, {"mode": "manual", "timezone": "CET-1CEST,M3.5.0,M10.5.0/3", "servers": []})
    t = status_time(tcam)
    assert re.search(r"\+0[12]:00$", t["local"]), t
    before = time.time()
    r = requests.put(tcam.url("/api/v1/time"), json={"utc": "2030-03-17T17:46:40Z"}, auth=tcam.admin(), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["clock"]["last_set"]["to"] == "2030-03-17T17:46:40.000Z"
    assert r.json()["clock"]["last_set"]["reason"] == "manual"
    # The recording setter got the request; the machine's clock did not move to 2030.
    lines = (tcam.data_dir / "clock-requests.jsonl").read_text().splitlines()
    assert json.loads(lines[-1]) == {"unix_nanos": 1_900_000_000_000_000_000, "reason": "manual"}
    assert abs(time.time() - before) < 60
    # Audited.
    log = tcam.get("/api/v1/log").json()
    entries = log["entries"] if isinstance(log, dict) else log
    assert any(e["kind"] == "time.manual" for e in entries), log
    # Bad input, lower levels, and NTP mode are refused; nothing more is recorded.
    r = requests.put(tcam.url("/api/v1/time"), json={"utc": "yesterday"}, auth=tcam.admin(), timeout=10)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "utc"
    r = requests.put(tcam.url("/api/v1/time"), json={"utc": "1990-01-01T00:00:00Z"}, auth=tcam.admin(), timeout=10)
    assert r.status_code == 422
    r = requests.put(tcam.url("/api/v1/time"), json={"utc": "2030-03-17T17:46:40Z"},
                     auth=requests.auth.HTTPDigestAuth("viewer", "View-only-2026"), timeout=10)
    assert r.status_code == 403
    set_time(tcam, {"mode": "ntp", "servers": [server(closed_udp_port())]})
    r = requests.put(tcam.url("/api/v1/time"), json={"utc": "2030-03-17T17:46:40Z"}, auth=tcam.admin(), timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "ntp_active", r.text
    assert len((tcam.data_dir / "clock-requests.jsonl").read_text().splitlines()) == len(lines)
    set_time(tcam, {"mode": "manual", "servers": []})


def in_a_container_or_not_root():
    return (os.geteuid() != 0 or os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
            or os.path.exists("/run/systemd/container"))


@pytest.mark.skipif(not in_a_container_or_not_root(),
                    reason="root outside a container: the real clock setter would change the clock")
def test_the_real_clock_setter_refuses_here(tmp_path):
    c = Camward(tmp_path / "data")
    c.env["CAMWARD_CLOCK_SETTER"] = "system"
    c.start()
    try:
        c.setup_admin(ADMIN_USER, ADMIN_PASSWORD)
        clock = c.get("/api/v1/time").json()["clock"]
        # Checked before asking: never send a real set request to a daemon that could apply it.
        assert clock["settable"] is False, clock
        assert "container" in clock["refusal"] or "root" in clock["refusal"], clock
        before = time.time()
        r = requests.put(c.url("/api/v1/time"), json={"utc": "2030-03-17T17:46:40Z"}, auth=c.admin(), timeout=10)
        assert r.status_code == 409 and r.json()["error"] == "not_permitted", r.text
        assert abs(time.time() - before) < 60
        assert not (c.data_dir / "clock-requests.jsonl").exists()
    finally:
        c.stop()
