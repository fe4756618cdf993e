"""First access needs the one-time setup code (paper §3.2: the administrator is registered at first
access, and only by someone at the device): the daemon prints it on its console and writes it to
DATA/setup-code (0600); POST /api/v1/setup without it or with a wrong one is refused (403) and
counted towards the lockout; the console's `camward user add` needs no code; the file goes once an
administrator exists, and a restart before setup makes a new code.
"""
import http.client
import json
import os
import stat
import subprocess

import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, BIN, Camward


def post_setup(cam, body, source="127.0.0.1"):
    """POST /api/v1/setup from a chosen loopback address (the lockout counts per address)."""
    c = http.client.HTTPConnection("127.0.0.1", cam.http_port, timeout=10, source_address=(source, 0))
    try:
        c.request("POST", "/api/v1/setup", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read() or b"{}")
    finally:
        c.close()


def needs_setup(cam):
    return requests.get(cam.url("/api/v1/status"), timeout=10).json().get("error") == "needs_setup"


def test_setup_needs_the_code_from_the_console_or_the_file(cam):
    path = cam.data_dir / "setup-code"
    code = cam.setup_code()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(code) == 14 and code.count("-") == 2, code
    # Printed on the console (stderr) with the file's name.
    log = cam.read_log()
    assert code in log and "setup-code" in log, log[-2000:]

    for body in ({"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                 {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": "AAAA-BBBB-CCCC"},
                 {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": ""}):
        status, _, answer = post_setup(cam, body)
        assert status == 403, (body, status, answer)
        assert answer["error"] == "setup_code" and "setup-code" in answer["message"], answer
        assert needs_setup(cam)
    # The code as a person types it: lower case, spaces for dashes.
    status, _, answer = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                         "setup_code": code.lower().replace("-", " ")})
    assert status == 201, answer
    assert not path.exists(), "the code file goes once the administrator exists"
    # The code is spent.
    status, _, answer = post_setup(cam, {"username": "second", "password": "An0ther-pass!", "setup_code": code})
    assert status == 409 and answer["error"] == "already_set_up", answer
    entries = cam.get("/api/v1/log?limit=100").json()["entries"]
    kinds = [e["kind"] for e in entries]
    assert kinds.count("setup.fail") == 3 and "setup" in kinds, kinds
    assert code not in json.dumps(entries)


def test_wrong_codes_lock_the_address_out(cam):
    code = cam.setup_code()
    statuses = []
    for i in range(8):
        status, headers, _ = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                              "setup_code": f"WRNG-CODE-{i:04d}"})
        statuses.append(status)
    assert statuses == [403] * 8, statuses
    # Locked: even the right code is refused from this address now.
    status, headers, answer = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                               "setup_code": code})
    assert status == 429 and int(headers["retry-after"]) >= 1, (status, answer)
    # Another address with the right code registers (so nothing was registered before).
    status, _, answer = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": code},
                                   source="127.0.0.2")
    assert status == 201, answer
    # (This address is still locked out: read the audit log on the console.)
    log = subprocess.run([BIN, "log", "--data", str(cam.data_dir)], capture_output=True, text=True, timeout=30)
    assert "login.lockout" in log.stdout and "setup.fail" in log.stdout, log.stdout
    assert code not in log.stdout


def test_a_restart_before_setup_makes_a_new_code(cam):
    old = cam.setup_code()
    cam.restart()
    new = cam.setup_code()
    assert new != old
    status, _, _ = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": old})
    assert status == 403
    assert post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": new})[0] == 201


def test_the_console_registers_without_a_code_and_ends_setup(cam):
    path = cam.data_dir / "setup-code"
    code = cam.setup_code()
    p = subprocess.run([BIN, "user", "add", "boss", "--level", "admin", "--data", str(cam.data_dir)],
                       input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert not path.exists()
    status, _, answer = post_setup(cam, {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "setup_code": code})
    assert status == 409, answer
    assert cam.get("/api/v1/status", auth=HTTPDigestAuth("boss", ADMIN_PASSWORD)).json()["level"] == "admin"
    # A restart with an administrator leaves no code behind.
    cam.restart()
    assert not path.exists()
    assert code not in cam.read_log().split("shutting down")[-1]


def test_the_setup_body_documents_the_code(cam_admin):
    spec = cam_admin.get("/api/v1/openapi.json").json()
    op = spec["paths"]["/api/v1/setup"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    assert "setup_code" in schema["properties"], schema
    assert {"403", "409", "429"} <= set(op["responses"]), op["responses"].keys()
