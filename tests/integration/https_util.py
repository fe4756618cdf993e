"""Helpers for the HTTPS tests (issue #4): a daemon with --https/--rtsps on loopback, openssl
s_client / curl / CLI wrappers. Every subprocess is time-bound."""
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import requests
import urllib3

from conftest import ADMIN_PASSWORD, ADMIN_USER, BIN, Camward, free_port, wait_port

# The daemon's certificate is self-signed or from a CA made in the test: API calls over HTTPS
# skip verification (curl/openssl checks prove the certificate handling).
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


class HttpsCam(Camward):
    """A daemon with its TLS listeners pinned to loopback ports (they open only with HTTPS on)."""

    def __init__(self, data_dir, extra_args=None):
        self.https_port = free_port()
        self.rtsps_port = free_port()
        super().__init__(data_dir, ["--https", f"127.0.0.1:{self.https_port}",
                                    "--rtsps", f"127.0.0.1:{self.rtsps_port}"] + list(extra_args or []))

    def wait_ready(self, timeout=20.0):
        # With Connection = HTTPS stored, plain HTTP answers with a redirect: accept any answer.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"camward exited with {self.proc.returncode}: {self.read_log()[-2000:]}")
            try:
                requests.get(self.url("/api/v1/status"), timeout=1, allow_redirects=False)
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise TimeoutError("camward did not answer HTTP in time:\n" + self.read_log()[-2000:])

    def surl(self, path):
        return f"https://127.0.0.1:{self.https_port}{path}"

    def sreq(self, method, path, **kw):
        kw.setdefault("auth", self.admin())
        kw.setdefault("timeout", 15)
        return requests.request(method, self.surl(path), verify=False, **kw)

    def set_connection(self, mode, via_https=False):
        patch = {"https": {"connection": mode}}
        if via_https:
            r = self.sreq("PATCH", "/api/v1/config", json=patch)
        else:
            r = self.patch_config(patch)
        assert r.status_code == 200, r.text
        want_open = mode == "https"
        for port in (self.https_port, self.rtsps_port):
            wait_port(port, want_open)


def run(args, timeout=30, check=True, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def cli(*args, timeout=30):
    return run([BIN, *args], timeout=timeout)


def s_client(port, *args, timeout=15):
    """openssl s_client against the port; returns (exit code, stdout+stderr)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                        *args], input="", capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def served_leaf(port, tmp: Path):
    """The leaf certificate the server presents, written to a file."""
    rc, out = s_client(port, "-showcerts")
    blocks = pem_blocks(out)
    assert blocks, out
    f = tmp / f"served-{time.monotonic_ns()}.pem"
    f.write_text(blocks[0] + "\n")
    return f


def fingerprint(pem_file):
    out = run(["openssl", "x509", "-in", pem_file, "-noout", "-fingerprint", "-sha256"]).stdout
    return out.strip().split("=", 1)[1]


def served_fingerprint(port, tmp):
    return fingerprint(served_leaf(port, tmp))


def openssl_ca(d: Path, name="Site Root"):
    """A P-256 root CA made with openssl itself (not camward), as a site's PKI would be."""
    d.mkdir(parents=True, exist_ok=True)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", d / "root.key", "-out", d / "root.pem", "-subj", f"/CN={name}", "-days", "365",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return d


def openssl_sign(ca: Path, csr: Path, out: Path, days=90, sans="DNS:localhost,IP:127.0.0.1"):
    ext = out.with_suffix(".ext")
    ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca / "root.pem", "-CAkey", ca / "root.key",
         "-CAcreateserial", "-out", out, "-days", str(days), "-extfile", ext])
    return out


def curl_https(cam, cafile, path="/api/v1/status", timeout=20):
    """curl with certificate verification against `cafile`, Digest as the administrator."""
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                        "--cacert", str(cafile), "--resolve", f"localhost:{cam.https_port}:127.0.0.1",
                        "--digest", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                        f"https://localhost:{cam.https_port}{path}"],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.strip(), p.stderr


def listeners(pid):
    """Local ports the process listens on over TCP (from `ss -ltnp`)."""
    out = run(["ss", "-ltnpH"], timeout=10).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def env_ok(*tools):
    import shutil
    return all(shutil.which(t) for t in tools)


__all__ = ["HttpsCam", "cli", "s_client", "pem_blocks", "served_leaf", "fingerprint", "served_fingerprint",
           "openssl_ca", "openssl_sign", "curl_https", "listeners", "run", "env_ok", "os"]
