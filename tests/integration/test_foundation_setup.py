"""Foundation: no default account, first-access setup, default credentials never work."""
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER

DEFAULT_CREDENTIALS = [
    ("admin", "admin"), ("root", "12345"), ("admin", "12345"), ("admin", "password"),
    ("root", "root"), ("admin", ""), ("admin", "1234"), ("root", ""), ("admin", "123456"),
    ("ipcam", "ipcam"), ("root", "pass"), ("user", "user"), ("guest", "guest"),
]


def try_defaults(cam):
    results = []
    for user, password in DEFAULT_CREDENTIALS:
        for auth in (HTTPDigestAuth(user, password), HTTPBasicAuth(user, password)):
            r = requests.get(cam.url("/api/v1/status"), auth=auth, timeout=10)
            results.append((user, password, type(auth).__name__, r.status_code))
    return results


def test_every_endpoint_needs_setup_before_an_admin_exists(cam):
    for method, path in [("GET", "/api/v1/status"), ("GET", "/api/v1/config"), ("PATCH", "/api/v1/config"),
                         ("GET", "/api/v1/users"), ("POST", "/api/v1/users"), ("GET", "/api/v1/log"),
                         ("DELETE", "/api/v1/users/admin"), ("GET", "/api/v1/nonexistent")]:
        r = requests.request(method, cam.url(path), json={}, timeout=10)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json()["error"] == "needs_setup", (method, path)
        assert "setup" in r.json()["message"]


def test_default_credentials_fail_before_setup(cam):
    for user, password, scheme, status in try_defaults(cam):
        assert status == 401, (user, password, scheme)


def test_setup_works_once_then_409(cam):
    r = requests.post(cam.url("/api/v1/setup"), json=cam.setup_body(ADMIN_USER, ADMIN_PASSWORD), timeout=10)
    assert r.status_code == 201, r.text
    assert r.json() == {"username": ADMIN_USER, "level": "admin"}
    r = cam.get("/api/v1/status")
    assert r.status_code == 200 and r.json()["level"] == "admin"
    for body in ({"username": "second", "password": "An0ther-pass!"}, {"username": ADMIN_USER, "password": ADMIN_PASSWORD}):
        r = requests.post(cam.url("/api/v1/setup"), json=body, timeout=10)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "already_set_up"
    users = cam.get("/api/v1/users").json()["users"]
    assert [u["username"] for u in users] == [ADMIN_USER]


def test_default_credentials_fail_after_setup(cam_admin):
    # Basic is off by default; switch it on so Basic guesses are really checked, not just refused.
    assert cam_admin.patch_config({"user_auth": {"method": "digest_or_basic"}}).status_code == 200
    results = try_defaults(cam_admin)
    # Refused every time: 401, or 429 once the guessing has locked this address out.
    assert all(status in (401, 429) for *_, status in results), results
    assert [s for *_, s in results][:8] == [401] * 8
    assert 429 in [s for *_, s in results]


def test_setup_enforces_password_policy(cam):
    r = requests.post(cam.url("/api/v1/setup"), json=cam.setup_body("admin", "admin"), timeout=10)
    assert r.status_code == 422
    rules = {e["rule"] for e in r.json()["errors"]}
    assert {"password.length", "password.equals_username", "password.classes"} <= rules
    # Still not set up.
    assert requests.get(cam.url("/api/v1/status"), timeout=10).json()["error"] == "needs_setup"


def test_status_reports_version_and_uptime(cam_admin):
    s = cam_admin.get("/api/v1/status").json()
    assert s["product"] == "camward" and s["version"]
    assert isinstance(s["uptime_secs"], int)
    assert "serial" in s


def test_security_headers_on_every_response(cam_admin):
    for r in (requests.get(cam_admin.url("/api/v1/status"), timeout=10), cam_admin.get("/api/v1/status"),
              cam_admin.get("/api/v1/nothing-here")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Cache-Control"] == "no-store"
