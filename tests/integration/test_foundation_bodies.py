"""Foundation: bad request bodies (invalid JSON, unknown keys, wrong types, oversized,
wrong content type) get a 4xx with a clear message, and nothing changes."""
import pytest
import requests

from conftest import ADMIN_USER


def config(cam):
    return cam.get("/api/v1/config").json()


def users(cam):
    return [u["username"] for u in cam.get("/api/v1/users").json()["users"]]


def send(cam, method, path, data, content_type="application/json"):
    return requests.request(method, cam.url(path), data=data, headers={"Content-Type": content_type},
                            auth=cam.admin(), timeout=10)


@pytest.mark.parametrize("data,status,rule", [
    (b'{"user_auth": {"guest": true}', 400, "json.syntax"),
    (b"not json at all", 400, "json.syntax"),
    (b"", 400, "json.syntax"),
    (b'{"user_auth": {"guest": "yes"}}', 422, "type"),
    (b'{"user_auth": {"guest": 1}}', 422, "type"),
    (b'{"user_auth": {"method": "plain"}}', 422, "enum"),
    (b'{"user_auth": {"gest": true}}', 422, "unknown_field"),
    (b'{"telnet": {"enabled": true}}', 422, "unknown_field"),
    (b'{"host_auth": {"allow": "127.0.0.1"}}', 422, "type"),
    (b'[1, 2, 3]', 422, "type"),
    (b'{"user_auth": {"guest": true}, "host_auth": {"enabled": "x"}}', 422, "type"),
])
def test_bad_config_patch_changes_nothing(cam_admin, data, status, rule):
    before = config(cam_admin)
    r = send(cam_admin, "PATCH", "/api/v1/config", data)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["message"]
    assert rule in {e["rule"] for e in body["errors"]}, body
    assert config(cam_admin) == before


def test_error_names_the_json_path(cam_admin):
    r = send(cam_admin, "PATCH", "/api/v1/config", b'{"host_auth": {"allow": ["127.0.0.1", 7]}}')
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "host_auth.allow[1]"
    r = send(cam_admin, "PATCH", "/api/v1/config", b'{"user_auth": {"gest": true}}')
    assert r.json()["errors"][0]["path"] == "user_auth.gest"


def test_oversized_bodies_get_413(cam_admin):
    before = config(cam_admin)
    big = b'{"host_auth": {"allow": [' + b'"127.0.0.1",' * 10000 + b'"::1"]}}'
    r = send(cam_admin, "PATCH", "/api/v1/config", big)
    assert r.status_code == 413
    assert config(cam_admin) == before
    r = send(cam_admin, "POST", "/api/v1/users", b'{"username": "' + b"a" * 100_000 + b'"}')
    assert r.status_code == 413
    assert users(cam_admin) == [ADMIN_USER]


def test_wrong_content_type_gets_415(cam_admin):
    before = config(cam_admin)
    r = send(cam_admin, "PATCH", "/api/v1/config", b'{"user_auth": {"guest": true}}', content_type="text/plain")
    assert r.status_code == 415
    assert config(cam_admin) == before
    r = send(cam_admin, "PATCH", "/api/v1/config", b'{"user_auth": {"guest": true}}', content_type="application/merge-patch+json")
    assert r.status_code == 200 and r.json()["user_auth"]["guest"] is True


@pytest.mark.parametrize("data,status", [
    (b'{"username": "op", "password": "Str0ng-pass!", "level": "live", "admin": true}', 422),
    (b'{"username": "op", "password": "Str0ng-pass!"}', 422),
    (b'{"username": 5, "password": "Str0ng-pass!", "level": "live"}', 422),
    (b'{"username": "op", "password": "Str0ng-pass!", "level": "live"', 400),
])
def test_bad_user_bodies_change_nothing(cam_admin, data, status):
    r = send(cam_admin, "POST", "/api/v1/users", data)
    assert r.status_code == status, r.text
    assert r.json()["message"]
    assert users(cam_admin) == [ADMIN_USER]


def test_bad_setup_body_changes_nothing(cam):
    r = requests.post(cam.url("/api/v1/setup"), data=b'{"username": "a", "password": "Str0ng-pass!", "level": "live"}',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422
    assert requests.get(cam.url("/api/v1/status"), timeout=10).json()["error"] == "needs_setup"


def test_merge_patch_round_trip_of_get(cam_admin):
    # What GET returns can be PATCHed back unchanged.
    doc = config(cam_admin)
    r = cam_admin.patch_config(doc)
    assert r.status_code == 200 and r.json() == doc
