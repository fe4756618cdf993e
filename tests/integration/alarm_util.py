"""Helpers for the alarm tests: a throw-away PKI made with openssl, aiosmtpd and pyftpdlib servers
on loopback, and bounded polling of the daemon's log."""
import subprocess
import threading
from pathlib import Path

import requests


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_pki(d: Path, name="ca"):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.pem, cert.pem, key.pem)."""
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca = d / f"{name}.key", d / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN=Test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    key, csr, cert = d / f"{name}-server.key", d / f"{name}-server.csr", d / f"{name}-server.pem"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = d / f"{name}-ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def log_entries(cam, limit=300):
    r = cam.get(f"/api/v1/log?limit={limit}")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def log_has(cam, kind_prefix, text=None):
    for e in log_entries(cam):
        if e["kind"].startswith(kind_prefix):
            msg = str(e.get("detail"))
            if text is None or text in msg:
                return e
    return None


def raise_alarm(cam, auth=None):
    r = requests.post(cam.url("/api/v1/alarm"), json={"source": "command"},
                      auth=auth or cam.admin(), timeout=10)
    return r


class Mailbox:
    """aiosmtpd handler keeping every delivered envelope."""

    def __init__(self):
        self.envelopes = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(envelope)
        return "250 OK"

    def all(self):
        with self.lock:
            return list(self.envelopes)


def authenticator(user, password):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        # handled=False: aiosmtpd then answers 535 itself (handled=True would mean "already answered").
        return AuthResult(success=ok, handled=False)
    return check
