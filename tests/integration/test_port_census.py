"""Port census (paper §3.5, "Deactivation of unnecessary services"): every TCP and UDP socket the
daemon listens on, as an auditor's `ss -ltnup` shows it for the daemon's process. A fresh device
listens on exactly HTTP and RTSP; each service that can be switched on adds exactly its own
sockets while on, and they are gone again once it is switched off.

To add a service: one `Service` row in SERVICES (how to switch it on and off, which sockets it
opens), and its listen flag in `census_cam` if it has one. SNMP, discovery, UPnP… add theirs.
"""
from dataclasses import dataclass
from typing import Callable

import pytest

from conftest import free_port, listening_sockets, needs, wait_for
from https_util import HttpsCam


class CensusCam(HttpsCam):
    """A daemon with every optional listener pinned to a loopback port (none open by default)."""

    def __init__(self, data_dir):
        self.ftp_port = free_port()
        super().__init__(data_dir, extra_args=["--ftp", f"127.0.0.1:{self.ftp_port}"])
        self.https_on = False

    def configure(self, patch):
        """PATCH /api/v1/config over whichever channel takes credentials now."""
        r = self.sreq("PATCH", "/api/v1/config", json=patch) if self.https_on else self.patch_config(patch)
        assert r.status_code == 200, r.text

    def base(self):
        return {("tcp", self.http_port), ("tcp", self.rtsp_port)}


def https_on(cam):
    cam.set_connection("https")
    cam.https_on = True


def https_off(cam):
    cam.set_connection("http", via_https=True)
    cam.https_on = False


@dataclass
class Service:
    name: str
    on: Callable[[CensusCam], None]
    off: Callable[[CensusCam], None]
    sockets: Callable[[CensusCam], set]


SERVICES = [
    Service("HTTPS and RTSPS (Connection = HTTPS, §3.7, §4.4)", https_on, https_off,
            lambda c: {("tcp", c.https_port), ("tcp", c.rtsps_port)}),
    Service("FTP server (FTP access to camera = Allow, §4.2)",
            lambda c: c.configure({"ftp_server": {"enabled": True}}),
            lambda c: c.configure({"ftp_server": {"enabled": False}}),
            lambda c: {("tcp", c.ftp_port)}),
]


@pytest.fixture
def census_cam(tmp_path):
    c = CensusCam(tmp_path / "data").start()
    yield c
    c.stop()


def settled(cam, want):
    """The census once it equals `want` (services open and close their sockets asynchronously)."""
    seen = []

    def check():
        seen.append(listening_sockets(cam.proc.pid))
        return seen[-1] == want

    try:
        wait_for(check, 15, step=0.2, what="the listening sockets")
    except AssertionError:
        raise AssertionError(f"listening {sorted(seen[-1])}, expected {sorted(want)}") from None
    return seen[-1]


@needs("ss")
def test_a_fresh_device_listens_on_http_and_rtsp_only(census_cam):
    cam = census_cam
    # Before the administrator exists, and after: TCP HTTP and RTSP, no UDP, nothing else.
    assert settled(cam, cam.base()) == cam.base()
    cam.setup_admin()
    assert listening_sockets(cam.proc.pid) == cam.base()


@needs("ss")
@pytest.mark.parametrize("service", SERVICES, ids=[s.name.split(" (")[0] for s in SERVICES])
def test_each_service_opens_exactly_its_sockets_while_on(census_cam, service):
    cam = census_cam
    cam.setup_admin()
    settled(cam, cam.base())
    service.on(cam)
    settled(cam, cam.base() | service.sockets(cam))
    service.off(cam)
    settled(cam, cam.base())


@needs("ss")
def test_all_services_on_together_then_off(census_cam):
    cam = census_cam
    cam.setup_admin()
    want = cam.base()
    for s in SERVICES:
        s.on(cam)
        want |= s.sockets(cam)
        settled(cam, want)
    for s in reversed(SERVICES):
        s.off(cam)
        want -= s.sockets(cam)
        settled(cam, want)
    assert want == cam.base()
