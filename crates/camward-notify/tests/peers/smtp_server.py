"""aiosmtpd peer for camward-notify's tests: STARTTLS-required, implicit TLS or plain SMTP.

Each accepted message is written to OUTDIR/<n>.json with its envelope and attachments
(content type, file name, SHA-256), then "READY" is printed once the server listens.
Runs until stdin closes (the test process ending always stops it).
"""
import argparse
import email
import email.policy
import hashlib
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["starttls", "tls", "plain"], required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--outdir", required=True)
a = p.parse_args()


class Handler:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        atts = []
        for part in msg.walk():
            if part.get_content_disposition() == "attachment":
                data = part.get_payload(decode=True)
                atts.append({
                    "content_type": part.get_content_type(),
                    "filename": part.get_filename(),
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
        out = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "to": str(msg["to"]),
            "attachments": atts,
            # STARTTLS sets session.ssl; implicit TLS only shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        path = os.path.join(a.outdir, f"{self.n}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(out, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
    # handled=False lets aiosmtpd answer 535 itself on failure.
    return AuthResult(success=ok, handled=False)


kw = {}
if a.mode != "plain":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
if a.mode == "starttls":
    kw = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator,
              auth_required=True, auth_require_tls=True)
elif a.mode == "tls":
    # The whole session is TLS: aiosmtpd's auth_require_tls only knows STARTTLS.
    kw = dict(ssl_context=ctx, authenticator=authenticator, auth_required=True,
              auth_require_tls=False)
elif a.user:
    kw = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)

c = Controller(Handler(), hostname="127.0.0.1", port=a.port, server_hostname="127.0.0.1", **kw)
c.start()
print("READY", flush=True)
sys.stdin.read()
c.stop()
