"""Foundation: brute-force lockout after 8 failures in 30 s from one address (429 +
Retry-After), other addresses unaffected (127.0.0.2), audit without passwords."""
import subprocess

from conftest import ADMIN_PASSWORD, ADMIN_USER
from foundation_digest import Raw


def test_lockout_after_8_failures_spares_other_addresses(cam_admin):
    a = Raw("127.0.0.1", cam_admin.http_port)
    b = Raw("127.0.0.1", cam_admin.http_port, source="127.0.0.2")
    for i in range(8):
        status, _, _, _ = a.get_digest(ADMIN_USER, f"Wrong-pass-{i}", alg="SHA-256")
        assert status == 401, i
    # The 9th attempt, even with the right password, is refused for a while.
    status, headers, body = a.request("GET", "/api/v1/status")
    assert status == 429, body
    retry = int(headers["Retry-After"])
    assert 1 <= retry <= 600
    # 127.0.0.2 is another client: unaffected, with the hand-written client and with curl.
    status, _, _, _ = b.get_digest(ADMIN_USER, ADMIN_PASSWORD, alg="MD5")
    assert status == 200
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.0.2", "--digest",
                        "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", cam_admin.url("/api/v1/status")],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "200", p.stderr
    # And still locked for 127.0.0.1.
    assert a.request("GET", "/api/v1/status")[0] == 429

    log = Raw("127.0.0.1", cam_admin.http_port, source="127.0.0.2")
    status, _, body, _ = log.get_digest(ADMIN_USER, ADMIN_PASSWORD, path="/api/v1/log?limit=100")
    assert status == 200
    text = body.decode()
    assert "login.lockout" in text and "login.fail" in text
    assert "Wrong-pass-" not in text and ADMIN_PASSWORD not in text


def test_missing_credentials_do_not_count_as_failures(cam_admin):
    a = Raw("127.0.0.1", cam_admin.http_port)
    for _ in range(20):
        assert a.request("GET", "/api/v1/status")[0] == 401
    assert cam_admin.get("/api/v1/status").status_code == 200
