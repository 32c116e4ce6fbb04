"""A real SMTP server for tests/publish.rs: aiosmtpd, saving each message
it accepts as DIR/<n>.eml, with the features a destination may need.

  smtp_server.py --port P --dir DIR [--starttls CERT KEY] [--require-starttls]
                 [--implicit-tls CERT KEY] [--auth USER:PASSWORD]
                 [--refuse-first N]

--refuse-first N answers the first N messages with 451 (a transient
failure), to show that publish retries a destination on its next run.
Prints "ready" once it listens.
"""
import argparse
import logging
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd 1.4 logs a warning about its own use of a deprecated attribute
# at every login.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Saver:
    def __init__(self, directory, refuse_first):
        self.dir = directory
        self.refuse = refuse_first
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.n += 1
        path = os.path.join(self.dir, f"{self.n}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        with open(os.path.join(self.dir, f"{self.n}.rcpt"), "w") as f:
            f.write("\n".join(envelope.rcpt_tos))
        return "250 2.0.0 saved as message " + str(self.n)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--implicit-tls", nargs=2)
    p.add_argument("--auth")
    p.add_argument("--refuse-first", type=int, default=0)
    a = p.parse_args()
    kwargs = {}
    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.starttls)
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = a.require_starttls
    if a.implicit_tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.implicit_tls)
        kwargs["ssl_context"] = ctx
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # Plain-text authentication over a connection without TLS is
        # refused unless TLS is not offered at all (a plain test server).
        kwargs["auth_require_tls"] = bool(a.starttls or a.implicit_tls)
    c = Controller(Saver(a.dir, a.refuse_first), hostname="127.0.0.1", port=a.port, **kwargs)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
