"""Alarm mail (paper §4.6) against real aiosmtpd servers: STARTTLS and implicit TLS with AUTH,
wrong password, retry until the server is up, SSL On refusing plain and untrusted servers, and
the configuration API hiding the password and warning about SSL off."""
import email
import ssl
import time

import pytest
from aiosmtpd.controller import Controller

from alarm_util import Mailbox, authenticator, log_has, make_pki, raise_alarm
from conftest import free_port, wait_for

SMTP_USER, SMTP_PASSWORD = "camera", "mail-Secret-42"
DESTS = ["ops@example.com", "guard@example.com"]


def tls_ctx(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def smtp_patch(port, security, ca_pem, password=SMTP_PASSWORD):
    return {
        "alarm": {"command": {"enabled": True}},
        "smtp": {"enabled": True, "server": "127.0.0.1", "port": port, "security": security,
                 "username": SMTP_USER, "password": password, "sender": "camera@example.com",
                 "ca_certificate": ca_pem, "attach_image": True, "image_size": 3,
                 "destinations": [{"address": a, "alarms": ["command"]} for a in DESTS]},
    }


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def start_server(handler, port, mode, cert=None, key=None, auth=True):
    kw = {}
    if auth:
        kw.update(authenticator=authenticator(SMTP_USER, SMTP_PASSWORD), auth_required=True,
                  auth_require_tls=True)
    if mode == "starttls":
        kw.update(tls_context=tls_ctx(cert, key), require_starttls=True)
    elif mode == "tls":
        # aiosmtpd only counts STARTTLS as "TLS" for auth_require_tls; here every byte is TLS.
        kw.update(ssl_context=tls_ctx(cert, key), auth_require_tls=False)
    c = Controller(handler, hostname="127.0.0.1", port=port, **kw)
    c.start()
    return c


def jpeg_of(envelope):
    msg = email.message_from_bytes(envelope.original_content)
    for part in msg.walk():
        if part.get_content_type() == "image/jpeg":
            return part.get_payload(decode=True)
    return None


def assert_delivered(box, timeout=30):
    def done():
        got = set()
        for e in box.all():
            got.update(e.rcpt_tos)
        return set(DESTS) <= got
    wait_for(done, timeout, what="mail to every destination")
    for e in box.all():
        assert e.mail_from == "camera@example.com"
        j = jpeg_of(e)
        assert j and j[:2] == b"\xff\xd8", "the alarm image is attached as a JPEG"


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_command_alarm_mails_every_destination(cam_admin, pki, mode):
    ca, cert, key = pki
    box = Mailbox()
    port = free_port()
    srv = start_server(box, port, mode, cert, key)
    try:
        r = cam_admin.patch_config(smtp_patch(port, mode, ca.read_text()))
        assert r.status_code == 200, r.text
        r = raise_alarm(cam_admin)
        assert r.status_code == 202, r.text
        assert r.json()["source"] == "command"
        assert_delivered(box)
        st = cam_admin.get("/api/v1/alarm").json()
        assert st["active"] is True and st["last"]["source"] == "command"
        assert log_has(cam_admin, "alarm", "command alarm")
        assert wait_for(lambda: log_has(cam_admin, "mail.sent"), 10, what="mail.sent in the log")
    finally:
        srv.stop()


def test_wrong_password_is_logged(cam_admin, pki):
    ca, cert, key = pki
    box = Mailbox()
    port = free_port()
    srv = start_server(box, port, "starttls", cert, key)
    try:
        assert cam_admin.patch_config(smtp_patch(port, "starttls", ca.read_text(), "wrong-Pass-1")).status_code == 200
        assert raise_alarm(cam_admin).status_code == 202
        e = wait_for(lambda: log_has(cam_admin, "mail.failed"), 20, what="mail.failed in the log")
        assert "535" in str(e["detail"]) or "auth" in str(e["detail"]).lower(), e
        assert box.all() == []
        body = str([x for x in cam_admin.get("/api/v1/log?limit=500").json()["entries"]])
        assert "wrong-Pass-1" not in body, "the password never reaches the log"
    finally:
        srv.stop()


def test_mail_is_retried_until_the_server_is_up(cam_admin, pki):
    ca, cert, key = pki
    box = Mailbox()
    port = free_port()
    assert cam_admin.patch_config(smtp_patch(port, "starttls", ca.read_text())).status_code == 200
    assert raise_alarm(cam_admin).status_code == 202
    wait_for(lambda: log_has(cam_admin, "mail.retry"), 15, what="mail.retry in the log")
    srv = start_server(box, port, "starttls", cert, key)
    try:
        assert_delivered(box, timeout=45)
    finally:
        srv.stop()


def test_ssl_on_refuses_a_server_without_tls(cam_admin, pki):
    ca, _, _ = pki
    box = Mailbox()
    port = free_port()
    srv = start_server(box, port, "none", auth=False)
    try:
        assert cam_admin.patch_config(smtp_patch(port, "starttls", ca.read_text())).status_code == 200
        assert raise_alarm(cam_admin).status_code == 202
        e = wait_for(lambda: log_has(cam_admin, "mail.failed"), 20, what="mail.failed (no STARTTLS)")
        assert box.all() == [], e
    finally:
        srv.stop()


def test_ssl_on_refuses_an_untrusted_certificate(cam_admin, pki, tmp_path):
    ca, _, _ = pki
    _, rogue_cert, rogue_key = make_pki(tmp_path / "rogue", name="rogue")

    def refusals():
        # Refused for its certificate: logged as a retry or a final failure, never delivered.
        return len([e for e in cam_admin.get("/api/v1/log?limit=500").json()["entries"]
                    if e["kind"].startswith("mail.") and "certificate" in str(e["detail"])])

    for mode in ("starttls", "tls"):
        box = Mailbox()
        port = free_port()
        srv = start_server(box, port, mode, rogue_cert, rogue_key)
        try:
            assert cam_admin.patch_config(smtp_patch(port, mode, ca.read_text())).status_code == 200
            before = refusals()
            assert raise_alarm(cam_admin).status_code == 202
            wait_for(lambda: refusals() > before, 20, what=f"certificate refusal ({mode})")
            assert box.all() == []
        finally:
            srv.stop()


def test_config_hides_the_password_and_warns_about_ssl_off(cam_admin, pki):
    ca, _, _ = pki
    r = cam_admin.patch_config(smtp_patch(2525, "starttls", ca.read_text()))
    assert r.status_code == 200, r.text
    got = cam_admin.get("/api/v1/config")
    assert SMTP_PASSWORD not in got.text
    assert got.json()["smtp"]["password"] == {"set": True}
    assert not any(w["path"] == "smtp.security" for w in got.json()["warnings"])
    # Sending the redacted form back keeps the password.
    doc = got.json()
    r = cam_admin.patch_config({"smtp": doc["smtp"]})
    assert r.status_code == 200, r.text
    r = cam_admin.patch_config({"smtp": {"security": "none"}})
    assert r.status_code == 200, r.text
    got = cam_admin.get("/api/v1/config").json()
    assert got["smtp"]["password"] == {"set": True}
    assert any(w["path"] == "smtp.security" for w in got["warnings"]), got["warnings"]
    assert wait_for(lambda: log_has(cam_admin, "smtp.ssl_off"), 5, what="SSL off in the audit log")
