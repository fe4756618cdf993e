"""Object storage (paper §3.8: recordings kept encrypted "on the card or in the cloud") against the
built daemon and a real S3 server, s3s-fs (SigV4 checked): recordings arrive in the bucket
byte-identical and still CENC-encrypted, leave the card only once confirmed, and the index says
where each one is; with the store stopped they wait on the card and all arrive once it is back,
each uploaded once; a wrong secret key is reported, not retried on and on; a recording that lives
in the bucket only is downloaded, exported and verified through the HTTP API as from the card; with
the index file lost, the bucket is listed back and its recordings play again. One s3s-fs and one
daemon for the module."""
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import free_port, needs, stop_process, wait_for, wait_port
from recording_util import cw, download, provision_ca, recordings, start_recording, wait_for_files
from conftest import Camward

pytestmark = needs("s3s-fs")

ACCESS_KEY = "camward-test-ak"
SECRET_KEY = "camward-test-SeCrEt-9x2"
BUCKET = "cam-recordings"
PREFIX = "site-1/cam-front"


class S3:
    """s3s-fs serving DIR on a fixed loopback port; stop() and start() keep port and data."""

    def __init__(self, root: Path, log: Path):
        self.root = root
        self.port = free_port()
        self.log = log
        self.proc = None
        (root / BUCKET).mkdir(parents=True, exist_ok=True)

    def start(self):
        exe = shutil.which("s3s-fs") or "/root/.cargo/bin/s3s-fs"
        self.proc = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "--port", str(self.port), "--access-key", ACCESS_KEY,
             "--secret-key", SECRET_KEY, str(self.root)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_port(self.port, True, timeout=10)
        return self

    def stop(self):
        if self.proc:
            stop_process(self.proc)
            self.proc = None
        wait_port(self.port, False, timeout=10)

    def objects(self):
        """Object key → bytes, as s3s-fs stores them (one file per key under the bucket folder)."""
        base = self.root / BUCKET
        return {str(p.relative_to(base)): p for p in base.rglob("*.mp4") if p.is_file()}


def store_section(port, secret=SECRET_KEY):
    return {"object": {"enabled": True, "endpoint": f"http://127.0.0.1:{port}", "bucket": BUCKET,
                       "region": "us-east-1", "prefix": PREFIX, "access_key_id": ACCESS_KEY,
                       "secret_access_key": secret, "path_style": True}}


def status(cam):
    r = cam.get("/api/v1/status/details")
    assert r.status_code == 200, r.text
    return (r.json().get("storage") or {}).get("object_store")


def index_rows(cam):
    """The recording index as the daemon keeps it (read-only; WAL lets us read while it writes)."""
    db = sqlite3.connect(f"file:{cam.data_dir / 'recordings' / 'index.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return {r[0]: {"path": r[1], "status": r[2], "local_copy": r[3], "puts": r[4], "key": r[5]}
                for r in db.execute("SELECT r.id, r.path, u.status, u.local_copy, u.puts, u.object_key "
                                    "FROM recording r LEFT JOIN upload u ON u.recording_id = r.id "
                                    "WHERE r.state != 'recording'")}
    finally:
        db.close()


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("obj")
    s3 = S3(tmp / "s3", tmp / "s3s-fs.log").start()
    data = tmp / "data"
    provision_ca(tmp, data)
    keys = {n: tmp / f"{n}.key" for n in ("viewer", "stranger")}
    recips = {n: cw("keygen", "--out", p, check=True).stdout.strip() for n, p in keys.items()}
    cam = Camward(data).start()
    try:
        cam.setup_admin()
        start_recording(cam, extra={"data_encryption": {"enabled": True, "recipients": [recips["viewer"]]}})
        # Two files closed on the card before the store is set up: their bytes as the card held them.
        rows = wait_for_files(cam, 2)
        card = {r["id"]: download(cam, r["id"], tmp / f"card-{r['id']}.mp4").read_bytes() for r in rows[:2]}
        r = cam.patch_config({"storage": store_section(s3.port)})
        assert r.status_code == 200, r.text
        yield {"cam": cam, "s3": s3, "tmp": tmp, "card": card, "keys": keys}
    finally:
        cam.stop()
        s3.stop()


def wait_uploaded(cam, ids, timeout=60):
    def done():
        rows = index_rows(cam)
        return all(rows.get(i, {}).get("status") == "confirmed" and rows[i]["local_copy"] == 0 for i in ids)
    wait_for(done, timeout, step=0.5, what=f"recordings {ids} confirmed in the bucket and off the card")


def test_recordings_arrive_byte_identical_and_still_encrypted(obj):
    cam, s3 = obj["cam"], obj["s3"]
    ids = sorted(obj["card"])
    wait_uploaded(cam, ids)
    rows = index_rows(cam)
    objects = s3.objects()
    for i in ids:
        key = rows[i]["key"]
        assert key == f"{PREFIX}/{rows[i]['path']}", key
        rel = key
        assert rel in objects, (rel, sorted(objects))
        body = objects[rel].read_bytes()
        assert body == obj["card"][i], f"object {rel} differs from the card's file"
        # Still CENC: protected sample entry and key system box, and only the viewer opens it.
        assert b"encv" in body[:4096] and b"pssh" in body[:4096]
        assert rows[i]["puts"] == 1
        # Off the card once confirmed, and the API says where it lives.
        assert not (cam.data_dir / "recordings" / rows[i]["path"]).exists()
    listed = {r["id"]: r for r in recordings(cam)}
    assert all(listed[i]["location"] == "bucket" for i in ids), [listed[i] for i in ids]
    sample = objects[rows[ids[0]]["key"]]
    out = obj["tmp"] / "decrypted.mp4"
    p = cw("decrypt", sample, "--identity", obj["keys"]["viewer"], "-o", out)
    assert p.returncode == 0 and out.stat().st_size > 0, p.stderr
    p = cw("decrypt", sample, "--identity", obj["keys"]["stranger"], "-o", obj["tmp"] / "no.mp4")
    assert p.returncode != 0, "a key that is not a recipient must not open the object"
    st = status(cam)
    assert st["state"] == "ok" and st["in_bucket"] >= 2, st


def test_store_down_recordings_wait_on_the_card_survive_a_restart_and_all_arrive_once(obj):
    cam, s3 = obj["cam"], obj["s3"]
    s3.stop()
    before = set(index_rows(cam))
    # New files close while the store is down: they wait on the card, reported.
    wait_for(lambda: len(set(index_rows(cam)) - before) >= 2, 60, step=0.5, what="two files closed during the outage")
    wait_for(lambda: (status(cam) or {}).get("state") == "unavailable", 30, what="status unavailable")
    st = status(cam)
    assert st["waiting"] >= 1 and "reach" in st["message"], st
    rows = index_rows(cam)
    waiting = [i for i, r in rows.items() if r["status"] != "confirmed"]
    assert waiting and all((cam.data_dir / "recordings" / rows[i]["path"]).exists() for i in waiting)
    # The queue is the index: a restart while the store is down loses nothing and resumes.
    cam.restart()
    wait_for(lambda: (status(cam) or {}).get("state") == "unavailable", 30, what="status unavailable after restart")
    s3.start()
    wait_uploaded(cam, waiting, timeout=90)
    rows = index_rows(cam)
    objects = s3.objects()
    for i in waiting:
        assert rows[i]["puts"] == 1, rows[i]
        assert rows[i]["key"] in objects
    # Nothing lost: every closed recording is either confirmed in the bucket or still on the card.
    for i, r in rows.items():
        assert r["status"] == "confirmed" or (cam.data_dir / "recordings" / r["path"]).exists(), (i, r)


def test_download_export_and_verify_of_a_recording_in_the_bucket_only(obj):
    cam, s3 = obj["cam"], obj["s3"]
    listed = [r for r in recordings(cam) if r["location"] == "bucket"]
    assert listed, recordings(cam)
    row = listed[0]
    key = index_rows(cam)[row["id"]]["key"]
    body = s3.objects()[key].read_bytes()
    r = cam.get(f"/api/v1/recordings/{row['id']}.mp4", timeout=60)
    assert r.status_code == 200, r.text
    assert r.content == body
    r = cam.get(f"/api/v1/recordings/{row['id']}/verification", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "encrypted", r.json()
    # Inside the recording (each encrypted file has its own key, so a range touching its
    # neighbours would be refused as a format change): seconds 2–4 of the 10 s file.
    start = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
    span = {k: (start + timedelta(seconds=d)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            for k, d in (("from", 2), ("to", 4))}
    r = cam.get("/api/v1/export.mp4", params={"stream": 1, **span}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.content[4:8] == b"ftyp" and b"encv" in r.content[:4096]


# What a recording is, whichever index lists it (ids are the index's own and may change).
SAME = ("camera", "stream", "start", "end", "bytes", "frames", "signed", "encrypted", "trigger",
        "width", "height")


def test_a_lost_index_lists_the_bucket_back_and_its_recordings_play_again(obj):
    cam, s3 = obj["cam"], obj["s3"]
    in_bucket = {tuple(r.get(k) for k in SAME): r for r in recordings(cam) if r["location"] == "bucket"}
    assert in_bucket, recordings(cam)
    objects_before = {k: p.read_bytes() for k, p in s3.objects().items()}
    # The operator's accident: the index goes (card swapped, file deleted) while the objects stay.
    cam.stop()
    for suffix in ("", "-wal", "-shm"):
        (cam.data_dir / "recordings" / f"index.sqlite3{suffix}").unlink(missing_ok=True)
    cam.start()

    def back():
        now = {tuple(r.get(k) for k in SAME): r for r in recordings(cam)}
        return all(k in now and now[k]["location"] == "bucket" for k in in_bucket) and now
    now = wait_for(back, 90, step=0.5, what="every recording of the bucket listed again")
    # Played from the bucket as before: the same bytes as the object.
    rows = index_rows(cam)
    first = now[next(iter(in_bucket))]
    key = rows[first["id"]]["key"]
    r = cam.get(f"/api/v1/recordings/{first['id']}.mp4", timeout=60)
    assert r.status_code == 200, r.text
    assert r.content == objects_before[key]
    # Adoption reads, never writes: every object is as it was, none uploaded again.
    objects_after = s3.objects()
    for k, body in objects_before.items():
        assert objects_after[k].read_bytes() == body, f"object {k} changed"
    # The status says so: the recordings found again, and the listing over.
    st = wait_for(lambda: (lambda o: o if o and not o["adopting"] else None)(status(cam)), 60, step=0.5,
                  what="the listing of the bucket over")
    assert st["adopted"] >= len(in_bucket), st


def test_wrong_secret_is_reported_and_not_retried_on_and_on(obj):
    cam, s3 = obj["cam"], obj["s3"]
    r = cam.patch_config({"storage": store_section(s3.port, secret="wrong-secret-key-000")})
    assert r.status_code == 200, r.text
    wait_for(lambda: (status(cam) or {}).get("state") == "rejected", 60, step=0.5, what="status rejected")
    st = status(cam)
    assert "refused the credentials" in st["message"], st
    audit = cam.get("/api/v1/audit").json()
    found = {f["id"]: f for f in audit["findings"]}
    assert found["storage.object.rejected"]["severity"] == "high", audit
    assert found["storage.object.plaintext"]["severity"] == "high", audit
    tries = st["failed_attempts"]
    time.sleep(4)  # a retrying uploader would try again within 4 s (its back-off starts at 1 s, then 2 s)
    assert status(cam)["failed_attempts"] == tries, "a refused secret must not be tried again and again"
    log = cam.read_log()
    assert "refused the credentials or the bucket" in log
    assert SECRET_KEY not in log and "wrong-secret-key-000" not in log
    cfg = cam.get("/api/v1/config").text
    assert "wrong-secret-key-000" not in cfg and SECRET_KEY not in cfg
    # Fixed: uploads resume.
    r = cam.patch_config({"storage": store_section(s3.port)})
    assert r.status_code == 200, r.text
    wait_for(lambda: (status(cam) or {}).get("state") == "ok", 60, step=0.5, what="status ok again")


def make_ca(tmp: Path, name: str):
    """A CA (openssl) and a server certificate it issues for 127.0.0.1: (ca.pem, cert, key)."""
    d = tmp / name
    d.mkdir()
    run = lambda *a: subprocess.run(["openssl", *map(str, a)], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "ca.key",
        "-out", d / "ca.pem", "-days", "2", "-subj", f"/CN={name}")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "srv.key",
        "-out", d / "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", d / "srv.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial",
        "-out", d / "srv.pem", "-days", "2", "-extfile", d / "ext")
    return d / "ca.pem", d / "srv.pem", d / "srv.key"


@needs("nginx", "openssl")
def test_https_endpoint_with_a_pinned_ca(obj):
    """The store behind TLS (nginx in front of s3s-fs): uploads go through with the store's CA
    pinned, and stop with another CA pinned (an impostor's certificate is refused)."""
    cam, s3, tmp = obj["cam"], obj["s3"], obj["tmp"]
    ca, cert, key = make_ca(tmp, "store-ca")
    other_ca, _, _ = make_ca(tmp, "other-ca")
    port = free_port()
    ngx = tmp / "nginx"
    ngx.mkdir()
    (ngx / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {ngx}/nginx.pid;
error_log {ngx}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {ngx}/body; proxy_temp_path {ngx}/proxy; fastcgi_temp_path {ngx}/fcgi;
  uwsgi_temp_path {ngx}/uwsgi; scgi_temp_path {ngx}/scgi;
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://127.0.0.1:{s3.port};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(ngx / "stderr.log", "ab"))
    try:
        wait_port(port, True, timeout=10)
        section = store_section(port)
        section["object"].update(endpoint=f"https://127.0.0.1:{port}", ca_certificate=ca.read_text())
        r = cam.patch_config({"storage": section})
        assert r.status_code == 200, r.text
        before = {i for i, r in index_rows(cam).items() if r["status"] == "confirmed"}
        wait_for(lambda: any(r["status"] == "confirmed" and i not in before for i, r in index_rows(cam).items()),
                 60, step=0.5, what="a recording uploaded over TLS")
        ids = {f["id"] for f in cam.get("/api/v1/audit").json()["findings"]}
        assert "storage.object.plaintext" not in ids and "storage.object.ca_not_pinned" not in ids, ids
        # Another CA pinned: the store's certificate is not trusted, nothing is uploaded.
        section["object"]["ca_certificate"] = other_ca.read_text()
        r = cam.patch_config({"storage": section})
        assert r.status_code == 200, r.text
        wait_for(lambda: (status(cam) or {}).get("state") == "unavailable", 60, step=0.5,
                 what="uploads refused with another CA pinned")
        confirmed = {i for i, r in index_rows(cam).items() if r["status"] == "confirmed"}
        waiting = {i for i, r in index_rows(cam).items() if r["status"] != "confirmed"}
        assert waiting and not (waiting & confirmed)
    finally:
        stop_process(proc)
