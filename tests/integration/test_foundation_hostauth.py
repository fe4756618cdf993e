"""Foundation: host authentication on IPv4 and IPv6 (dual-stack listener), refusal
before parsing, self-lockout refused with 409, and console recovery."""
import socket
import subprocess
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, BIN, Camward

AUTH = HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD)


@pytest.fixture
def dual(tmp_path):
    """A daemon listening on [::] (dual stack): 127.0.0.1 arrives as ::ffff:127.0.0.1, ::1 as native IPv6."""
    cam = Camward(tmp_path / "data", http_host="::")
    cam.start(wait=False)
    v4 = f"http://127.0.0.1:{cam.http_port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(v4 + "/api/v1/status", timeout=1)
            break
        except requests.RequestException:
            assert time.monotonic() < deadline, cam.read_log()
            time.sleep(0.05)
    r = requests.post(v4 + "/api/v1/setup", json=cam.setup_body(), timeout=10)
    assert r.status_code == 201
    cam.v4 = v4
    cam.v6 = f"http://[::1]:{cam.http_port}"
    yield cam
    cam.stop()


def raw_exchange(host, port, family):
    """Connects, sends a request, returns everything the server sent before closing."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk


def assert_refused(host, port, family):
    data = raw_exchange(host, port, family)
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n"), data
    assert b"Connection: close" in data
    # Nothing was parsed: no API headers, no JSON.
    assert b"www-authenticate" not in data.lower() and b"{" not in data


def patch(url, body):
    return requests.patch(url + "/api/v1/config", json=body, auth=AUTH, timeout=10)


def test_ipv4_and_ipv6_clients_filtered_per_list(dual):
    # From IPv6 ::1, allow only 127.0.0.1 → refused: would lock out the requester.
    r = patch(dual.v6, {"host_auth": {"enabled": True, "allow": ["127.0.0.1"]}})
    assert r.status_code == 409
    # From IPv4, allow 127.0.0.1 only: v4 (an IPv4-mapped peer on the dual-stack socket) passes, ::1 does not.
    r = patch(dual.v4, {"host_auth": {"enabled": True, "allow": ["127.0.0.1"]}})
    assert r.status_code == 200, r.text
    assert requests.get(dual.v4 + "/api/v1/status", auth=AUTH, timeout=10).status_code == 200
    assert_refused("::1", dual.http_port, socket.AF_INET6)
    try:
        # requests sees either the fixed 403 or the closed connection; never an API answer.
        assert requests.get(dual.v6 + "/api/v1/status", auth=AUTH, timeout=10).status_code == 403
    except requests.ConnectionError:
        pass
    # Add ::1 (and a CIDR): both pass.
    r = patch(dual.v4, {"host_auth": {"allow": ["127.0.0.0/8", "::1"]}})
    assert r.status_code == 200
    assert requests.get(dual.v6 + "/api/v1/status", auth=AUTH, timeout=10).status_code == 200
    # IPv6 only: from ::1, remove the IPv4 network → IPv4 refused, IPv6 fine.
    r = patch(dual.v6, {"host_auth": {"allow": ["::1/128"]}})
    assert r.status_code == 200, r.text
    assert_refused("127.0.0.1", dual.http_port, socket.AF_INET)
    assert requests.get(dual.v6 + "/api/v1/status", auth=AUTH, timeout=10).status_code == 200
    log = requests.get(dual.v6 + "/api/v1/log", auth=AUTH, timeout=10).json()["entries"]
    assert any(e["kind"] == "config.change" and "host_auth.allow" in e["detail"]["changed"] for e in log)


def test_self_lockout_is_refused_with_409_and_nothing_changes(dual):
    before = requests.get(dual.v4 + "/api/v1/config", auth=AUTH, timeout=10).json()
    r = patch(dual.v4, {"host_auth": {"enabled": True, "allow": ["192.0.2.0/24", "::1"]}})
    assert r.status_code == 409
    body = r.json()
    assert "127.0.0.1" in body["message"] and body["errors"][0]["rule"] == "host_auth.self_lockout"
    assert requests.get(dual.v4 + "/api/v1/config", auth=AUTH, timeout=10).json() == before


def test_invalid_entries_and_empty_list(dual):
    r = patch(dual.v4, {"host_auth": {"enabled": True, "allow": ["127.0.0.1", "not-an-ip", "10.0.0.5/8"]}})
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["host_auth.allow[1]", "host_auth.allow[2]"]
    r = patch(dual.v4, {"host_auth": {"enabled": True, "allow": []}})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "host_auth.allow.empty"


def test_open_connection_is_cut_when_its_host_is_removed(dual):
    s = requests.Session()
    s.auth = AUTH
    assert s.get(dual.v4 + "/api/v1/status", timeout=10).status_code == 200
    assert patch(dual.v6, {"host_auth": {"enabled": True, "allow": ["::1"]}}).status_code == 200
    # Same keep-alive connection as before the change: refused per request too.
    try:
        r = s.get(dual.v4 + "/api/v1/status", timeout=10)
        assert r.status_code == 403
    except requests.ConnectionError:
        pass


def test_console_reset_recovers_a_locked_out_site(dual):
    assert patch(dual.v6, {"host_auth": {"enabled": True, "allow": ["::1"]}}).status_code == 200
    assert_refused("127.0.0.1", dual.http_port, socket.AF_INET)
    p = subprocess.run([BIN, "host-auth", "reset", "--data", str(dual.data_dir)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(dual.v4 + "/api/v1/status", auth=AUTH, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the running daemon did not apply the console reset"
        time.sleep(0.2)
    cfg = requests.get(dual.v4 + "/api/v1/config", auth=AUTH, timeout=10).json()
    assert cfg["host_auth"] == {"enabled": False, "allow": ["::1"]}
