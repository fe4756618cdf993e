"""HTTPS with real TLS peers (paper §3.7/§3.10): factory provisioning with the camward CLI
then curl/openssl verify the chain; TLS policy probed with openssl s_client (weak offers refused)."""
import json
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, needs
from https_util import HttpsCam, cli, curl_https, pem_blocks, s_client

pytestmark = needs("openssl", "curl")


def test_provisioning_round_trip_with_the_cli(tmp_path):
    ca, other = tmp_path / "CA", tmp_path / "OTHER"
    cli("ca", "init", ca, "--intermediate")
    cli("ca", "init", other)
    cam = HttpsCam(tmp_path / "data")
    d = cam.data_dir
    csr, chain = tmp_path / "d.csr", tmp_path / "d.pem"
    cli("identity", "csr", "--data", d, "--out", csr, "--san", "localhost", "--san", "127.0.0.1")
    cli("ca", "issue", ca, "--csr", csr, "--out", chain)
    cli("identity", "install", "--data", d, chain)
    cam.start()
    try:
        cam.setup_admin()
        cam.set_connection("https")
        rc, code, err = curl_https(cam, ca / "root.pem")
        assert rc == 0 and code == "200", (rc, code, err)
        rc, code, err = curl_https(cam, other / "root.pem")
        assert rc == 60, (rc, code, err)  # curl: peer certificate cannot be authenticated

        rc, out = s_client(cam.https_port, "-showcerts", "-CAfile", str(ca / "root.pem"), "-verify_return_error")
        assert "Verify return code: 0 (ok)" in out, out
        blocks = pem_blocks(out)
        assert len(blocks) == 2, out  # leaf + intermediate; the root stays with the clients
        root = (ca / "root.pem").read_text()
        assert all(b.strip() not in root for b in blocks)

        # RTSPS presents the same chain.
        rc, out = s_client(cam.rtsps_port, "-showcerts", "-CAfile", str(ca / "root.pem"), "-verify_return_error")
        assert "Verify return code: 0 (ok)" in out and len(pem_blocks(out)) == 2, out
    finally:
        cam.stop()


def assert_refused(out):
    # The server itself refused the ClientHello (an alert came back), not the client giving up.
    assert "Cipher is (NONE)" in out or "no peer certificate available" in out, out
    assert "alert" in out.lower(), out


REFUSED = [
    ("tls1_1", ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]),
    ("tls1", ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]),
    ("rc4_3des_arsa", ["-tls1_2", "-cipher", "RC4:3DES:aRSA"]),
    ("aes128_sha_cbc", ["-tls1_2", "-cipher", "AES128-SHA"]),
    ("ecdhe_cbc", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"]),
]


@pytest.mark.parametrize("name,args", REFUSED, ids=[n for n, _ in REFUSED])
def test_weak_protocols_and_ciphers_are_refused(cam_https, name, args):
    for port in (cam_https.https_port, cam_https.rtsps_port):
        rc, out = s_client(port, *args)
        assert rc != 0, out
        assert_refused(out)


def test_ssl3_is_refused(cam_https):
    help_text = subprocess.run(["openssl", "s_client", "-help"], capture_output=True, text=True, timeout=10).stderr
    if "-ssl3" not in help_text:
        pytest.skip("this openssl is built without SSL 3.0 support (-ssl3 unavailable): it cannot even offer it")
    rc, out = s_client(cam_https.https_port, "-ssl3", "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0
    assert_refused(out)


@pytest.mark.parametrize("args,protocol", [
    (["-tls1_2"], "TLSv1.2"),
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], "TLSv1.2"),
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], "TLSv1.2"),
    (["-tls1_3"], "TLSv1.3"),
])
def test_tls12_ecdhe_aead_and_tls13_are_accepted(cam_https, args, protocol):
    for port in (cam_https.https_port, cam_https.rtsps_port):
        rc, out = s_client(port, *args)
        assert rc == 0, out
        assert f"Protocol  : {protocol}" in out or f"New, {protocol}" in out, out
        cipher = [l for l in out.splitlines() if "Cipher is" in l][0]
        assert "GCM" in cipher or "CHACHA20" in cipher, cipher
        if protocol == "TLSv1.2":
            assert "ECDHE" in cipher, cipher


def test_hsts_on_https_answers(cam_https):
    r = cam_https.sreq("GET", "/api/v1/status")
    assert r.status_code == 200, r.text
    assert r.headers.get("Strict-Transport-Security") == "max-age=31536000"
    r = cam_https.sreq("GET", "/api/v1/status", auth=None)
    assert r.status_code == 401 and r.headers.get("Strict-Transport-Security")


# What testssl.sh rates above LOW that is a deliberate property of a camera's private PKI, not of
# the TLS stack: the factory CA issues long-lived certificates to devices that have no CRL/OCSP
# service to reach, and a camera on a LAN has no DNS CAA record. Everything else must be OK/INFO.
TESTSSL_CERT_POLICY = {"cert_validityPeriod", "cert_revocation", "DNS_CAArecord", "cert_crlDistributionPoints",
                       "cert_ocspURL", "OCSP_stapling"}


def run_testssl(port, root, out_json, extra=()):
    """Runs testssl.sh (protocols, cipher categories, forward secrecy, known vulnerabilities) on a
    loopback port; returns its JSON findings. Bounded by a timeout; nothing leaves 127.0.0.1."""
    p = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--ip", "one", "--fast",
                        "--add-ca", str(root), "-p", "-s", "-f", "-U", *extra, "--jsonfile", str(out_json),
                        f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=480)
    assert out_json.exists(), p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads(out_json.read_text())


@needs("testssl")
def test_testssl_scan_finds_no_weakness_on_https_and_rtsps(tmp_path):
    """The auditor's scan (paper §3.10): no legacy protocol, no weak cipher category, forward secrecy,
    none of the known TLS attacks, and a chain that verifies to the factory root."""
    ca = tmp_path / "CA"
    cli("ca", "init", ca)
    cam = HttpsCam(tmp_path / "data")
    csr, chain = tmp_path / "d.csr", tmp_path / "d.pem"
    cli("identity", "csr", "--data", cam.data_dir, "--out", csr, "--san", "localhost", "--san", "127.0.0.1")
    cli("ca", "issue", ca, "--csr", csr, "--out", chain)
    cli("identity", "install", "--data", cam.data_dir, chain)
    cam.start()
    try:
        cam.setup_admin()
        cam.set_connection("https")
        scans = {"https": run_testssl(cam.https_port, ca / "root.pem", tmp_path / "https.json", ["-S"]),
                 "rtsps": run_testssl(cam.rtsps_port, ca / "root.pem", tmp_path / "rtsps.json")}
    finally:
        cam.stop()
    for name, findings in scans.items():
        by_id = {f["id"]: f for f in findings}
        # The scan really ran: protocol and vulnerability verdicts are present.
        for must in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "heartbleed", "ROBOT", "SWEET32"):
            assert must in by_id, (name, must, sorted(by_id))
        assert by_id["TLS1_2"]["finding"].startswith("offered"), (name, by_id["TLS1_2"])
        assert by_id["TLS1_3"]["finding"].startswith("offered"), (name, by_id["TLS1_3"])
        for legacy in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            assert "not offered" in by_id[legacy]["finding"], (name, by_id[legacy])
        bad = [(f["id"], f["severity"], f["finding"]) for f in findings
               if f["severity"] in ("MEDIUM", "HIGH", "CRITICAL") and f["id"] not in TESTSSL_CERT_POLICY]
        assert not bad, (name, bad)
    # The certificate verdicts come from the HTTPS scan (-S): trusted via the factory root.
    trust = {f["id"]: f for f in scans["https"]}.get("cert_chain_of_trust")
    assert trust and trust["severity"] == "OK", trust
