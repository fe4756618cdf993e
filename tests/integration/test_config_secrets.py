"""No secret of any configuration section leaves the device (paper §3.2): every section of
crates/camward-config/testdata/populated.json (every secret set) and of the defaults is written
through PATCH /api/v1/config, and no secret value may appear in GET /api/v1/config, in the audit
log (GET /api/v1/log) or in the daemon's log output at CAMWARD_LOG=debug.

The secret locations come from the served JSON Schema (`x-camward-secret`), so a new section with
a password is covered as soon as populated.json sets it (camward-config's unit test demands that).
"""
import json
import socket
import time
from pathlib import Path

import requests

from conftest import Camward, free_port

REPO = Path(__file__).resolve().parents[2]
POPULATED = REPO / "crates" / "camward-config" / "testdata" / "populated.json"


def secret_locations(schema, node, doc, path, out):
    """JSON paths (lists of keys) of every value the schema types as a Secret, within `doc`."""
    defs = schema.get("$defs", {})
    if "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    if node.get("x-camward-secret"):
        out.append(path)
        return
    for alt in node.get("anyOf", []):
        secret_locations(schema, alt, doc, path, out)
    if isinstance(doc, dict):
        for k, sub in node.get("properties", {}).items():
            if k in doc:
                secret_locations(schema, sub, doc[k], path + [k], out)
    if isinstance(doc, list) and "items" in node:
        for i, d in enumerate(doc):
            secret_locations(schema, node["items"], d, path + [i], out)


def secret_values(doc, schema):
    """The clear values a client writes: strings at secret locations, and RTSP URL passwords."""
    values = []
    for section, value in doc.items():
        if section == "source" and isinstance(value, str) and value.startswith("rtsp://"):
            auth = value[len("rtsp://"):].split("/")[0]
            if "@" in auth and ":" in auth.rsplit("@", 1)[0]:
                values.append(auth.rsplit("@", 1)[0].split(":", 1)[1])
    paths = []
    secret_locations(schema, schema, doc, [], paths)
    for p in paths:
        v = doc
        for k in p:
            v = v[k]
        if isinstance(v, str):
            values.append(v)
    return values


def test_no_secret_of_any_section_leaks_through_api_audit_or_log(tmp_path):
    cam = Camward(tmp_path / "data", extra_args=["--ftp", f"127.0.0.1:{free_port()}",
                                                 "--snmp", f"127.0.0.1:{free_port()}"])
    cam.env = {"CAMWARD_LOG": "debug"}
    cam.start()
    try:
        auth = cam.setup_admin()
        schema = cam.get("/api/v1/config/schema", auth=auth).json()
        populated = json.loads(POPULATED.read_text())
        assert set(populated) == set(schema["properties"]), "populated.json covers every section"
        secrets = secret_values(populated, schema)
        assert len(secrets) >= 3 and all(len(s) >= 8 for s in secrets), secrets

        # Each section alone (populated, then back to defaults), then all at once.
        for section, value in populated.items():
            r = cam.patch_config({section: value})
            assert r.status_code == 200, (section, r.text)
            assert not any(s in r.text for s in secrets), section
            shown = cam.get("/api/v1/config", auth=auth)
            assert not any(s in shown.text for s in secrets), section
            r = cam.patch_config({section: None})
            assert r.status_code == 200, (section, r.text)
        r = cam.patch_config(populated)
        assert r.status_code == 200, r.text
        shown = cam.get("/api/v1/config", auth=auth).json()
        # Every secret reads back as set, never as its value.
        assert shown["smtp"]["password"] == {"set": True}
        assert shown["ftp_client"]["password"] == {"set": True}
        assert shown["source"]["password"] == {"set": True}, shown["source"]
        assert shown["snmp"]["community"] == {"set": True}
        assert shown["snmp"]["users"][0]["auth_password"] == {"set": True}
        assert "SeCrEt" not in json.dumps(shown)
        # Sending back what GET showed keeps every secret (and changes nothing).
        r = cam.patch_config(shown)
        assert r.status_code == 200, r.text
        again = cam.get("/api/v1/config", auth=auth).json()
        assert again["smtp"]["password"] == {"set": True}
        assert again["snmp"]["users"][0]["priv_password"] == {"set": True}

        # Exercise the services that use the secrets: the camera pull, mail and FTP uploads fail
        # against closed ports and log why, at debug level.
        requests.post(cam.url("/api/v1/alarm"), json={"source": "command"}, auth=auth, timeout=10)
        log = cam.get("/api/v1/log?limit=1000", auth=auth)
        assert log.status_code == 200
        assert "config.change" in log.text
        assert not any(s in log.text for s in secrets)
        # An RTSP exchange, which the daemon logs at debug level (proves the level is in force).
        with socket.create_connection(("127.0.0.1", cam.rtsp_port), timeout=5) as sock:
            sock.sendall(f"OPTIONS rtsp://127.0.0.1:{cam.rtsp_port}/stream1 RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"RTSP/1.0")
        # The camera pull has retried at least once (its error is in the log, without the password).
        deadline = time.monotonic() + 15
        while "127.0.0.1:9" not in cam.read_log() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        cam.stop()
    out = cam.read_log()
    assert "127.0.0.1:9" in out, "the RTSP source was tried"
    assert "DEBUG" in out and "rtsp connection opened" in out, "the daemon logged at debug level"
    leaked = [s for s in secrets if s in out]
    assert not leaked, f"secrets in the daemon log: {leaked}"
