"""A real HTTP server for tests/publish.rs (Python's http.server): each
POST is saved as DIR/<n>.json with its headers and body; the first
--refuse-first N POSTs are answered 503. Over HTTPS with --tls CERT KEY.

  webhook_server.py --port P --dir DIR [--refuse-first N] [--tls CERT KEY]
                    [--secret-file F]

With --secret-file, each record says whether the body's
X-Incident-Monitor-Signature is sha256=<hex HMAC-SHA256 of the body> under
that key (Python's own hmac: an implementation independent of the
monitor's).

Prints "ready" once it listens.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse-first", type=int, default=0)
    p.add_argument("--tls", nargs=2)
    p.add_argument("--secret-file")
    a = p.parse_args()
    key = None
    if a.secret_file:
        with open(a.secret_file, "rb") as f:
            key = f.read().rstrip(b"\r\n")
    state = {"refuse": a.refuse_first, "n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if state["refuse"] > 0:
                state["refuse"] -= 1
                self.send_response(503)
                self.end_headers()
                self.wfile.write(b"busy, try later")
                return
            state["n"] += 1
            record = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_base64": base64.b64encode(body).decode(),
            }
            if key is not None:
                want = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Incident-Monitor-Signature", "")
                record["signature_valid"] = hmac.compare_digest(want, got)
            path = os.path.join(a.dir, f"{state['n']}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(path + ".tmp", path)
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"accepted")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", a.port), Handler)
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
