"""The Easy IP window as WS-Discovery (paper §4.5): inside the accommodate period camward is found
by a real WS-Discovery client (PyPI `WSDiscovery`) and by `camward discover`, it says Hello when
the window opens (and again, with a higher MetadataVersion, when what it announces changes) and
Bye when it closes or camward stops, and after the window it answers nothing
and its udp/3702 socket is closed; the window opens again at each start. WSDiscovery ignores
loopback, so the client runs in a network namespace joined by a veth pair (conftest.NetnsPeer);
the daemon's discovery is pinned to its end of the pair (hidden --discovery-interface), so no
datagram reaches any other network.
"""
import json
import subprocess
import sys
import time

import pytest
from conftest import BIN, Camward, listening_sockets, needs, wait_for

pytest.importorskip("wsdiscovery", reason="WSDiscovery (PyPI) is not installed (scripts/setup installs it)")

# Records every WS-Discovery multicast datagram on the namespace's side as one JSON line
# (action, endpoint address, AppSequence InstanceId) until killed or 120 s.
LISTENER = r"""
import json, socket, struct, sys, time, xml.etree.ElementTree as ET
out, ip = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("239.255.255.250", 3702))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton(ip)))
s.settimeout(0.5)
end = time.monotonic() + 120
with open(out, "a") as f:
    print(json.dumps({"ready": True}), file=f, flush=True)
    while time.monotonic() < end:
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            continue
        root = ET.fromstring(data)
        ns = {"a": "http://schemas.xmlsoap.org/ws/2004/08/addressing", "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery"}
        action = root.findtext(".//a:Action", namespaces=ns) or ""
        epr = root.findtext(".//a:EndpointReference/a:Address", namespaces=ns) or ""
        seq = root.find(".//d:AppSequence", ns)
        print(json.dumps({"action": action.rsplit("/", 1)[-1], "epr": epr, "from": src[0],
                          "instance": seq.get("InstanceId") if seq is not None else None,
                          "version": root.findtext(".//d:MetadataVersion", namespaces=ns),
                          "scopes": (root.findtext(".//d:Scopes", namespaces=ns) or "").split(),
                          "xaddrs": (root.findtext(".//d:XAddrs", namespaces=ns) or "").split()}), file=f, flush=True)
"""

# A WS-Discovery search with the client library, printing what it found as JSON.
SEARCH = r"""
import json, sys
from wsdiscovery.discovery import ThreadedWSDiscovery
from wsdiscovery import QName, Scope
wsd = ThreadedWSDiscovery()
wsd.start()
try:
    found = wsd.searchServices(types=[QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")],
                               scopes=[Scope("onvif://www.onvif.org/Profile/Streaming")], timeout=int(sys.argv[1]))
    print(json.dumps([{"epr": s.getEPR(), "xaddrs": list(s.getXAddrs()), "scopes": [str(x.getValue()) for x in s.getScopes()]} for s in found]))
finally:
    wsd.stop()
"""


# A raw WS-Discovery client: a unicast Resolve to the camera's address, and a Probe to the IPv6
# group FF02::C on the namespace's interface; prints which answers came back for the endpoint.
RAW = r"""
import json, socket, sys, uuid
host, epr, ifname = sys.argv[1], sys.argv[2], sys.argv[3]
def env(action, body):
    mid = "urn:uuid:" + str(uuid.uuid4())
    return mid, ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
            f'<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</a:Action><a:MessageID>{mid}</a:MessageID>'
            f'<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body>{body}</s:Body></s:Envelope>').encode()
def ask(fam, dest, msg, mid):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(msg, dest)
    try:
        while True:
            data, _ = s.recvfrom(65536)
            if mid.encode() in data and epr.encode() in data:
                return data.decode()
    except socket.timeout:
        return ""
mid, msg = env("Resolve", f'<d:Resolve><a:EndpointReference><a:Address>{epr}</a:Address></a:EndpointReference></d:Resolve>')
resolve = ask(socket.AF_INET, (host, 3702), msg, mid)
mid, msg = env("Probe", "<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>")
probe6 = ask(socket.AF_INET6, ("ff02::c", 3702, 0, socket.if_nametoindex(ifname)), msg, mid)
print(json.dumps({"resolve": "ResolveMatches" in resolve, "probe6": "ProbeMatches" in probe6}))
"""


class Listener:
    def __init__(self, peer, path):
        self.path = path
        self.proc = peer.popen([sys.executable, "-c", LISTENER, str(path), peer.peer_ip])
        wait_for(lambda: path.exists() and "ready" in path.read_text(), 10, step=0.1, what="the multicast listener")

    def seen(self, action, epr=None):
        lines = [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
        return [x for x in lines if x.get("action") == action and (epr is None or x["epr"] == epr)]

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=5)


def discovery_cam(tmp_path, peer, window_secs, config=None):
    cam = Camward(tmp_path / "data", http_host=peer.host_ip)
    cam.env.update({"CAMWARD_DISCOVERY_WINDOW_SECS": str(window_secs),
                    "CAMWARD_DISCOVERY_INTERFACE": peer.host_if})
    if config is not None:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config))
        cam.extra_args += ["--config", str(cfg)]
    return cam.start()


def endpoint(cam):
    return (cam.data_dir / "discovery-endpoint").read_text().strip()


def wsdiscovery_search(peer, seconds=3):
    r = peer.run([sys.executable, "-c", SEARCH, str(seconds)], timeout=seconds + 30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def camward_discover(peer, seconds=2):
    r = peer.run([BIN, "discover", "--seconds", str(seconds), "--json"], timeout=seconds + 30)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


@needs("ss", "ip")
def test_found_inside_the_window_and_not_after_it(tmp_path, netns_peer):
    peer = netns_peer
    listener = Listener(peer, tmp_path / "multicast.jsonl")
    # Long enough for both searches inside it on a loaded machine; the end is awaited, not timed.
    cam = discovery_cam(tmp_path, peer, window_secs=40)
    try:
        epr = endpoint(cam)
        wait_for(lambda: listener.seen("Hello", epr), 10, what="Hello from camward")
        assert ("udp", 3702) in listening_sockets(cam.proc.pid)

        found = [s for s in wsdiscovery_search(peer) if s["epr"] == epr]
        assert found, "WSDiscovery did not find camward inside the window"
        xaddr = f"http://{peer.host_ip}:{cam.http_port}/onvif/device_service"
        assert found[0]["xaddrs"] == [xaddr]
        assert "onvif://www.onvif.org/Profile/Streaming" in found[0]["scopes"]

        mine = [c for c in camward_discover(peer) if c["endpoint"] == epr]
        assert len(mine) == 1, mine
        assert mine[0]["model"] == "camward" and mine[0]["https"] is False
        assert mine[0]["onvif"] == xaddr and mine[0]["address"] == peer.host_ip
        assert mine[0]["firmware"] and mine[0]["serial"]

        # The window ends: Bye, the socket closes, nothing answers any more.
        wait_for(lambda: listener.seen("Bye", epr), 60, step=0.5, what="Bye at the end of the window")
        wait_for(lambda: ("udp", 3702) not in listening_sockets(cam.proc.pid), 10, what="udp/3702 to close")
        assert not [s for s in wsdiscovery_search(peer) if s["epr"] == epr]
        assert not [c for c in camward_discover(peer) if c["endpoint"] == epr]
    finally:
        cam.stop()
        listener.stop()


@needs("ip")
def test_the_window_opens_again_at_each_start_and_bye_is_sent_at_stop(tmp_path, netns_peer):
    peer = netns_peer
    listener = Listener(peer, tmp_path / "multicast.jsonl")
    cam = discovery_cam(tmp_path, peer, window_secs=300)
    try:
        epr = endpoint(cam)
        wait_for(lambda: listener.seen("Hello", epr), 10, what="the first Hello")
        cam.stop()
        wait_for(lambda: listener.seen("Bye", epr), 10, what="Bye at stop")
        cam.start()
        wait_for(lambda: len(listener.seen("Hello", epr)) == 2, 10, what="Hello after the restart")
        hellos = listener.seen("Hello", epr)
        assert hellos[0]["instance"] != hellos[1]["instance"], "AppSequence InstanceId must change per start"
        assert endpoint(cam) == epr, "the endpoint reference is stable across restarts"
        assert [s for s in wsdiscovery_search(peer) if s["epr"] == epr]
        # Resolve by unicast, and Probe over IPv6 multicast (FF02::C), are answered too.
        r = peer.run([sys.executable, "-c", RAW, peer.host_ip, epr, peer.peer_if], timeout=30)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"resolve": True, "probe6": True}
    finally:
        cam.stop()
        listener.stop()


def test_an_unlimited_period_is_an_audit_finding(cam_admin):
    cam = cam_admin
    audit = cam.get("/api/v1/audit").json()
    assert not [f for f in audit["findings"] if f["id"] == "discovery.unlimited"]
    r = cam.patch_config({"discovery": {"accommodate_period": "unlimited"}})
    assert r.status_code == 200, r.text
    found = [f for f in cam.get("/api/v1/audit").json()["findings"] if f["id"] == "discovery.unlimited"]
    assert found and found[0]["severity"] == "medium" and found[0]["paper"] == "§4.5"
    assert found[0]["fix"]["path"] == "discovery.accommodate_period" and found[0]["fix"]["value"] == "20min"
    r = subprocess.run([BIN, "--data", str(cam.data_dir), "audit"], capture_output=True, text=True, timeout=30)
    assert "discovery.unlimited" in r.stdout + r.stderr


def set_discovery_mode(cam, mode):
    from requests.auth import HTTPDigestAuth
    import requests
    body = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            f'<SetDiscoveryMode xmlns="http://www.onvif.org/ver10/device/wsdl"><DiscoveryMode>{mode}</DiscoveryMode>'
            '</SetDiscoveryMode></s:Body></s:Envelope>')
    r = requests.post(cam.url("/onvif/device_service"), data=body, timeout=15,
                      headers={"Content-Type": "application/soap+xml"}, auth=cam.admin())
    assert r.status_code == 200, r.text


@needs("ss", "ip")
def test_onvif_discovery_mode_closes_and_reopens_the_window(tmp_path, netns_peer):
    peer = netns_peer
    listener = Listener(peer, tmp_path / "multicast.jsonl")
    cam = discovery_cam(tmp_path, peer, window_secs=300)
    try:
        cam.setup_admin()
        epr = endpoint(cam)
        wait_for(lambda: listener.seen("Hello", epr), 10, what="Hello")
        set_discovery_mode(cam, "NonDiscoverable")
        wait_for(lambda: listener.seen("Bye", epr), 10, what="Bye after NonDiscoverable")
        wait_for(lambda: ("udp", 3702) not in listening_sockets(cam.proc.pid), 10, what="udp/3702 to close")
        set_discovery_mode(cam, "Discoverable")
        wait_for(lambda: len(listener.seen("Hello", epr)) == 2, 10, what="Hello after Discoverable")
        assert [s for s in wsdiscovery_search(peer) if s["epr"] == epr]
    finally:
        cam.stop()
        listener.stop()


@needs("ip")
def test_a_changed_announcement_is_said_again_in_a_hello_with_a_higher_metadata_version(tmp_path, netns_peer):
    peer = netns_peer
    listener = Listener(peer, tmp_path / "multicast.jsonl")
    cam = discovery_cam(tmp_path, peer, window_secs=300)
    try:
        cam.setup_admin()
        epr = endpoint(cam)
        wait_for(lambda: listener.seen("Hello", epr), 10, what="the first Hello")
        first = listener.seen("Hello", epr)[0]
        assert not [x for x in first["scopes"] if "/location/" in x]
        r = cam.patch_config({"discovery": {"location": "hall-2"}})
        assert r.status_code == 200, r.text
        wait_for(lambda: len(listener.seen("Hello", epr)) == 2, 10, what="a Hello saying the new location")
        second = listener.seen("Hello", epr)[1]
        assert "onvif://www.onvif.org/location/hall-2" in second["scopes"]
        # The same run of the responder (same InstanceId), a newer description of the device.
        assert second["instance"] == first["instance"]
        assert int(second["version"]) == int(first["version"]) + 1
        assert second["xaddrs"] == first["xaddrs"] == [f"http://{peer.host_ip}:{cam.http_port}/onvif/device_service"]
        # A Probe is answered with the new description and version too.
        found = [s for s in wsdiscovery_search(peer) if s["epr"] == epr]
        assert found and "onvif://www.onvif.org/location/hall-2" in found[0]["scopes"]
        # An unrelated change (no scope, no address) says nothing new.
        r = cam.patch_config({"discovery": {"location": "hall-2"}})
        assert r.status_code == 200, r.text
        time.sleep(1)  # a bounded pause: a third Hello would come within the recheck that follows the change
        assert len(listener.seen("Hello", epr)) == 2
    finally:
        cam.stop()
        listener.stop()
