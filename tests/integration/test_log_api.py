"""The audit log as the Log page reads it (GET /api/v1/log) and as an auditor downloads it
(GET /api/v1/log/download): filters by kind prefix, user and time, paging, CSV (RFC 4180, read
with Python's csv module) and JSON; one `login.ok` per login session however many requests and
nonces it takes; HTTPS logins recorded as https."""
import csv
import io
import time
from datetime import datetime, timezone

import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER


def entries(cam, query):
    r = cam.get(f"/api/v1/log?{query}")
    assert r.status_code == 200, r.text
    return r.json()


def test_filters_paging_and_downloads(cam_admin):
    cam = cam_admin
    for i in range(5):
        assert cam.patch_config({"jpeg": {"refresh_fps": 1 + i}}).status_code == 200
    cam.add_user("op", "Oper-ator-2026", "control")
    mid = datetime.now(timezone.utc)
    time.sleep(0.05)
    assert cam.patch_config({"jpeg": {"refresh_fps": 9}}).status_code == 200

    page = entries(cam, "kind=config&limit=2")
    assert [e["kind"] for e in page["entries"]] == ["config.change", "config.change"]
    older = entries(cam, f"kind=config&limit=2&before={page['next_before']}")
    assert older["entries"][0]["id"] < page["entries"][-1]["id"]
    assert {e["kind"] for e in entries(cam, "kind=account,setup")["entries"]} == {"account.create", "setup"}
    assert all(e["actor"] == ADMIN_USER for e in entries(cam, f"actor={ADMIN_USER}")["entries"])
    since = entries(cam, "kind=config&from=" + mid.isoformat().replace("+00:00", "Z"))["entries"]
    assert len(since) == 1 and since[0]["detail"]["changed"] == {"jpeg.refresh_fps": 9}
    last = entries(cam, "kind=config&limit=1000")["entries"]
    assert len(last) == 6 and "next_before" not in entries(cam, "kind=config&limit=1000")

    r = cam.get("/api/v1/log/download?format=csv&kind=config")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 6 and {row["kind"] for row in rows} == {"config.change"}
    assert '"jpeg.refresh_fps":9' in rows[0]["detail"].replace(" ", "")
    j = cam.get("/api/v1/log/download?format=json&kind=config&actor=" + ADMIN_USER)
    assert j.status_code == 200 and len(j.json()["entries"]) == 6

    for bad in ["kind=login'--", "from=yesterday", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"]:
        assert cam.get(f"/api/v1/log?{bad}").status_code == 400, bad
    assert cam.get("/api/v1/log/download?format=xml").status_code == 400
    op = HTTPDigestAuth("op", "Oper-ator-2026")
    assert cam.get("/api/v1/log/download", auth=op).status_code == 403


def test_one_login_entry_per_session_and_a_failure_starts_a_new_one(cam_admin):
    cam = cam_admin
    before = len(entries(cam, "kind=login.ok&limit=1000")["entries"])
    # Every requests call below authenticates afresh: a new challenge and nonce each time.
    for _ in range(6):
        assert requests.get(cam.url("/api/v1/status"), auth=HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD),
                            timeout=10).status_code == 200
    ok = entries(cam, "kind=login.ok&limit=1000")["entries"]
    assert len(ok) - before <= 1, f"{len(ok) - before} login entries for one session"
    assert requests.get(cam.url("/api/v1/status"), auth=HTTPDigestAuth(ADMIN_USER, "Wrong-pass-1"),
                        timeout=10).status_code == 401
    assert requests.get(cam.url("/api/v1/status"), auth=HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD),
                        timeout=10).status_code == 200
    log = entries(cam, "kind=login&limit=3")["entries"]
    assert [e["kind"] for e in log[:2]] == ["login.ok", "login.fail"], log


def test_https_logins_are_recorded_as_https(cam_https):
    r = cam_https.sreq("GET", "/api/v1/log?kind=login.ok&limit=1")
    assert r.status_code == 200
    assert r.json()["entries"][0]["detail"]["protocol"] == "https"
