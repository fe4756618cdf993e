"""Foundation: RFC 7616 Digest against external clients (curl, requests, a hand-written
RFC client), SHA-256 and MD5, replay refusal, stale nonce recovery, Basic only when configured."""
import subprocess
import time

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, Camward
from foundation_digest import Raw, authorization, parse_challenges


def curl(cam, *args, user=ADMIN_USER, password=ADMIN_PASSWORD, path="/api/v1/status"):
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-v", *args,
                        "-u", f"{user}:{password}", cam.url(path)],
                       capture_output=True, text=True, timeout=30)
    return int(p.stdout.strip() or 0), p.stderr


def test_curl_digest_succeeds_with_right_password_and_fails_with_wrong(cam_admin):
    code, log = curl(cam_admin, "--digest")
    assert code == 200, log
    # curl takes the first (strongest) challenge: this is the SHA-256 exchange with curl.
    assert "algorithm=SHA-256" in log
    code, _ = curl(cam_admin, "--digest", password="Wrong-pass-99")
    assert code == 401


def test_requests_digest_md5_succeeds_and_fails_with_wrong_password(cam_admin):
    r = requests.get(cam_admin.url("/api/v1/users"), auth=HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD), timeout=10)
    assert r.status_code == 200
    # requests merges the challenges and answers the last, MD5 one.
    assert 'algorithm="MD5"' in r.request.headers["Authorization"]
    r = requests.get(cam_admin.url("/api/v1/users"), auth=HTTPDigestAuth(ADMIN_USER, "Wrong-pass-99"), timeout=10)
    assert r.status_code == 401


@pytest.mark.parametrize("alg", ["SHA-256", "MD5"])
def test_rfc7616_exchange_by_hand(cam_admin, alg):
    raw = Raw("127.0.0.1", cam_admin.http_port)
    chal = raw.challenge()
    assert [c.get("algorithm") for c in chal if c["scheme"] == "Digest"] == ["SHA-256", "MD5"]
    assert all(c["qop"] == "auth" and c["realm"] == "camward" for c in chal)
    status, _, body, _ = raw.get_digest(ADMIN_USER, ADMIN_PASSWORD, alg=alg)
    assert status == 200, body
    status, _, _, _ = raw.get_digest(ADMIN_USER, "Wrong-pass-99", alg=alg)
    assert status == 401


def test_replayed_nonce_count_is_refused(cam_admin):
    raw = Raw("127.0.0.1", cam_admin.http_port)
    status, _, _, hdr = raw.get_digest(ADMIN_USER, ADMIN_PASSWORD, alg="SHA-256")
    assert status == 200
    # The exact same Authorization header (same nonce, same nc) again: a captured request replayed.
    status, _, body, = raw.request("GET", "/api/v1/status", {"Authorization": hdr})
    assert status == 401, body
    # The next nc on the same nonce is fine.
    nonce = parse_challenges([hdr])[0]["nonce"]
    status, _, _, _ = raw.get_digest(ADMIN_USER, ADMIN_PASSWORD, alg="SHA-256", nonce=nonce, nc=2)
    assert status == 200
    log = cam_admin.get("/api/v1/log").json()["entries"]
    assert any(e["kind"] == "login.fail" and e["detail"].get("reason") == "replay" for e in log)


def test_response_for_another_uri_is_refused(cam_admin):
    raw = Raw("127.0.0.1", cam_admin.http_port)
    nonce = raw.challenge()[0]["nonce"]
    hdr = authorization("SHA-256", ADMIN_USER, ADMIN_PASSWORD, nonce, "GET", "/api/v1/status")
    status, _, _ = raw.request("GET", "/api/v1/users", {"Authorization": hdr})
    assert status == 401


def test_expired_nonce_gets_stale_and_client_recovers(tmp_path):
    cam = Camward(tmp_path / "data", extra_args=["--nonce-ttl-secs", "1"]).start()
    try:
        cam.setup_admin()
        raw = Raw("127.0.0.1", cam.http_port)
        nonce = raw.challenge()[0]["nonce"]
        time.sleep(2.2)
        hdr = authorization("SHA-256", ADMIN_USER, ADMIN_PASSWORD, nonce, "GET", "/api/v1/status")
        status, headers, _ = raw.request("GET", "/api/v1/status", {"Authorization": hdr})
        assert status == 401
        chal = parse_challenges(headers.get_all("WWW-Authenticate"))
        assert all(c.get("stale") == "true" for c in chal if c["scheme"] == "Digest")
        # A stale answer is not a failed login.
        assert not any(e["kind"] == "login.fail" for e in cam.get("/api/v1/log").json()["entries"])
        # requests reuses its nonce preemptively; on stale=true it retries with the new one.
        s = requests.Session()
        s.auth = HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD)
        assert s.get(cam.url("/api/v1/status"), timeout=10).status_code == 200
        time.sleep(2.2)
        r = s.get(cam.url("/api/v1/status"), timeout=10)
        assert r.status_code == 200
        assert any(h.status_code == 401 for h in r.history), "the old nonce should have been refused as stale first"
    finally:
        cam.stop()


def test_nonce_from_a_previous_boot_is_stale(cam_admin):
    raw = Raw("127.0.0.1", cam_admin.http_port)
    nonce = raw.challenge()[0]["nonce"]
    cam_admin.restart()
    raw = Raw("127.0.0.1", cam_admin.http_port)
    hdr = authorization("MD5", ADMIN_USER, ADMIN_PASSWORD, nonce, "GET", "/api/v1/status")
    status, headers, _ = raw.request("GET", "/api/v1/status", {"Authorization": hdr})
    assert status == 401
    assert "stale=true" in headers.get("WWW-Authenticate")


def test_basic_refused_by_default_accepted_with_digest_or_basic(cam_admin):
    basic = HTTPBasicAuth(ADMIN_USER, ADMIN_PASSWORD)
    r = requests.get(cam_admin.url("/api/v1/status"), auth=basic, timeout=10)
    assert r.status_code == 401
    assert not any(v.startswith("Basic") for v in r.raw.headers.getlist("WWW-Authenticate"))
    code, _ = curl(cam_admin, "--basic")
    assert code == 401

    assert cam_admin.patch_config({"user_auth": {"method": "digest_or_basic"}}).status_code == 200
    r = requests.get(cam_admin.url("/api/v1/status"), timeout=10)
    assert any(v.startswith("Basic") for v in r.raw.headers.getlist("WWW-Authenticate"))
    assert requests.get(cam_admin.url("/api/v1/status"), auth=basic, timeout=10).status_code == 200
    code, _ = curl(cam_admin, "--basic")
    assert code == 200
    assert requests.get(cam_admin.url("/api/v1/status"), auth=HTTPBasicAuth(ADMIN_USER, "Wrong-pass-99"),
                        timeout=10).status_code == 401
    # Digest keeps working alongside.
    assert cam_admin.get("/api/v1/status").status_code == 200

    assert cam_admin.patch_config({"user_auth": {"method": "digest"}}).status_code == 200
    assert requests.get(cam_admin.url("/api/v1/status"), auth=basic, timeout=10).status_code == 401


def test_malformed_authorization_headers_are_refused(cam_admin):
    raw = Raw("127.0.0.1", cam_admin.http_port)
    for hdr in ['Digest username="installer', "Digest ,,,", "Basic !!!", "Bearer abc", "Digest " + "a=b," * 500,
                'Digest username="installer", realm="camward", nonce="00", uri="/api/v1/status", response="00", qop=auth, nc=1, cnonce="x"']:
        status, _, _ = raw.request("GET", "/api/v1/status", {"Authorization": hdr})
        assert status == 401, hdr
