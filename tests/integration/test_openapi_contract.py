"""The OpenAPI 3.1 document the daemon serves (GET /api/v1/openapi.json) is the HTTP API's contract:
every answer of a scripted session — setup, users, config, recordings, alarm, live, certificate, log,
errors included — is validated against it with openapi-core, the way a generated client would read it.
"""
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER

openapi_core = pytest.importorskip("openapi_core", reason="openapi-core (pip) is not installed; scripts/setup installs it")
from openapi_core import OpenAPI  # noqa: E402
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse  # noqa: E402


class Checked:
    """Sends requests and validates each answer against the served document."""

    def __init__(self, cam, spec):
        self.cam = cam
        self.api = OpenAPI.from_dict(spec)
        self.seen = []

    def send(self, method, path, auth=None, **kw):
        r = requests.request(method, self.cam.url(path), auth=auth, timeout=20, **kw)
        self.api.validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
        self.seen.append((method, path.split("?")[0], r.status_code))
        return r


def test_every_answer_of_a_session_matches_the_served_openapi_document(cam):
    admin = HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD)
    assert requests.get(cam.url("/api/v1/openapi.json"), timeout=10).status_code == 401
    r = requests.post(cam.url("/api/v1/setup"), json=cam.setup_body(ADMIN_USER, ADMIN_PASSWORD), timeout=10)
    assert r.status_code == 201, r.text
    spec = requests.get(cam.url("/api/v1/openapi.json"), auth=admin, timeout=10).json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["digest"] == {
        "type": "http", "scheme": "digest",
        "description": spec["components"]["securitySchemes"]["digest"]["description"]}
    for path in ["/api/v1/setup", "/api/v1/config", "/api/v1/config/schema", "/api/v1/users",
                 "/api/v1/users/{name}", "/api/v1/recordings", "/api/v1/recordings/{file}",
                 "/api/v1/export.mp4", "/api/v1/alarm", "/api/v1/alarm/log", "/api/v1/snapshot.jpg",
                 "/api/v1/mjpeg", "/api/v1/certificate", "/api/v1/log", "/api/v1/status",
                 "/api/v1/status/details", "/api/v1/streams", "/api/v1/log/download", "/api/v1/logout",
                 "/api/v1/recordings/{id}/verification", "/api/v1/live.mp4", "/api/v1/config/backup",
                 "/api/v1/config/restore", "/api/v1/maintenance/restart", "/api/v1/maintenance/factory-reset"]:
        assert path in spec["paths"], path
    c = Checked(cam, spec)

    # setup: once only
    assert c.send("POST", "/api/v1/setup", json={"username": "second", "password": "Other-pass-1"}) \
        .status_code == 409
    # errors of the gate
    assert c.send("GET", "/api/v1/status").status_code == 401
    assert c.send("GET", "/api/v1/status", auth=HTTPDigestAuth(ADMIN_USER, "wrong-Pass-1")).status_code == 401
    st = c.send("GET", "/api/v1/status", auth=admin)
    assert st.status_code == 200 and st.json()["level"] == "admin"

    # users
    assert c.send("GET", "/api/v1/users", auth=admin).status_code == 200
    assert c.send("POST", "/api/v1/users", auth=admin,
                  json={"username": "op", "password": "Str0ng-pass!", "level": "live"}).status_code == 201
    assert c.send("POST", "/api/v1/users", auth=admin,
                  json={"username": "op", "password": "Str0ng-pass!", "level": "live"}).status_code == 409
    assert c.send("POST", "/api/v1/users", auth=admin,
                  json={"username": "weak", "password": "short", "level": "live"}).status_code == 422
    op = HTTPDigestAuth("op", "Str0ng-pass!")
    assert c.send("GET", "/api/v1/users", auth=op).status_code == 403
    assert c.send("PATCH", "/api/v1/users/op", auth=admin, json={"level": "control"}).status_code == 200
    assert c.send("PATCH", "/api/v1/users/nobody", auth=admin, json={"level": "control"}).status_code == 404
    assert c.send("PATCH", f"/api/v1/users/{ADMIN_USER}", auth=admin, json={"level": "live"}).status_code == 409

    # config
    assert c.send("GET", "/api/v1/config", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/config/schema", auth=admin).status_code == 200
    r = c.send("PATCH", "/api/v1/config", auth=admin,
               json={"smtp": {"password": "Mail-secret-9"}, "alarm": {"command": {"enabled": True}}})
    assert r.status_code == 200 and r.json()["smtp"]["password"] == {"set": True}, r.text
    assert c.send("PATCH", "/api/v1/config", auth=admin, json={"streams": {"stream1": {"fps": 0}}}).status_code == 422
    assert c.send("PATCH", "/api/v1/config", auth=admin, data="{nope",
                  headers={"Content-Type": "application/json"}).status_code == 400
    assert c.send("PATCH", "/api/v1/config", auth=admin, data="x=1",
                  headers={"Content-Type": "text/plain"}).status_code == 415
    assert c.send("PATCH", "/api/v1/config", auth=admin,
                  json={"host_auth": {"enabled": True, "allow": ["192.0.2.0/24"]}}).status_code == 409

    # alarm
    a = c.send("POST", "/api/v1/alarm", auth=admin, json={"source": "command"})
    assert a.status_code == 202, a.text
    assert c.send("POST", "/api/v1/alarm", auth=admin, json={"source": "vmd"}).status_code == 400
    assert c.send("POST", "/api/v1/alarm", auth=admin, json={"source": "audio"}).status_code == 409
    assert c.send("GET", "/api/v1/alarm", auth=admin).json()["active"] is True
    assert c.send("GET", "/api/v1/alarm/log", auth=admin).status_code == 200
    assert c.send("PATCH", "/api/v1/config", auth=admin,
                  json={"alarm": {"command": {"enabled": False}}}).status_code == 200
    assert c.send("POST", "/api/v1/alarm", auth=admin).status_code == 409

    # recordings (503 with Retry-After while storage checks its files, then a list)
    deadline = time.monotonic() + 20
    r = c.send("GET", "/api/v1/recordings", auth=admin)
    while r.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.25)
        r = c.send("GET", "/api/v1/recordings", auth=admin)
    assert r.status_code == 200 and r.json() == [], r.text
    assert c.send("GET", "/api/v1/recordings?from=yesterday", auth=admin).status_code == 400
    assert c.send("GET", "/api/v1/recordings/7.mp4", auth=admin).status_code == 404
    assert c.send("GET", "/api/v1/export.mp4?stream=1", auth=admin).status_code == 400
    assert c.send("GET", "/api/v1/export.mp4?stream=1&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z",
                  auth=admin).status_code == 404

    # live: a snapshot once the pipeline produces, bad queries
    deadline = time.monotonic() + 20
    r = c.send("GET", "/api/v1/snapshot.jpg?stream=2", auth=admin)
    while r.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.25)
        r = c.send("GET", "/api/v1/snapshot.jpg?stream=2", auth=admin)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert c.send("GET", "/api/v1/snapshot.jpg?stream=3", auth=admin).status_code == 400

    assert c.send("GET", "/api/v1/live.mp4?stream=3", auth=admin).status_code == 400
    assert c.send("GET", "/api/v1/recordings/7/verification", auth=admin).status_code == 404

    # device state for the Status and Live pages
    assert c.send("GET", "/api/v1/status/details", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/streams", auth=op).status_code == 200
    assert c.send("GET", "/api/v1/status/details", auth=op).status_code == 403
    assert c.send("GET", "/api/v1/logout").status_code == 401

    # settings backup and restore
    b = c.send("POST", "/api/v1/config/backup", auth=admin)
    assert b.status_code == 200, b.text
    assert c.send("POST", "/api/v1/config/backup", auth=admin, json={"passphrase": "short"}).status_code == 422
    assert c.send("POST", "/api/v1/config/restore", auth=admin, json={"backup": b.json()}).status_code == 200
    assert c.send("POST", "/api/v1/config/restore", auth=admin,
                  json={"backup": {**b.json(), "format": "other"}}).status_code == 422
    assert c.send("POST", "/api/v1/maintenance/factory-reset", auth=admin, json={}).status_code == 422

    # certificate, log, unknown paths
    assert c.send("GET", "/api/v1/certificate", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/log?limit=5", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/log?limit=2&kind=config,login&actor=installer", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/log?limit=x", auth=admin).status_code == 400
    assert c.send("GET", "/api/v1/log/download?format=csv&kind=config", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/log/download?format=json", auth=admin).status_code == 200
    assert c.send("GET", "/api/v1/log/download?format=xml", auth=admin).status_code == 400
    assert c.send("DELETE", "/api/v1/users/op", auth=admin).status_code == 204
    assert c.send("GET", "/api/v1/openapi.json", auth=admin).status_code == 200
    # Last: the camera restarts itself.
    assert c.send("POST", "/api/v1/maintenance/restart", auth=admin).status_code == 202

    statuses = {s for (_, _, s) in c.seen}
    assert {200, 201, 202, 204, 400, 401, 403, 404, 409, 415, 422}.issubset(statuses), statuses
