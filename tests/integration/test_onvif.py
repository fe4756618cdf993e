"""ONVIF Profile S services (paper §4.5's VMS path) driven by onvif-zeep-async, the client library
of Home Assistant's ONVIF integration, with WS-Security PasswordDigest: the call sequence a VMS
makes (GetSystemDateAndTime, GetServices, device information, network interfaces, profiles,
stream URIs that play in ffprobe over UDP, TCP and the HTTP tunnel, a snapshot URI that returns a
JPEG with Digest, a command alarm through a PullPoint subscription, Renew, Unsubscribe), and the
refusals: a wrong password is ter:NotAuthorized and counts toward the lockout, a replayed
UsernameToken is refused, a Live-only user reads stream URIs but cannot SetNTP or SystemReboot,
an unknown operation is ter:ActionNotSupported, never a 5xx.
"""
import asyncio
import base64
import datetime as dt
import hashlib
import os
import re

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, SMALL_STREAMS, needs, start_cam, wait_for
from videolib import probe_size

onvif = pytest.importorskip("onvif", reason="onvif-zeep-async (PyPI) is not installed (scripts/setup installs it)")
from onvif import ONVIFCamera  # noqa: E402

WSDL = os.path.join(os.path.dirname(onvif.__file__), "wsdl")
VIEWER, VIEWER_PASSWORD = "viewer", "View-only-2026"
SOAP_CT = "application/soap+xml; charset=utf-8"


@pytest.fixture(scope="module")
def onvif_cam(tmp_path_factory):
    """Small streams (Internet mode on, for the HTTP tunnel), the command alarm on, the
    administrator and a Live-only `viewer`."""
    config = {**SMALL_STREAMS, "alarm": {"command": {"enabled": True}}}
    c = start_cam(tmp_path_factory.mktemp("onvif") / "data", config)
    c.add_user(VIEWER, VIEWER_PASSWORD, "live")
    yield c
    c.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def token_envelope(op_xml, user, password, nonce=None, created=None):
    """A SOAP 1.2 request with a WS-Security UsernameToken PasswordDigest, built by hand so that
    it can be sent twice (replay) or with a wrong password."""
    nonce = nonce or os.urandom(16)
    created = created or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return f"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>
<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">
<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>
<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest}</wsse:Password>
<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>
<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>
<s:Body>{op_xml}</s:Body></s:Envelope>"""


DEVICE_INFO = '<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>'


def post(cam, body, path="/onvif/device_service", **kw):
    return requests.post(cam.url(path), data=body.encode(), headers={"Content-Type": SOAP_CT}, timeout=30, **kw)


def subcode(r):
    m = re.search(r"<env:Subcode><env:Value>([^<]+)</env:Value>", r.text)
    return m.group(1) if m else None


async def vms_session(cam, tmp_path):
    """What Home Assistant does when it adds and watches a camera."""
    c = ONVIFCamera("127.0.0.1", cam.http_port, ADMIN_USER, ADMIN_PASSWORD, WSDL)
    await c.update_xaddrs()  # GetSystemDateAndTime (time offset), then GetServices
    out = {"xaddrs": dict(c.xaddrs)}
    dev = await c.create_devicemgmt_service()
    out["info"] = await dev.GetDeviceInformation()
    out["nics"] = await dev.GetNetworkInterfaces()
    out["scopes"] = await dev.GetScopes()
    out["caps"] = await dev.GetCapabilities({"Category": "All"})
    media = await c.create_media_service()
    out["media_caps"] = await media.GetServiceCapabilities()
    out["profiles"] = await media.GetProfiles()
    token = out["profiles"][0].token
    out["uris"] = {}
    for proto in ("UDP", "TCP", "RTSP", "HTTP"):
        r = await media.GetStreamUri({"ProfileToken": token,
                                      "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": proto}}})
        out["uris"][proto] = r.Uri
    out["snapshot"] = (await media.GetSnapshotUri({"ProfileToken": token})).Uri
    out["encoders"] = await media.GetVideoEncoderConfigurations()
    out["sources"] = await media.GetVideoSources()
    events = await c.create_events_service()
    out["event_props"] = await events.GetEventProperties()
    sub = await events.CreatePullPointSubscription({"InitialTerminationTime": "PT60S"})
    c.xaddrs["http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"] = sub.SubscriptionReference.Address._value_1
    pullpoint = await c.create_pullpoint_service()
    await pullpoint.SetSynchronizationPoint()
    # The operator raises the command alarm while the VMS pulls.
    raise_task = asyncio.get_running_loop().run_in_executor(None, lambda: requests.post(
        cam.url("/api/v1/alarm"), json={"source": "command"}, auth=cam.admin(), timeout=10))
    messages = []
    for _ in range(5):
        pulled = await pullpoint.PullMessages({"Timeout": "PT5S", "MessageLimit": 10})
        messages += pulled.NotificationMessage or []
        if messages:
            break
    out["alarm_post"] = (await raise_task).status_code
    out["messages"] = messages
    manager = await c.create_subscription_service("PullPointSubscription")
    out["renew"] = await manager.Renew({"TerminationTime": "PT120S"})
    await manager.Unsubscribe()
    # After Unsubscribe the subscription is gone.
    try:
        await pullpoint.PullMessages({"Timeout": "PT1S", "MessageLimit": 1})
        out["pull_after_unsubscribe"] = "answered"
    except Exception as e:  # zeep Fault or ONVIFError
        out["pull_after_unsubscribe"] = str(e)
    await c.close()
    return out


@needs("ffprobe")
def test_a_vms_adds_the_camera_and_receives_its_alarms(onvif_cam, tmp_path):
    cam = onvif_cam
    s = run(vms_session(cam, tmp_path))
    base = f"http://127.0.0.1:{cam.http_port}/onvif"
    assert s["xaddrs"]["http://www.onvif.org/ver10/media/wsdl"] == f"{base}/media_service"
    assert s["xaddrs"]["http://www.onvif.org/ver20/media/wsdl"] == f"{base}/media2_service"
    assert s["info"].Manufacturer == "camward" and s["info"].FirmwareVersion
    assert s["nics"] and re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", s["nics"][0].Info.HwAddress)
    assert any(x.ScopeItem == "onvif://www.onvif.org/Profile/Streaming" for x in s["scopes"])
    assert s["caps"].Events.WSPullPointSupport is True
    # One H.264 profile per stream, with the configured sizes.
    sizes = [(p.VideoEncoderConfiguration.Resolution.Width, p.VideoEncoderConfiguration.Resolution.Height)
             for p in s["profiles"]]
    assert sizes == [(640, 360), (320, 180)]
    assert all(p.VideoEncoderConfiguration.Encoding == "H264" for p in s["profiles"])
    assert len(s["encoders"]) == 2 and s["sources"][0].token

    # The stream URIs play, over each transport, with the viewer's Digest credentials.
    cred = f"rtsp://{VIEWER}:{VIEWER_PASSWORD}@"
    for proto, transport in (("UDP", "udp"), ("TCP", "tcp"), ("HTTP", "http")):
        uri = s["uris"][proto]
        assert uri.startswith("rtsp://127.0.0.1:"), uri
        code, size, out = probe_size(uri.replace("rtsp://", cred, 1), transport=transport)
        assert (code, size) == (0, (640, 360)), f"{proto}: {out}"
    assert s["uris"]["HTTP"] == f"rtsp://127.0.0.1:{cam.http_port}/stream1"
    assert s["uris"]["RTSP"] == f"rtsp://127.0.0.1:{cam.rtsp_port}/stream1"

    # The snapshot URI gives a JPEG with Digest, and nothing without credentials.
    assert requests.get(s["snapshot"], timeout=10).status_code == 401
    r = requests.get(s["snapshot"], auth=HTTPDigestAuth(VIEWER, VIEWER_PASSWORD), timeout=15)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"

    # The command alarm arrived through PullMessages as camward's topic; Renew and Unsubscribe work.
    assert s["alarm_post"] in (200, 201, 202)
    topics = [m.Topic._value_1 for m in s["messages"]]
    assert "cw:Alarm/Command" in topics, topics
    assert s["renew"].TerminationTime > s["renew"].CurrentTime
    assert "subscription" in s["pull_after_unsubscribe"].lower() or "NoEntity" in s["pull_after_unsubscribe"]


def test_media2_answers_profiles_and_stream_uris(onvif_cam):
    cam = onvif_cam
    body = token_envelope('<GetStreamUri xmlns="http://www.onvif.org/ver20/media/wsdl"><Protocol>RtspOverHttp</Protocol>'
                          '<ProfileToken>profile_2</ProfileToken></GetStreamUri>', ADMIN_USER, ADMIN_PASSWORD)
    r = post(cam, body, "/onvif/media2_service")
    assert r.status_code == 200, r.text
    assert f"<tr2:Uri>rtsp://127.0.0.1:{cam.http_port}/stream2</tr2:Uri>" in r.text
    r = post(cam, token_envelope('<GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"/>', ADMIN_USER, ADMIN_PASSWORD),
             "/onvif/media2_service")
    assert r.status_code == 200 and r.text.count("<tr2:Profiles ") == 2, r.text


def test_a_live_only_user_reads_stream_uris_but_cannot_change_the_device(onvif_cam):
    cam = onvif_cam

    async def session():
        c = ONVIFCamera("127.0.0.1", cam.http_port, VIEWER, VIEWER_PASSWORD, WSDL)
        await c.update_xaddrs()
        media = await c.create_media_service()
        token = (await media.GetProfiles())[0].token
        uri = (await media.GetStreamUri({"ProfileToken": token,
                                         "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})).Uri
        dev = await c.create_devicemgmt_service()
        refused = {}
        for name, call in (("SetNTP", lambda: dev.SetNTP({"FromDHCP": False, "NTPManual": [{"Type": "DNS", "DNSname": "pool.invalid"}]})),
                           ("SystemReboot", lambda: dev.SystemReboot())):
            try:
                await call()
                refused[name] = None
            except Exception as e:
                refused[name] = str(e)
        await c.close()
        return uri, refused

    uri, refused = run(session())
    assert uri == f"rtsp://127.0.0.1:{cam.rtsp_port}/stream1"
    assert all(refused.values()), refused
    # The same refusals as the device sends them: SOAP faults ter:NotAuthorized, status 400.
    for op in ('<SystemReboot xmlns="http://www.onvif.org/ver10/device/wsdl"/>',
               '<SetNTP xmlns="http://www.onvif.org/ver10/device/wsdl"><FromDHCP>false</FromDHCP></SetNTP>'):
        r = post(cam, token_envelope(op, VIEWER, VIEWER_PASSWORD))
        assert (r.status_code, subcode(r)) == (400, "ter:NotAuthorized"), r.text
    assert cam.proc.poll() is None, "camward must still run"


def test_an_administrator_sets_ntp_and_reads_it_back(onvif_cam):
    cam = onvif_cam

    async def session():
        c = ONVIFCamera("127.0.0.1", cam.http_port, ADMIN_USER, ADMIN_PASSWORD, WSDL)
        await c.update_xaddrs()
        dev = await c.create_devicemgmt_service()
        await dev.SetNTP({"FromDHCP": False, "NTPManual": [{"Type": "IPv4", "IPv4Address": "192.0.2.123"}]})
        ntp = await dev.GetNTP()
        users = await dev.GetUsers()
        mode = await dev.GetDiscoveryMode()
        await c.close()
        return ntp, users, mode

    ntp, users, mode = run(session())
    assert ntp.NTPManual[0].IPv4Address == "192.0.2.123"
    # One clock: what SetNTP wrote is the `time` section the web UI's NTP page edits (the mode
    # stays manual, so nothing is sent to that address).
    time_cfg = cam.get("/api/v1/config").json()["time"]
    assert [s["host"] for s in time_cfg["servers"]] == ["192.0.2.123"]
    assert time_cfg["mode"] == "manual"
    assert {(u.Username, u.UserLevel) for u in users} >= {(ADMIN_USER, "Administrator"), (VIEWER, "User")}
    assert mode == "NonDiscoverable"  # test daemons run without a discovery window


def test_a_replayed_username_token_is_refused(onvif_cam):
    body = token_envelope(DEVICE_INFO, ADMIN_USER, ADMIN_PASSWORD)
    first = post(onvif_cam, body)
    assert first.status_code == 200 and "<tds:Manufacturer>camward</tds:Manufacturer>" in first.text
    again = post(onvif_cam, body)
    assert (again.status_code, subcode(again)) == (400, "ter:NotAuthorized"), again.text
    # A token created outside the allowed clock skew is refused too.
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = post(onvif_cam, token_envelope(DEVICE_INFO, ADMIN_USER, ADMIN_PASSWORD, created=old))
    assert subcode(r) == "ter:NotAuthorized"


def test_http_digest_works_and_anonymous_callers_get_a_challenge(onvif_cam):
    cam = onvif_cam
    plain = f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{DEVICE_INFO}</s:Body></s:Envelope>'
    r = post(cam, plain)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Digest") and subcode(r) == "ter:NotAuthorized"
    r = post(cam, plain, auth=HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 200 and "<tds:Model>camward</tds:Model>" in r.text
    # GetSystemDateAndTime needs no credentials (clients fix their clock before the digest).
    r = post(cam, '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                  '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')
    assert r.status_code == 200 and "<tt:UTCDateTime>" in r.text


def test_unknown_operations_and_hostile_xml_get_soap_faults_never_5xx(onvif_cam):
    cam = onvif_cam
    r = post(cam, token_envelope('<GetRelayOutputs xmlns="http://www.onvif.org/ver10/device/wsdl"/>', ADMIN_USER, ADMIN_PASSWORD))
    assert (r.status_code, subcode(r)) == (400, "ter:ActionNotSupported"), r.text
    r = post(cam, token_envelope('<GotoPreset xmlns="http://www.onvif.org/ver20/ptz/wsdl"/>', ADMIN_USER, ADMIN_PASSWORD),
             "/onvif/ptz_service")
    assert (r.status_code, subcode(r)) == (400, "ter:ActionNotSupported"), r.text
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            '<s:Body>&c;</s:Body></s:Envelope>')
    xxe = ('<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
           '<s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl">&x;</GetDeviceInformation></s:Body></s:Envelope>')
    for body in (bomb, xxe, "not xml", "<a>" * 100, ""):
        r = post(cam, body)
        assert r.status_code == 400 and subcode(r) == "ter:WellFormed", (body[:40], r.status_code, r.text)
        assert "root:" not in r.text
    r = requests.post(cam.url("/onvif/device_service"), data=b"<" * 70000, timeout=30)
    assert 400 <= r.status_code < 500


def test_a_wrong_password_is_not_authorized_and_counts_toward_the_lockout(tmp_path):
    cam = start_cam(tmp_path / "data")
    try:
        async def wrong():
            c = ONVIFCamera("127.0.0.1", cam.http_port, ADMIN_USER, "Wrong-pass-1", WSDL, adjust_time=False)
            dev = await c.create_devicemgmt_service()
            try:
                await dev.GetDeviceInformation()
                return None
            except Exception as e:
                return f"{type(e).__name__}: {e}"
            finally:
                await c.close()

        assert run(wrong()) is not None
        for i in range(2, 9):
            r = post(cam, token_envelope(DEVICE_INFO, ADMIN_USER, f"Wrong-pass-{i}"))
            assert (r.status_code, subcode(r)) == (400, "ter:NotAuthorized"), (i, r.text)
        # Locked out: the right password is refused now, over ONVIF and over the HTTP API.
        r = post(cam, token_envelope(DEVICE_INFO, ADMIN_USER, ADMIN_PASSWORD))
        assert subcode(r) == "ter:NotAuthorized" and "too many failed logins" in r.text, r.text
        assert cam.get("/api/v1/status").status_code == 429
        log = (cam.data_dir / "camward.log").read_text() if (cam.data_dir / "camward.log").exists() else ""
        assert "Wrong-pass" not in log
    finally:
        cam.stop()
    # The audit log names the ONVIF failures and the lockout (read with the console after stop).
    import subprocess
    from conftest import BIN
    out = subprocess.run([BIN, "--data", str(cam.data_dir), "log", "--limit", "50"], capture_output=True, text=True, timeout=30)
    assert "login.lockout" in out.stdout and "wsse" in out.stdout, out.stdout[-2000:]
    assert "Wrong-pass" not in out.stdout


def test_system_reboot_by_an_administrator_restarts_camward(tmp_path):
    """SystemReboot restarts camward in-process, as Setup › Maintenance does: every service stops
    cleanly and starts again (a new `daemon.start`), the process stays."""
    cam = start_cam(tmp_path / "data")
    try:
        starts = cam.read_log().count("camward running")
        r = post(cam, token_envelope('<SystemReboot xmlns="http://www.onvif.org/ver10/device/wsdl"/>', ADMIN_USER, ADMIN_PASSWORD))
        assert r.status_code == 200 and "<tds:Message>" in r.text, r.text
        wait_for(lambda: cam.read_log().count("camward running") > starts, 30, what="camward to start again")
        assert cam.proc.poll() is None
        wait_for(lambda: cam.get("/api/v1/status").status_code == 200, 20, what="the web service after the restart")
    finally:
        cam.stop()
