"""A small RFC 7616 Digest client written from the RFC, independent of camward's Rust code.

Used by the foundation tests to drive exchanges that curl and requests don't expose: choosing
SHA-256 or MD5 explicitly, replaying a (nonce, nc) pair, sending from a chosen source address.
"""
import hashlib
import http.client
import os
import re

REALM = "camward"
PARAM = re.compile(r'([a-zA-Z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def H(alg, s):
    h = hashlib.sha256 if alg.upper() == "SHA-256" else hashlib.md5
    return h(s.encode()).hexdigest()


def parse_challenges(headers):
    """WWW-Authenticate values (list of str) -> list of dicts with 'scheme' plus the params."""
    out = []
    for v in headers:
        scheme, _, rest = v.partition(" ")
        params = {k: (q if q else t) for k, q, t in PARAM.findall(rest)}
        params["scheme"] = scheme
        out.append(params)
    return out


def authorization(alg, user, password, nonce, method, uri, nc=1, cnonce=None, realm=REALM):
    cnonce = cnonce or os.urandom(8).hex()
    nc_s = f"{nc:08x}"
    ha1 = H(alg, f"{user}:{realm}:{password}")
    ha2 = H(alg, f"{method}:{uri}")
    resp = H(alg, f"{ha1}:{nonce}:{nc_s}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'algorithm={alg}, qop=auth, nc={nc_s}, cnonce="{cnonce}", response="{resp}"')


class Raw:
    """One HTTP/1.1 request per call on a fresh connection, optionally from a given source address."""

    def __init__(self, host, port, source=None):
        self.host, self.port, self.source = host, port, source

    def request(self, method, path, headers=None, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10,
                                          source_address=(self.source, 0) if self.source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, r.headers, data
        finally:
            conn.close()

    def challenge(self, path="/api/v1/status"):
        status, headers, _ = self.request("GET", path)
        assert status == 401, status
        return parse_challenges(headers.get_all("WWW-Authenticate") or [])

    def get_digest(self, user, password, path="/api/v1/status", alg="SHA-256", nonce=None, nc=1):
        if nonce is None:
            nonce = next(c for c in self.challenge(path) if c.get("algorithm") == alg)["nonce"]
        hdr = authorization(alg, user, password, nonce, "GET", path, nc=nc)
        status, headers, body = self.request("GET", path, {"Authorization": hdr})
        return status, headers, body, hdr
