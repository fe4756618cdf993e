"""`camward audit` and GET /api/v1/audit (paper §3–§4): a fresh device lists the cautions that apply
to its defaults and exits 1 (Connection HTTP is a high finding); an administrator applies the fix
each finding names, through the API as the web UI would (settings with PATCH /api/v1/config, the
certificate through the CSR and install routes), and the audit then reports none of them and exits
0. The console and the API give the same report; only administrators may read it.
"""
import json
import subprocess

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import BIN
from https_util import openssl_ca, openssl_sign

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

FRESH = ["https.off", "certificate.self_signed", "host_auth.off", "rtsp.unencrypted", "data_encryption.off"]


def console_audit(cam, *args):
    p = subprocess.run([BIN, "audit", "--data", str(cam.data_dir), *args], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def console_report(cam):
    code, out, err = console_audit(cam, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def api_report(cam, https):
    r = cam.sreq("GET", "/api/v1/audit") if https else cam.get("/api/v1/audit")
    assert r.status_code == 200, r.text
    return r.json()


def ids(report):
    return [f["id"] for f in report["findings"]]


def merge_at(path, value):
    """The merge patch that sets the dotted `path` to `value`."""
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


def test_fresh_device_lists_the_cautions_of_its_defaults_and_fails(https_cam):
    code, report = console_report(https_cam)
    assert code == 1
    assert ids(report) == FRESH
    assert report["passed"] is False and report["counts"]["high"] == 1
    for f in report["findings"]:
        assert f["severity"] in ("high", "medium", "low", "info")
        assert f["paper"].startswith("§") and f["why"].endswith(".") and f["fix"]["action"]
    assert report["findings"][0]["fix"] == {"path": "https.connection", "value": "https", "example": False,
                                            "action": 'set https.connection to "https"'}
    # The text report names every finding, its reason and its fix.
    code, text, _ = console_audit(https_cam)
    assert code == 1
    for i in FRESH:
        assert i in text
    assert "why: " in text and "fix: " in text and "1 high" in text
    # The API answers the same report, to administrators only.
    assert api_report(https_cam, https=False) == report
    https_cam.add_user("viewer", "View-only-2026", "live")
    assert https_cam.get("/api/v1/audit", auth=HTTPDigestAuth("viewer", "View-only-2026")).status_code == 403
    assert requests.get(https_cam.url("/api/v1/audit"), timeout=10).status_code == 401


def test_applying_the_fixes_it_names_through_the_api_clears_them_and_passes(https_cam, tmp_path):
    _, report = console_report(https_cam)
    keygen = subprocess.run([BIN, "keygen", "--out", str(tmp_path / "viewer.key")], capture_output=True,
                            text=True, timeout=30)
    assert keygen.returncode == 0, keygen.stderr
    recipient = next(w for w in (keygen.stdout + keygen.stderr).split() if w.startswith("cwr1"))
    # What this site chooses where a fix is only an example: its own network, its viewer's key.
    site = {"host_auth": {"enabled": True, "allow": ["127.0.0.1", "::1"]},
            "data_encryption": {"enabled": True, "recipients": [recipient]}}
    https = False
    for f in report["findings"]:
        fix = f["fix"]
        if f["id"] == "certificate.self_signed":
            assert "path" not in fix and "PUT /api/v1/certificate" in fix["action"]
            continue  # an action, done below
        value = site[fix["path"]] if fix["example"] else fix["value"]
        patch = merge_at(fix["path"], value)
        r = https_cam.sreq("PATCH", "/api/v1/config", json=patch) if https else https_cam.patch_config(patch)
        assert r.status_code == 200, (f["id"], r.text)
        https = https or r.json()["https"]["connection"] == "https"
    assert https
    # The certificate: a CSR from the device, signed by the site's CA, installed.
    r = https_cam.sreq("POST", "/api/v1/certificate/csr", json={"sans": ["localhost", "127.0.0.1"]})
    assert r.status_code == 200, r.text
    (tmp_path / "device.csr").write_text(r.text)
    chain = openssl_sign(openssl_ca(tmp_path / "site-ca"), tmp_path / "device.csr", tmp_path / "chain.pem")
    r = https_cam.sreq("PUT", "/api/v1/certificate", data=chain.read_text(),
                       headers={"Content-Type": "application/x-pem-file"})
    assert r.status_code == 200, r.text

    code, after = console_report(https_cam)
    assert not set(ids(after)) & set(FRESH), after
    assert code == 0 and after["passed"] is True
    assert console_audit(https_cam)[0] == 0
    assert api_report(https_cam, https=True) == after


def test_weakened_settings_are_found_with_their_fix(cam_admin):
    r = cam_admin.patch_config({"user_auth": {"method": "digest_or_basic", "guest": True, "password_change_days": 0},
                                "alteration_detection": {"enabled": False},
                                "smtp": {"enabled": True, "server": "127.0.0.1", "port": 9, "security": "none",
                                         "username": "cam", "password": "Mail-secret-1",
                                         "sender": "cam@example.org",
                                         "destinations": [{"address": "ops@example.org"}]}})
    assert r.status_code == 200, r.text
    report = api_report(cam_admin, https=False)
    by_id = {f["id"]: f for f in report["findings"]}
    assert by_id["user_auth.basic"]["severity"] == "high"
    assert by_id["user_auth.basic"]["fix"]["path"] == "user_auth.method"
    assert by_id["user_auth.guest"]["fix"]["value"] is False
    assert by_id["user_auth.no_password_period"]["fix"] == {
        "path": "user_auth.password_change_days", "value": 180, "example": False,
        "action": "set user_auth.password_change_days to 180"}
    assert by_id["alteration_detection.off"]["paper"] == "§3.9"
    assert by_id["smtp.unencrypted"]["severity"] == "high"  # with a password
    assert by_id["smtp.unencrypted"]["fix"]["value"] == "starttls"
    assert console_report(cam_admin)[1] == report


def test_snmp_v1v2c_is_a_finding(tmp_path):
    """§4.7: an agent answering v1/v2c is a high finding, v3 without privacy a medium one, an MD5/DES
    user a low one; the fixes the report names clear them. The agent listens on loopback only."""
    from conftest import free_port, start_cam
    cam = start_cam(tmp_path / "data", extra_args=["--snmp", f"127.0.0.1:{free_port()}"])
    try:
        r = cam.patch_config({"snmp": {"enabled": True, "v1v2c": True, "community": "Cam-community-1",
                                       "min_security_level": "auth_no_priv",
                                       "users": [{"name": "old-nms", "auth": "md5", "privacy": "des",
                                                  "auth_password": "Old-nms-2026"}]}})
        assert r.status_code == 200, r.text
        report = api_report(cam, https=False)
        by_id = {f["id"]: f for f in report["findings"]}
        assert by_id["snmp.v1v2c"]["severity"] == "high"
        assert by_id["snmp.v1v2c"]["fix"]["path"] == "snmp.v1v2c"
        assert by_id["snmp.no_privacy"]["severity"] == "medium"
        assert by_id["snmp.weak_algorithm"]["subject"] == "old-nms"
        assert "Cam-community-1" not in json.dumps(report) and "Old-nms-2026" not in json.dumps(report)
        code, console = console_report(cam)
        assert code == 1 and console == report
        r = cam.patch_config(merge_at(by_id["snmp.v1v2c"]["fix"]["path"], by_id["snmp.v1v2c"]["fix"]["value"]))
        assert r.status_code == 200, r.text
        r = cam.patch_config(merge_at(by_id["snmp.no_privacy"]["fix"]["path"], by_id["snmp.no_privacy"]["fix"]["value"]))
        assert r.status_code == 200, r.text
        r = cam.patch_config({"snmp": {"users": [{"name": "old-nms", "auth": "sha256", "privacy": "aes128",
                                                  "auth_password": {"set": True}}]}})
        assert r.status_code == 200, r.text
        left = [i for i in ids(api_report(cam, https=False)) if i.startswith("snmp.")]
        assert left == []
    finally:
        cam.stop()
