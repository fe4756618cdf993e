"""Foundation: access levels on every endpoint, last administrator, guest access,
and the password policy of the paper's User auth. screen, one 422 per rule."""
import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_USER

PW = "Str0ng-pass!"

# (method, path, body, minimum level) for every foundation endpoint.
ENDPOINTS = [
    ("GET", "/api/v1/status", None, "live"),
    ("GET", "/api/v1/config", None, "admin"),
    ("PATCH", "/api/v1/config", {}, "admin"),
    ("GET", "/api/v1/users", None, "admin"),
    ("POST", "/api/v1/users", {"username": "newbie", "password": PW, "level": "live"}, "admin"),
    ("PATCH", "/api/v1/users/victim", {"level": "live"}, "admin"),
    ("DELETE", "/api/v1/users/victim", None, "admin"),
    ("GET", "/api/v1/log", None, "admin"),
]
RANK = {"live": 0, "control": 1, "admin": 2}


@pytest.mark.parametrize("level", ["admin", "control", "live"])
def test_each_level_reaches_exactly_what_it_may(cam_admin, level):
    cam_admin.add_user("victim", PW, "live")
    auth = cam_admin.admin() if level == "admin" else cam_admin.add_user(f"u-{level}", PW, level)
    for method, path, body, need in ENDPOINTS:
        r = requests.request(method, cam_admin.url(path), json=body, auth=auth, timeout=10)
        if RANK[level] >= RANK[need]:
            assert r.status_code in (200, 201, 204), (level, method, path, r.status_code, r.text)
        else:
            assert r.status_code == 403, (level, method, path, r.status_code, r.text)
            assert r.json()["error"] == "forbidden"
        if method == "DELETE" and r.status_code == 204:
            cam_admin.add_user("victim", PW, "live")


def test_status_tells_the_level(cam_admin):
    auth = cam_admin.add_user("viewer", PW, "live")
    s = cam_admin.get("/api/v1/status", auth=auth).json()
    assert s["level"] == "live" and s["user"] == "viewer"
    assert "warnings" not in s


def test_last_admin_cannot_be_deleted_or_demoted(cam_admin):
    r = requests.delete(cam_admin.url(f"/api/v1/users/{ADMIN_USER}"), auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "last_admin"
    r = requests.patch(cam_admin.url(f"/api/v1/users/{ADMIN_USER}"), json={"level": "control"}, auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "last_admin"
    # With a second administrator, the first can go.
    second = cam_admin.add_user("second-admin", PW, "admin")
    r = requests.delete(cam_admin.url(f"/api/v1/users/{ADMIN_USER}"), auth=second, timeout=10)
    assert r.status_code == 204
    r = requests.delete(cam_admin.url("/api/v1/users/second-admin"), auth=second, timeout=10)
    assert r.status_code == 409
    assert [u["username"] for u in requests.get(cam_admin.url("/api/v1/users"), auth=second, timeout=10).json()["users"]] == ["second-admin"]


def test_user_changes_own_password_but_not_others(cam_admin):
    auth = cam_admin.add_user("viewer", PW, "live")
    cam_admin.add_user("other", PW, "live")
    r = requests.patch(cam_admin.url("/api/v1/users/other"), json={"password": "An0ther-pass!"}, auth=auth, timeout=10)
    assert r.status_code == 403
    r = requests.patch(cam_admin.url("/api/v1/users/viewer"), json={"level": "admin"}, auth=auth, timeout=10)
    assert r.status_code == 403
    r = requests.patch(cam_admin.url("/api/v1/users/viewer"), json={"password": "An0ther-pass!"}, auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    assert cam_admin.get("/api/v1/status", auth=auth).status_code == 401
    assert cam_admin.get("/api/v1/status", auth=HTTPDigestAuth("viewer", "An0ther-pass!")).status_code == 200


def test_admin_changes_level_and_password(cam_admin):
    cam_admin.add_user("op", PW, "live")
    r = requests.patch(cam_admin.url("/api/v1/users/op"), json={"level": "control", "password": "N3w-password?"},
                       auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 200 and r.json()["level"] == "control"
    s = cam_admin.get("/api/v1/status", auth=HTTPDigestAuth("op", "N3w-password?")).json()
    assert s["level"] == "control"


def test_duplicate_and_missing_accounts(cam_admin):
    cam_admin.add_user("op", PW, "live")
    r = requests.post(cam_admin.url("/api/v1/users"), json={"username": "op", "password": PW, "level": "live"},
                      auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 409
    r = requests.delete(cam_admin.url("/api/v1/users/ghost"), auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 404
    r = requests.post(cam_admin.url("/api/v1/users"), json={"username": "x1", "password": PW, "level": "root"},
                      auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "level"


def test_guest_live_only_when_enabled(cam_admin):
    assert requests.get(cam_admin.url("/api/v1/status"), timeout=10).status_code == 401
    assert cam_admin.patch_config({"user_auth": {"guest": True}}).status_code == 200
    r = requests.get(cam_admin.url("/api/v1/status"), timeout=10)
    assert r.status_code == 200 and r.json()["level"] == "live" and r.json()["user"] is None
    # A guest asking for more is asked for credentials (401 with a challenge), not let in.
    r = requests.get(cam_admin.url("/api/v1/config"), timeout=10)
    assert r.status_code == 401 and "Digest" in r.headers["WWW-Authenticate"]
    assert cam_admin.get("/api/v1/config").status_code == 200
    assert cam_admin.patch_config({"user_auth": {"guest": False}}).status_code == 200
    assert requests.get(cam_admin.url("/api/v1/status"), timeout=10).status_code == 401


def post_user(cam, username, password):
    return requests.post(cam.url("/api/v1/users"), json={"username": username, "password": password, "level": "live"},
                         auth=cam.admin(), timeout=10)


@pytest.mark.parametrize("username,password,rule", [
    ("", PW, "username.length"),
    ("u" * 33, PW, "username.length"),
    ("カメラ", PW, "username.charset"),
    ('bad"name', PW, "username.forbidden_char"),
    ("bad&name", PW, "username.forbidden_char"),
    ("bad;name", PW, "username.forbidden_char"),
    ("bad\\name", PW, "username.forbidden_char"),
    ("viewer", "Ab1-xyz", "password.length"),
    ("viewer", "Ab1-" + "x" * 29, "password.length"),
    ("viewer", "qzwxecrvtb", "password.classes"),
    ("viewer", "73910462", "password.classes"),
    ("viewer", 'Qz"wx9ecr', "password.forbidden_char"),
    ("viewer", "Qz&wx9ecr", "password.forbidden_char"),
    ("viewer", "Qzwx9ecré", "password.charset"),
    ("Oper-8tor", "Oper-8tor", "password.equals_username"),
    ("viewer", "password1", "password.common"),
    ("viewer", "Admin123", "password.common"),
    ("viewer", "1q2w3e4r", "password.common"),
])
def test_each_password_rule_gives_its_own_422(cam_admin, username, password, rule):
    r = post_user(cam_admin, username, password)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [e["rule"] for e in errors] == [rule], errors
    assert errors[0]["path"] in ("username", "password") and errors[0]["message"]
    assert [u["username"] for u in cam_admin.get("/api/v1/users").json()["users"]] == [ADMIN_USER]


def test_policy_boundaries_accepted(cam_admin):
    assert post_user(cam_admin, "u" * 32, "Ab1-" + "x" * 28).status_code == 201
    assert post_user(cam_admin, "k", "x7#kq9!m").status_code == 201


def test_policy_applies_to_password_change(cam_admin):
    cam_admin.add_user("op", PW, "live")
    r = requests.patch(cam_admin.url("/api/v1/users/op"), json={"password": "op"}, auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 422
    assert "password.length" in {e["rule"] for e in r.json()["errors"]}
