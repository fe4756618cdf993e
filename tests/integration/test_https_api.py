"""The certificate API (paper §3.7) against openssl: a CSR from the API signed with
`openssl x509 -req` installs, another key's certificate gets 422 while the old one keeps serving,
self-signed regeneration, information matching `openssl x509`, expiry in config and audit log."""
import datetime as dt
import re

import pytest

from conftest import needs
from https_util import (curl_https, fingerprint, openssl_ca, openssl_sign, run, served_fingerprint,
                        served_leaf)

pytestmark = [
    needs("openssl", "curl"),
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


def api_csr(cam, tmp_path, body=None):
    r = cam.sreq("POST", "/api/v1/certificate/csr", json=body or {"sans": ["localhost", "127.0.0.1"]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pkcs10"
    assert "attachment" in r.headers["content-disposition"]
    f = tmp_path / "api.csr"
    f.write_text(r.text)
    run(["openssl", "req", "-in", f, "-noout", "-verify"])  # well-formed and signed by the device key
    return f


def test_api_csr_signed_by_openssl_installs_and_wrong_key_is_refused(cam_https, tmp_path):
    ca = openssl_ca(tmp_path / "site-ca")
    before = served_fingerprint(cam_https.https_port, tmp_path)
    chain = openssl_sign(ca, api_csr(cam_https, tmp_path), tmp_path / "signed.pem")

    r = cam_https.sreq("PUT", "/api/v1/certificate", data=chain.read_text(),
                       headers={"Content-Type": "application/x-pem-file"})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["kind"] == "ca_issued" and "Site Root" in info["issuer"]
    installed = fingerprint(chain)
    assert info["fingerprint_sha256"] == installed
    assert served_fingerprint(cam_https.https_port, tmp_path) == installed != before
    rc, code, err = curl_https(cam_https, ca / "root.pem")
    assert rc == 0 and code == "200", (rc, code, err)

    # A certificate for another key (a CSR made elsewhere), sent as JSON {"pem"}: 422, old one stays.
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", tmp_path / "other.key", "-out", tmp_path / "other.csr", "-subj", "/CN=impostor"])
    other = openssl_sign(ca, tmp_path / "other.csr", tmp_path / "other.pem")
    r = cam_https.sreq("PUT", "/api/v1/certificate", json={"pem": other.read_text()})
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["path"] == "certificate" and err["rule"] == "key_mismatch", r.text
    assert served_fingerprint(cam_https.https_port, tmp_path) == installed
    assert served_fingerprint(cam_https.rtsps_port, tmp_path) == installed

    # Download: the served chain, leaf first.
    r = cam_https.sreq("GET", "/api/v1/certificate/chain.pem")
    assert r.status_code == 200 and r.text.startswith("-----BEGIN CERTIFICATE-----")
    dl = tmp_path / "dl.pem"
    dl.write_text(r.text)
    assert fingerprint(dl) == installed

    # Audit trail of both attempts.
    kinds = [e["kind"] for e in cam_https.sreq("GET", "/api/v1/log").json()["entries"]]
    assert "certificate.install" in kinds and "certificate.install_refused" in kinds, kinds

    # DELETE: back to the self-signed certificate.
    r = cam_https.sreq("DELETE", "/api/v1/certificate")
    assert r.status_code == 200 and r.json()["kind"] == "self_signed", r.text
    assert served_fingerprint(cam_https.https_port, tmp_path) == r.json()["fingerprint_sha256"]


def openssl_enddate(s):
    return dt.datetime.strptime(re.sub(r"\s+", " ", s), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=dt.timezone.utc)


def test_self_signed_regeneration_then_info_matches_openssl(cam_https, tmp_path):
    before = served_fingerprint(cam_https.https_port, tmp_path)
    r = cam_https.sreq("POST", "/api/v1/certificate/self-signed")
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "self_signed" and r.json()["served"] == "self_signed"
    leaf = served_leaf(cam_https.https_port, tmp_path)
    out = run(["openssl", "x509", "-in", leaf, "-noout", "-fingerprint", "-sha256", "-subject", "-enddate"]).stdout
    fields = dict(line.split("=", 1) for line in out.strip().splitlines())
    info = cam_https.sreq("GET", "/api/v1/certificate").json()
    assert info["fingerprint_sha256"] == fields["sha256 Fingerprint"] != before
    assert info["fingerprint_sha256"] == r.json()["fingerprint_sha256"]
    cn = re.search(r"CN\s*=\s*([^,]+)", fields["subject"]).group(1).strip()
    assert cn in info["subject"] and cn == f"camward-{info['device_serial']}"
    not_after = dt.datetime.fromisoformat(info["not_after"].replace("Z", "+00:00"))
    assert not_after == openssl_enddate(fields["notAfter"])
    assert info["expired"] is False and info["expiring_soon"] is False
    # HTTPS keeps working with the new certificate.
    assert cam_https.sreq("GET", "/api/v1/status").status_code == 200


def test_expiring_certificate_shows_in_config_and_audit(cam_https, tmp_path):
    ca = openssl_ca(tmp_path / "site-ca")
    chain = openssl_sign(ca, api_csr(cam_https, tmp_path), tmp_path / "short.pem", days=10)
    r = cam_https.sreq("PUT", "/api/v1/certificate", data=chain.read_text())
    assert r.status_code == 200 and r.json()["expiring_soon"] is True, r.text
    doc = cam_https.sreq("GET", "/api/v1/config").json()
    cert = doc["certificate"]
    assert cert["expiring_soon"] and "expires in" in cert["warning"], cert
    # The read-only block may be sent back in a PATCH: it is ignored, not refused.
    doc["https"]["port"] = 8443
    r = cam_https.sreq("PATCH", "/api/v1/config", json=doc)
    assert r.status_code == 200, r.text
    # At start, a certificate within 30 days of expiry goes to the audit log.
    cam_https.restart()
    kinds = [e["kind"] for e in cam_https.sreq("GET", "/api/v1/log").json()["entries"]]
    assert "certificate.expiring" in kinds, kinds


def test_certificate_api_is_admin_only(cam_https):
    r = cam_https.sreq("POST", "/api/v1/users", json={"username": "ops", "password": "Ops-pass-2026",
                                                      "level": "control"})
    assert r.status_code == 201, r.text
    from requests.auth import HTTPDigestAuth
    ops = HTTPDigestAuth("ops", "Ops-pass-2026")
    for method, path in [("GET", "/api/v1/certificate"), ("POST", "/api/v1/certificate/self-signed"),
                         ("POST", "/api/v1/certificate/csr"), ("DELETE", "/api/v1/certificate"),
                         ("GET", "/api/v1/certificate/chain.pem")]:
        assert cam_https.sreq(method, path, auth=ops).status_code == 403, (method, path)
        assert cam_https.sreq(method, path, auth=None).status_code == 401, (method, path)
