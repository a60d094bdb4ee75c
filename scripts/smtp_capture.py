#!/usr/bin/python3
"""SMTP capture server for pwresetd tests (aiosmtpd; run with /usr/bin/python3).

Listens on 127.0.0.1 (a free port unless --port is given) and writes every
accepted message, raw and unmodified, as DIR/mail/<counter>-<unix-ns>.eml
(written to a dot-temp file, then renamed) BEFORE replying 250. Next to it,
<same name>.json holds the envelope (mail_from, rcpt_tos, peer, tls,
auth_user, ...); it is renamed into place before the .eml, so a visible .eml
always has its .json.

When listening it writes DIR/smtp.pid and then DIR/env (sourceable KEY=value:
SMTP_HOST, SMTP_PORT, SMTP_URL, SMTP_MAIL_DIR, SMTP_PID_FILE, SMTP_LOG_FILE,
and SMTP_CA_FILE / SMTP_OTHER_CA_FILE / SMTP_USER / SMTP_PASSWORD_FILE when
relevant). Normally started by scripts/smtp-start DIR [options].
"""

import argparse
import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtp_capture")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True, help="state dir (mail/, env, smtp.pid, tls/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): pick a free port")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"),
                     help="offer STARTTLS with this certificate chain and key")
    tls.add_argument("--tls", action="store_true",
                     help="generate a throwaway CA + leaf into DIR/tls and offer STARTTLS")
    p.add_argument("--implicit-tls", action="store_true",
                   help="TLS from the first byte (smtps://) instead of STARTTLS; needs --tls or --starttls")
    p.add_argument("--require-starttls", action="store_true",
                   help="refuse MAIL etc. (530) until STARTTLS was done")
    p.add_argument("--auth", metavar="USER:PASSWORDFILE",
                   help="require AUTH PLAIN/LOGIN (offered only under TLS); a missing "
                        "PASSWORDFILE is created with a random password")
    p.add_argument("--reject-rcpt", metavar="PATTERN", action="append", default=[],
                   help="550 5.1.1 for RCPT addresses containing PATTERN (case-insensitive; repeatable)")
    p.add_argument("--tempfail-first", metavar="N", type=int, default=0,
                   help="451 4.3.0 for the first N DATA commands (server-wide)")
    p.add_argument("--verbose", action="store_true", help="log every SMTP exchange")
    a = p.parse_args(argv)
    if a.implicit_tls and not (a.tls or a.starttls):
        p.error("--implicit-tls needs --tls or --starttls CERT KEY")
    if a.auth and ":" not in a.auth:
        p.error("--auth wants USER:PASSWORDFILE")
    return a


# ----------------------------------------------------------------- helpers

def atomic_write(path, data, mode=0o644):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


SAFE_ENV = re.compile(r"^[A-Za-z0-9_./:=,@+%-]*$")


def env_line(k, v):
    v = str(v)
    if SAFE_ENV.match(v):
        return f"{k}={v}\n"
    return "%s='%s'\n" % (k, v.replace("'", "'\\''"))


def gen_tls(tls_dir):
    """Throwaway CA (CA:TRUE) + leaf (CA:FALSE, serverAuth, SANs) + an unrelated CA."""
    os.makedirs(tls_dir, exist_ok=True)
    host = socket.gethostname() or "localhost"
    with tempfile.TemporaryDirectory(dir=tls_dir, prefix=".gen.") as t:
        def run(*cmd):
            subprocess.run(cmd, cwd=t, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(os.path.join(t, "ca.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier=hash\n")
        with open(os.path.join(t, "leaf.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    f"subjectAltName=DNS:localhost,DNS:{host},IP:127.0.0.1\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        for n in ("ca", "other-ca", "server"):
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", f"{n}.key")
        for n, cn in (("ca", "pwresetd SMTP test CA"), ("other-ca", "pwresetd SMTP OTHER CA")):
            run("openssl", "req", "-new", "-key", f"{n}.key", "-subj", f"/O=pwresetd test/CN={cn}",
                "-out", f"{n}.csr")
            run("openssl", "x509", "-req", "-in", f"{n}.csr", "-signkey", f"{n}.key", "-days", "3650",
                "-sha256", "-extfile", "ca.ext", "-out", f"{n}.pem")
        run("openssl", "req", "-new", "-key", "server.key", "-subj", "/O=pwresetd test/CN=localhost",
            "-out", "server.csr")
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "0x" + secrets.token_hex(16), "-days", "825", "-sha256",
            "-extfile", "leaf.ext", "-out", "server.pem")
        for n, mode in (("ca.pem", 0o644), ("other-ca.pem", 0o644), ("server.pem", 0o644),
                        ("server.key", 0o600), ("ca.key", 0o600)):
            os.chmod(os.path.join(t, n), mode)
            os.rename(os.path.join(t, n), os.path.join(tls_dir, n))
    return (os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"),
            os.path.join(tls_dir, "ca.pem"), os.path.join(tls_dir, "other-ca.pem"))


# ----------------------------------------------------------------- handler

class Capture:
    def __init__(self, mail_dir, reject, tempfail_first):
        self.mail_dir = mail_dir
        self.reject = [r.lower() for r in reject]
        self.tempfail_left = tempfail_first
        self.data_seen = 0
        self.saved = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if any(r in address.lower() for r in self.reject):
            log.info("RCPT %s rejected (550)", address)
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen += 1
        if self.tempfail_left > 0:
            self.tempfail_left -= 1
            log.info("DATA #%d from %s tempfailed (451)", self.data_seen, envelope.mail_from)
            return "451 4.3.0 try again later"
        self.saved += 1
        name = "%06d-%d" % (self.saved, time.time_ns())
        meta = {
            "file": name + ".eml",
            "seq": self.saved,
            "received_at": time.time(),
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": envelope.smtp_utf8,
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "tls": session.ssl is not None or getattr(server, "_pwr_implicit_tls", False),
            "auth_user": session.auth_data.decode("utf-8", "replace")
            if isinstance(session.auth_data, bytes) else None,
            "size": len(envelope.original_content or b""),
        }
        atomic_write(os.path.join(self.mail_dir, name + ".json"),
                     (json.dumps(meta, ensure_ascii=False, indent=1) + "\n").encode())
        atomic_write(os.path.join(self.mail_dir, name + ".eml"), envelope.original_content or b"")
        log.info("saved %s.eml from=%s to=%s (%d bytes)", name, envelope.mail_from,
                 ",".join(envelope.rcpt_tos), meta["size"])
        return "250 2.0.0 OK queued as " + name


def make_authenticator(user, password):
    u, p = user.encode(), password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, u) & hmac.compare_digest(auth_data.password, p)
        log.info("AUTH %s as %r: %s", mechanism, auth_data.login, "ok" if ok else "FAILED")
        if ok:
            return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)
    return authenticator


# ----------------------------------------------------------------- main

async def serve(a):
    state = os.path.abspath(a.dir)
    mail_dir = os.path.join(state, "mail")
    os.makedirs(mail_dir, exist_ok=True)

    ctx = None
    ca_file = other_ca = None
    if a.tls:
        cert, key, ca_file, other_ca = gen_tls(os.path.join(state, "tls"))
    elif a.starttls:
        cert, key = a.starttls
    if a.tls or a.starttls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)

    authenticator = None
    user = pwfile = None
    if a.auth:
        user, pwfile = a.auth.split(":", 1)
        pwfile = os.path.abspath(pwfile)
        if not os.path.exists(pwfile):
            alphabet = string.ascii_letters + string.digits
            atomic_write(pwfile, "".join(secrets.choice(alphabet) for _ in range(20)).encode(), 0o600)
        with open(pwfile, encoding="utf-8") as f:
            password = f.read().rstrip("\r\n")
        authenticator = make_authenticator(user, password)

    handler = Capture(mail_dir, a.reject_rcpt, a.tempfail_first)
    loop = asyncio.get_running_loop()

    def factory():
        s = SMTP(
            handler,
            loop=loop,
            hostname="localhost",
            ident="pwresetd-smtp-capture",
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=None if a.implicit_tls else ctx,
            require_starttls=bool(a.require_starttls and ctx and not a.implicit_tls),
            auth_required=bool(authenticator),
            # Under implicit TLS the whole session is encrypted already.
            auth_require_tls=not a.implicit_tls,
            authenticator=authenticator,
        )
        s._pwr_implicit_tls = a.implicit_tls
        return s

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    server = await loop.create_server(factory, sock=sock, ssl=ctx if a.implicit_tls else None,
                                      backlog=128)
    port = sock.getsockname()[1]

    pid_file = os.path.join(state, "smtp.pid")
    atomic_write(pid_file, f"{os.getpid()}\n".encode())
    scheme = "smtps" if a.implicit_tls else "smtp"
    env = "# SMTP capture server: source this file (written by scripts/smtp_capture.py)\n"
    env += env_line("SMTP_HOST", a.host)
    env += env_line("SMTP_PORT", port)
    env += env_line("SMTP_URL", f"{scheme}://{a.host}:{port}")
    env += env_line("SMTP_MAIL_DIR", mail_dir)
    env += env_line("SMTP_PID_FILE", pid_file)
    env += env_line("SMTP_LOG_FILE", os.path.join(state, "smtp.log"))
    env += env_line("SMTP_DIR", state)
    if ctx:
        env += env_line("SMTP_TLS", "implicit" if a.implicit_tls else "starttls")
    if ca_file:
        env += env_line("SMTP_CA_FILE", ca_file)
        env += env_line("SMTP_OTHER_CA_FILE", other_ca)
    if user:
        env += env_line("SMTP_USER", user)
        env += env_line("SMTP_PASSWORD_FILE", pwfile)
    atomic_write(os.path.join(state, "env"), env.encode())
    log.info("listening on %s://%s:%d (pid %d) mail -> %s", scheme, a.host, port, os.getpid(), mail_dir)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: %d DATA seen, %d messages saved", handler.data_seen, handler.saved)
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass


def main(argv):
    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    aio_log = logging.getLogger("mail.log")
    aio_log.setLevel(logging.DEBUG if a.verbose else logging.WARNING)
    # aiosmtpd 1.4 warns about its own use of the deprecated login_data on every AUTH.
    aio_log.addFilter(lambda r: "login_data is deprecated" not in r.getMessage())
    asyncio.run(serve(a))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
