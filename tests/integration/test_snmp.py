"""SNMP agent (paper §4.7) driven by net-snmp, as a monitoring system would: snmpget/snmpwalk/
snmpset as the manager, snmptrapd as the trap receiver (conftest's `snmp`, `start_snmptrapd`).
Numeric OIDs only (`MIBS=` and `-On`): the CAMWARD-MIB file is checked separately (smilint), and
no MIB files are installed in CI. The 802.1X port objects are read in test_dot1x.py, where a real
authenticator runs.

Off by default: every test switches the agent on itself, on a loopback port (`--snmp`)."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_USER, REPO, SMALL_STREAMS, free_port, needs, rtsp_url, snmp, start_cam, \
    start_snmptrapd, stop_process, wait_for
from conftest import SNMP_NET_SNMP_ALG as NET_SNMP_ALG, SNMP_USERS as USERS, snmp_v3 as v3, snmp_value as value
from https_util import openssl_ca, openssl_sign
from recording_util import start_recording

pytestmark = needs("snmpget", "snmpwalk", "snmpset")

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
ENGINE_ID = "1.3.6.1.6.3.10.2.1.1.0"
ENGINE_BOOTS = "1.3.6.1.6.3.10.2.1.2.0"
WRONG_DIGESTS = "1.3.6.1.6.3.15.1.1.5.0"
DECRYPTION_ERRORS = "1.3.6.1.6.3.15.1.1.6.0"
CAMWARD = "1.3.6.1.4.1.32473"
VIEWERS_1 = CAMWARD + ".1.1.1.1.4.1"
FREE_KIB = CAMWARD + ".1.2.2.0"

class SnmpCam:
    def __init__(self, data_dir, config=None, enabled=True):
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        cfg = {"snmp": {"enabled": enabled, "users": USERS, "system_name": "cam-front",
                        "location": "Hall A", "contact": "ops@example.com"}}
        cfg.update(config or {})
        self.cam = start_cam(data_dir, cfg, extra_args=["--snmp", self.target])

    def get(self, oid, *creds):
        return snmp("snmpget", *(creds or v3()), self.target, oid)

    def value(self, oid):
        code, out = self.get(oid)
        assert code == 0, out
        return value(out)

    def engine_id(self):
        """snmpEngineID as hex (net-snmp wraps long Hex-STRINGs over several lines)."""
        code, out = self.get(ENGINE_ID)
        assert code == 0 and "Hex-STRING: " in out, out
        return "".join(out.split("Hex-STRING: ", 1)[1].split()).lower()


@pytest.fixture
def snmp_cam(tmp_path):
    """A device with the SNMP agent on (v3 only, authPriv minimum) on a loopback port."""
    c = SnmpCam(tmp_path / "data")
    wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
    yield c
    c.cam.stop()


def test_v3_authpriv_reads_sys_name_with_sha256_sha1_and_md5_des(snmp_cam):
    for user in NET_SNMP_ALG:
        code, out = snmp_cam.get(SYS_NAME, *v3(user))
        assert code == 0 and '"cam-front"' in out, (user, out)


def test_wrong_passwords_fail_with_net_snmps_error_and_count_in_usm_stats(snmp_cam):
    digests = int(snmp_cam.value(WRONG_DIGESTS))
    code, out = snmp_cam.get(SYS_NAME, *v3(auth_pw="Wrong-pass-2026"))
    assert code != 0 and "Authentication failure" in out, out
    assert int(snmp_cam.value(WRONG_DIGESTS)) == digests + 1

    decrypt = int(snmp_cam.value(DECRYPTION_ERRORS))
    code, out = snmp_cam.get(SYS_NAME, *v3(priv_pw="Wrong-priv-2026"))
    assert code != 0 and "cam-front" not in out, out
    assert "Decryption error" in out or "Authentication failure" in out, out
    assert int(snmp_cam.value(DECRYPTION_ERRORS)) == decrypt + 1


def test_levels_below_authpriv_are_refused_even_for_a_valid_user(snmp_cam):
    for level in ("noAuthNoPriv", "authNoPriv"):
        code, out = snmp_cam.get(SYS_NAME, *v3(level=level))
        assert "cam-front" not in out, (level, out)
        assert "authorizationError" in out, (level, out)


def test_walks_return_the_documented_oids_with_plausible_values(snmp_cam):
    code, out = snmp("snmpwalk", *v3(), snmp_cam.target, "1.3.6.1.2.1.1")
    assert code == 0, out
    for oid, want in [(".1.3.6.1.2.1.1.1.0", "camward"), (".1.3.6.1.2.1.1.2.0", ".1.3.6.1.4.1.32473.4.1"),
                      (".1.3.6.1.2.1.1.4.0", "ops@example.com"), (".1.3.6.1.2.1.1.5.0", "cam-front"),
                      (".1.3.6.1.2.1.1.6.0", "Hall A"), (".1.3.6.1.2.1.1.7.0", "72")]:
        line = [l for l in out.splitlines() if l.startswith(oid + " ")]
        assert line and want in line[0], (oid, out)
    assert ".1.3.6.1.2.1.1.3.0 = Timeticks" in out

    code, out = snmp("snmpwalk", *v3(), snmp_cam.target, CAMWARD)
    assert code == 0, out
    for oid in [".1.1.1.1.2.1", ".1.1.1.1.4.1", ".1.1.1.1.4.2", ".1.2.1.0", ".1.2.2.0", ".1.3.1.0",
                ".1.3.2.0", ".1.3.3.0", ".1.4.1.0", ".1.4.2.0", ".1.4.3.0", ".1.4.4.0", ".1.6.1.0",
                ".1.6.2.0", ".1.6.3.0", ".1.6.4.0"]:
        assert f".1.3.6.1.4.1.32473{oid} = " in out, (oid, out)
    # 802.1X is off by default: camwardDot1xPortState is disabled(1), no method, no reason.
    for oid, want in [(".1.6.1.0", "INTEGER: 1"), (".1.6.2.0", '""'), (".1.6.3.0", '""')]:
        assert f".1.3.6.1.4.1.32473{oid} = {want}" in out, (oid, out)
    # Certificate: the self-signed device certificate has years left.
    days = int(value([l for l in out.splitlines() if l.startswith(".1.3.6.1.4.1.32473.1.4.2.0 ")][0]))
    assert 300 < days < 40000, days

    # Free space matches df (KiB, the filesystem may move a little between the two reads).
    kib = int(snmp_cam.value(FREE_KIB))
    df = subprocess.run(["df", "-k", "--output=avail", str(snmp_cam.cam.data_dir)], capture_output=True,
                        text=True, check=True).stdout.split()[-1]
    assert abs(kib - int(df)) < 64 * 1024, (kib, df)


@needs("ffmpeg")
def test_viewers_rise_while_ffmpeg_plays(tmp_path):
    c = SnmpCam(tmp_path / "data", SMALL_STREAMS)
    try:
        wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
        assert c.value(VIEWERS_1) == "0"
        ff = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                               "-i", rtsp_url(c.cam), "-t", "30", "-f", "null", "-"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: c.value(VIEWERS_1) == "1", 20, step=0.5, what="one viewer")
        finally:
            ff.terminate()
            ff.wait(timeout=10)
        wait_for(lambda: c.value(VIEWERS_1) == "0", 90, step=1, what="the viewer to leave")
    finally:
        c.cam.stop()


def test_v2c_is_silent_until_enabled_then_read_only(snmp_cam):
    v2 = ["-v2c", "-c", "Monitor-2026"]
    code, out = snmp("snmpget", *v2, "-t", "1", snmp_cam.target, SYS_NAME, timeout=1)
    assert code != 0 and "Timeout" in out, out
    r = snmp_cam.cam.patch_config({"snmp": {"v1v2c": True, "community": "Monitor-2026"}})
    assert r.status_code == 200, r.text
    assert any(w["rule"] == "snmp.v1v2c" for w in r.json()["warnings"]), r.json()["warnings"]
    # The agent takes the new settings a moment after the PATCH answered.
    wait_for(lambda: snmp("snmpget", *v2, snmp_cam.target, SYS_NAME, timeout=1)[0] == 0, 10, what="v2c")
    code, out = snmp("snmpget", *v2, snmp_cam.target, SYS_NAME)
    assert code == 0 and "cam-front" in out, out
    code, out = snmp("snmpget", "-v2c", "-c", "Wrong-2026", snmp_cam.target, SYS_NAME, timeout=1)
    assert code != 0 and "Timeout" in out, out
    code, out = snmp("snmpset", *v2, snmp_cam.target, SYS_LOCATION, "s", "Hall Z")
    assert code != 0 and "noAccess" in out, out
    assert snmp_cam.cam.get("/api/v1/config").json()["snmp"]["location"] == "Hall A"


def test_snmpset_of_sys_location_by_an_authpriv_user_is_in_config_and_audit_log(snmp_cam):
    code, out = snmp("snmpset", *v3(), snmp_cam.target, SYS_LOCATION, "s", "Hall B, door 2")
    assert code == 0, out
    cfg = snmp_cam.cam.get("/api/v1/config").json()
    assert cfg["snmp"]["location"] == "Hall B, door 2"
    assert snmp_cam.value(SYS_LOCATION) == "Hall B, door 2"
    log = snmp_cam.cam.get("/api/v1/log?limit=50").json()
    entries = log["entries"] if isinstance(log, dict) else log
    change = [e for e in entries if e["kind"] == "config.change" and "snmp.location" in json.dumps(e)]
    assert change and change[0]["actor"] == "snmp:ops256" and change[0]["address"] == "127.0.0.1", change
    # A value the configuration refuses is refused over SNMP too, and changes nothing.
    code, out = snmp("snmpset", *v3(), snmp_cam.target, SYS_LOCATION, "x", "0a0d")
    assert code != 0, out
    assert snmp_cam.cam.get("/api/v1/config").json()["snmp"]["location"] == "Hall B, door 2"


def udp_refused(port):
    """True when nothing listens on UDP `port` of 127.0.0.1 (the kernel answers port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.connect(("127.0.0.1", port))
        for _ in range(3):
            s.send(b"\x30\x00")
            try:
                s.recv(100)
            except ConnectionRefusedError:
                return True
            except socket.timeout:
                pass
    return False


def test_port_closed_while_off_and_a_filtered_source_gets_no_answer(tmp_path):
    c = SnmpCam(tmp_path / "data", enabled=False)
    try:
        assert udp_refused(c.port), "the SNMP port is closed while snmp.enabled is false"
        assert c.cam.patch_config({"snmp": {"enabled": True}}).status_code == 200
        wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
        r = c.cam.patch_config({"host_auth": {"enabled": True, "allow": ["127.0.0.1", "::1"]}})
        assert r.status_code == 200, r.text
        code, out = snmp("snmpget", "--clientaddr=127.0.0.2", *v3(), c.target, SYS_NAME, timeout=1)
        assert code != 0 and "Timeout" in out, out
        code, out = snmp("snmpget", *v3(), c.target, SYS_NAME)
        assert code == 0, out
        assert c.cam.patch_config({"snmp": {"enabled": False}}).status_code == 200
        wait_for(lambda: udp_refused(c.port), 10, what="the SNMP port to close")
    finally:
        c.cam.stop()


@needs("snmptrapd")
def test_command_alarm_and_login_failure_each_send_a_v3_trap(tmp_path):
    trap_port = free_port()
    c = SnmpCam(tmp_path / "data", {
        "alarm": {"command": {"enabled": True}},
        "snmp": {"enabled": True, "users": USERS, "trap_destinations": [
            {"host": "127.0.0.1", "port": trap_port, "version": "v3", "user": "ops256"}]},
    })
    trapd = None
    try:
        wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
        trapd, out = start_snmptrapd(tmp_path, trap_port, c.engine_id())
        r = requests.post(c.cam.url("/api/v1/alarm"), json={"source": "command"}, auth=c.cam.admin(), timeout=10)
        assert r.status_code in (200, 201, 202), r.text
        wait_for(lambda: ".1.3.6.1.4.1.32473.2.0.1" in out.read_text(), 15, what="the alarm trap")
        r = requests.get(c.cam.url("/api/v1/config"), auth=HTTPDigestAuth(ADMIN_USER, "Wrong-pass-2026"), timeout=10)
        assert r.status_code == 401
        wait_for(lambda: ".1.3.6.1.4.1.32473.2.0.2" in out.read_text(), 15, what="the login failure trap")
        text = out.read_text()
        assert "command alarm" in text and "login failed" in text, text
    finally:
        if trapd:
            stop_process(trapd)
        c.cam.stop()


SENT = CAMWARD + ".1.5.2.0"  # camwardNotificationsSent
UNACKNOWLEDGED = CAMWARD + ".1.5.3.0"  # camwardInformsUnacknowledged


@needs("snmptrapd")
def test_a_command_alarm_reaches_snmptrapd_as_an_acknowledged_v3_authpriv_inform(tmp_path):
    """snmptrapd knows the user only under its own engine ID, as for any inform receiver: a v3 trap
    (authoritative engine: camward) fails its authentication there, and the same alarm sent as an
    inform (authoritative engine: the receiver, discovered by camward) is logged."""
    trap_port = free_port()
    dest = {"host": "127.0.0.1", "port": trap_port, "version": "v3", "user": "ops256"}
    c = SnmpCam(tmp_path / "data", {
        "alarm": {"command": {"enabled": True}},
        "snmp": {"enabled": True, "users": USERS, "trap_destinations": [dest]},
    })
    trapd = None
    try:
        wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
        trapd, out = start_snmptrapd(tmp_path, trap_port, None)

        def alarm():
            r = requests.post(c.cam.url("/api/v1/alarm"), json={"source": "command"}, auth=c.cam.admin(),
                              timeout=10)
            assert r.status_code in (200, 201, 202), r.text

        alarm()
        time.sleep(3)
        assert ".1.3.6.1.4.1.32473.2.0.1" not in out.read_text(), "a v3 trap authenticated at the receiver's engine"
        r = c.cam.patch_config({"snmp": {"trap_destinations": [{**dest, "inform": True}]}})
        assert r.status_code == 200, r.text
        alarm()
        wait_for(lambda: ".1.3.6.1.4.1.32473.2.0.1" in out.read_text(), 20, what="the alarm inform")
        assert "command alarm" in out.read_text()
        # The acknowledged inform is counted as sent (after the trap), and nothing is unacknowledged.
        assert int(c.value(SENT)) >= 2 and int(c.value(UNACKNOWLEDGED)) == 0
        # With the receiver gone, an inform is tried, never acknowledged, and counted.
        stop_process(trapd)
        trapd = None
        alarm()
        wait_for(lambda: int(c.value(UNACKNOWLEDGED)) == 1, 30, step=0.5, what="camwardInformsUnacknowledged to count")
    finally:
        if trapd:
            stop_process(trapd)
        c.cam.stop()


TRAP = ".1.3.6.1.4.1.32473.2.0."  # + the notification's number (CAMWARD-MIB camwardNotifications)
RECORDING_STATE = CAMWARD + ".1.2.1.0"


@pytest.fixture
def trap_cam(tmp_path):
    """The agent with one v3 authPriv trap destination, where net-snmp's snmptrapd listens."""
    trap_port = free_port()
    c = SnmpCam(tmp_path / "data", {**SMALL_STREAMS, "snmp": {
        "enabled": True, "users": USERS, "trap_destinations": [
            {"host": "127.0.0.1", "port": trap_port, "version": "v3", "user": "ops256"}]}})
    trapd = None
    try:
        wait_for(lambda: c.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent")
        trapd, out = start_snmptrapd(tmp_path, trap_port, c.engine_id())
        yield c, out
    finally:
        if trapd:
            stop_process(trapd)
        c.cam.stop()


def trap_since(out, mark, number, what):
    """What snmptrapd logged after `mark` once it holds notification `number` (bounded wait)."""
    wait_for(lambda: TRAP + str(number) in out.read_text()[mark:], 20, what=what)
    return out.read_text()[mark:]


@needs("snmptrapd", "curl")
def test_a_lockout_sends_a_v3_trap(trap_cam):
    c, out = trap_cam
    mark = len(out.read_text())
    # Wrong passwords from 127.0.0.2 (curl, Digest) until the address is locked out.
    codes = []
    for _ in range(12):
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                            "--interface", "127.0.0.2", "--digest", "-u", f"{ADMIN_USER}:Wrong-pass-2026",
                            c.cam.url("/api/v1/config")], capture_output=True, text=True, timeout=30)
        codes.append(p.stdout)
        if p.stdout == "429":
            break
    assert codes[-1] == "429" and set(codes[:-1]) == {"401"}, codes
    text = trap_since(out, mark, 3, "the lockout trap")
    assert "127.0.0.2 locked out" in text, text
    # The administrator at 127.0.0.1 is unaffected.
    assert c.cam.get("/api/v1/status").status_code == 200


@needs("snmptrapd")
def test_recording_stopped_and_full_each_send_a_v3_trap(trap_cam):
    c, out = trap_cam
    start_recording(c.cam)
    wait_for(lambda: c.value(RECORDING_STATE) == "2", 30, what="recording (camwardRecordingState 2)")
    # Stopped: the recording directory becomes a path the recorder cannot use (a plain file).
    mark = len(out.read_text())
    (c.cam.data_dir / "not-a-directory").write_text("x")
    r = c.cam.patch_config({"recording": {"directory": "not-a-directory"}})
    assert r.status_code == 200, r.text
    text = trap_since(out, mark, 4, "the recording stopped trap")
    assert "recording stopped" in text and f"{RECORDING_STATE} = INTEGER: 3" in text, text
    # Full: more space must stay free than the disk has.
    mark = len(out.read_text())
    r = c.cam.patch_config({"recording": {"min_free_bytes": 2 ** 62}})
    assert r.status_code == 200, r.text
    text = trap_since(out, mark, 5, "the recording full trap")
    assert "recording storage is full" in text and f"{FREE_KIB} = Gauge32:" in text, text
    assert c.value(RECORDING_STATE) == "4"


@needs("snmptrapd", "openssl")
def test_installing_a_soon_expiring_certificate_sends_a_v3_trap(trap_cam, tmp_path):
    c, out = trap_cam
    r = requests.post(c.cam.url("/api/v1/certificate/csr"), json={"sans": ["127.0.0.1"]},
                      auth=c.cam.admin(), timeout=10)
    assert r.status_code == 200, r.text
    csr = tmp_path / "device.csr"
    csr.write_text(r.text)
    chain = openssl_sign(openssl_ca(tmp_path / "site-ca"), csr, tmp_path / "soon.pem", days=10,
                         sans="IP:127.0.0.1")
    mark = len(out.read_text())
    r = requests.put(c.cam.url("/api/v1/certificate"), data=chain.read_text(), auth=c.cam.admin(),
                     headers={"Content-Type": "application/x-pem-file"}, timeout=10)
    assert r.status_code == 200, r.text
    days = r.json()["days_left"]
    assert days <= 10, r.json()
    text = trap_since(out, mark, 6, "the certificate expiry trap")
    assert f"expires in {days} days" in text and f"{CAMWARD}.1.4.2.0 = INTEGER: {days}" in text, text


@needs("smilint", "snmptranslate")
def test_mib_file_passes_smilint_and_names_every_object_the_agent_serves(snmp_cam):
    mibs = REPO / "mibs"
    lint = subprocess.run(["smilint", "-l", "6", "-s", str(mibs / "CAMWARD-MIB.txt")], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "SMIPATH": f"{mibs / 'ietf'}:{mibs}"})
    # smilint exits 0 whatever it finds: its output is the verdict.
    assert lint.returncode == 0 and lint.stdout + lint.stderr == "", lint.stdout + lint.stderr
    code, out = snmp("snmpwalk", *v3(), snmp_cam.target, CAMWARD)
    assert code == 0, out
    oids = [l.split(" = ")[0] for l in out.splitlines() if " = " in l]
    assert len(oids) >= 23, out
    # Each served object resolves to a CAMWARD-MIB name (instance suffix aside).
    names = subprocess.run(["snmptranslate", "-M", f"{mibs / 'ietf'}:{mibs}", "-m", "CAMWARD-MIB", *oids],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "MIBS": ""})
    lines = names.stdout.split()
    assert names.returncode == 0 and len(lines) == len(oids), names.stdout + names.stderr
    assert all(l.startswith("CAMWARD-MIB::camward") for l in lines), names.stdout


def test_engine_id_is_stable_and_boots_increase_across_restarts(snmp_cam):
    engine, boots = snmp_cam.engine_id(), int(snmp_cam.value(ENGINE_BOOTS))
    assert engine.startswith("80007ed905") and len(engine) == 34, engine
    snmp_cam.cam.restart()
    wait_for(lambda: snmp_cam.get(SYS_NAME)[0] == 0, 10, what="the SNMP agent after restart")
    assert snmp_cam.engine_id() == engine
    assert int(snmp_cam.value(ENGINE_BOOTS)) == boots + 1
