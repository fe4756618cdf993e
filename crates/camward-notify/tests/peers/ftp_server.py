"""pyftpdlib peer for camward-notify's tests: FTPS with TLS required on control and data
(TLS_FTPHandler), or plain FTP. Prints "READY" once listening; runs until stdin closes."""
import argparse
import sys
import threading

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--dir", required=True)
p.add_argument("--user", required=True)
p.add_argument("--password", required=True)
p.add_argument("--mode", choices=["ftps", "plain"], required=True)
p.add_argument("--cert")
p.add_argument("--key")
a = p.parse_args()

auth = DummyAuthorizer()
auth.add_user(a.user, a.password, a.dir, perm="elradfmwMT")
if a.mode == "ftps":
    class H(TLS_FTPHandler):
        pass
    H.certfile = a.cert
    H.keyfile = a.key
    H.tls_control_required = True
    H.tls_data_required = True
else:
    class H(FTPHandler):
        pass
H.authorizer = auth
server = FTPServer(("127.0.0.1", a.port), H)
t = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
t.start()
print("READY", flush=True)
sys.stdin.read()
server.close_all()
