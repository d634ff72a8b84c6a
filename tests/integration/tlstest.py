"""
tlstest.py: helpers for the STARTTLS, implicit TLS, submission and AUTH
tests, on top of the mxdtest package.  Standard library only.

  Pki        a temporary directory with a self-signed certificate made by
             the openssl CLI, and (on demand) a sasldb made by saslpasswd2
             with the <sasl_app>.conf that points libsasl2 at it.  Nothing
             secret is kept in the tree: it is all made at test time.
  TlsServer  an mxd with a certificate, AUTH and the extra listeners
             (smtps_listen, submission_listen) on free loopback ports.
  TlsClient  mxdtest.Client that can STARTTLS, or connect with implicit
             TLS (smtps()).
  Checks     of the stored message (Received:, X-Mxd-Tls, X-Mxd-Auth)
             and of the log lines of the session that queued it.
  SASL       client sides of PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256.
"""

import atexit
import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

from mxdtest import (Client, Server, ServerError, TIMEOUT, check,
                     free_port, need_tool, assert_eq, assert_in, wait_until)

USER = "alice@mx.test"
PASSWORD = "secret"
REALM = "mx.test"
MECHS = "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"
TOOL_TIMEOUT = 15


# -- certificates and the sasldb -------------------------------------------

def make_cert(cert, key, cn):
    """A fresh self-signed RSA certificate and key for CN=cn, written to
    temporary names first and then renamed over cert and key (so a
    server reading them never sees half a file)."""
    openssl = need_tool("openssl")
    d = os.path.dirname(cert)
    tcert, tkey = os.path.join(d, ".new-cert.pem"), \
        os.path.join(d, ".new-key.pem")
    p = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", tkey, "-out", tcert,
                        "-days", "2", "-subj", "/CN=%s" % cn],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT)
    if p.returncode != 0:
        raise AssertionError("openssl req failed: %s" %
                             p.stdout.decode("utf-8", "replace"))
    readable(tkey)
    readable(tcert)
    os.replace(tkey, key)
    os.replace(tcert, cert)


def readable(path):
    """Let everyone read a test file: mxd started as root may run as
    another user (the `user` setting) when it rereads the certificate on
    SIGHUP or opens the sasldb.  These are throwaway test secrets."""
    os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)


def cert_der(path):
    """The DER bytes of the (first) certificate in a PEM file."""
    with open(path) as f:
        pem = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  pem, re.S)
    if m is None:
        raise AssertionError("no certificate in %s" % path)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


class Pki:
    """
    A temporary directory (removed at exit) holding, once asked for,
    cert.pem/key.pem for CN=cn (tls_opts()) and sasldb2 with
    alice@mx.test / secret and the libsasl2 configuration <app>.conf
    (sasl_opts()).  Without openssl or saslpasswd2 these raise Skip.
    """

    def __init__(self, cn="mx.test"):
        self.cn = cn
        self.dir = None
        self.have_cert = False
        self.sasl_done = set()

    def _mkdir(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="mxdtls.")
            atexit.register(shutil.rmtree, self.dir, True)
            readable(self.dir)

    def _setup(self):
        """Make the certificate (once); Skip without openssl."""
        if self.have_cert:
            return
        need_tool("openssl")
        self._mkdir()
        make_cert(self.cert, self.key, self.cn)
        self.have_cert = True

    @property
    def cert(self):
        return os.path.join(self.dir, "cert.pem")

    @property
    def key(self):
        return os.path.join(self.dir, "key.pem")

    def tls_opts(self):
        self._setup()
        return {"tls_cert": self.cert, "tls_key": self.key}

    def fingerprint(self):
        """SHA-256 of the certificate now in cert.pem."""
        return hashlib.sha256(cert_der(self.cert)).hexdigest()

    def sasl_opts(self, app="mxd", mechs=MECHS):
        """Create the sasldb and <app>.conf; the AUTH settings for mxd.
        mechs None: no mech_list (libsasl2 offers every plugin).  Skip
        without saslpasswd2."""
        tool = need_tool("saslpasswd2")
        self._mkdir()
        if "db" not in self.sasl_done:
            db = os.path.join(self.dir, "sasldb2")
            p = subprocess.run([tool, "-p", "-c", "-f", db, "-u", REALM,
                                USER.split("@")[0]],
                               input=(PASSWORD + "\n").encode(),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               timeout=TOOL_TIMEOUT)
            if p.returncode != 0:
                raise AssertionError("saslpasswd2 failed: %s" %
                                     p.stdout.decode("utf-8", "replace"))
            readable(db)
            self.sasl_done.add("db")
        if app not in self.sasl_done:
            with open(os.path.join(self.dir, app + ".conf"), "w") as f:
                f.write("pwcheck_method: auxprop\n"
                        "auxprop_plugin: sasldb\n"
                        "sasldb_path: %s\n%s" %
                        (os.path.join(self.dir, "sasldb2"),
                         "mech_list: %s\n" % mechs if mechs else ""))
            readable(os.path.join(self.dir, app + ".conf"))
            self.sasl_done.add(app)
        return {"auth": "yes", "sasl_app": app,
                "sasl_config_dir": self.dir}


_default_pki = Pki()


def default_pki():
    """The Pki shared by the tests of one file (one certificate)."""
    return _default_pki


# -- the server ---------------------------------------------------------------

class TlsServer(Server):
    """
    mxd with TLS and/or AUTH.  tls=True adds the Pki's certificate;
    sasl=True adds auth=yes and the sasldb; smtps/submission=True open
    those listeners on free loopback ports (self.smtps_port,
    self.submission_port), chosen again on every start attempt.  Other
    keyword arguments are `-o` settings as for Server.
    """

    def __init__(self, tls=True, sasl=False, smtps=False, submission=False,
                 pki=None, sasl_app="mxd", **opts):
        self.pki = pki or default_pki()
        extra = {}
        if tls:
            extra.update(self.pki.tls_opts())
        if sasl:
            extra.update(self.pki.sasl_opts(sasl_app))
        extra.update(opts)
        self.want_smtps = smtps
        self.want_submission = submission
        self.smtps_port = None
        self.submission_port = None
        super().__init__(**extra)

    def command(self, port):
        cmd = super().command(port)
        used = {port}

        def another():
            for _ in range(50):
                p = free_port()
                if p not in used:
                    used.add(p)
                    return p
            raise ServerError("no free port")
        if self.want_smtps:
            self.smtps_port = another()
            cmd += ["-o", "smtps_listen=127.0.0.1:%d" % self.smtps_port]
        if self.want_submission:
            self.submission_port = another()
            cmd += ["-o", "submission_listen=127.0.0.1:%d" %
                    self.submission_port]
        return cmd

    def client(self, **kw):
        return TlsClient(self.port, **kw)

    def smtps(self, **kw):
        """A client on the implicit-TLS port, greeting read."""
        return TlsClient.smtps(self.smtps_port, **kw)

    def submission(self, **kw):
        return TlsClient(self.submission_port, **kw)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def count_log(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for l in self.log_text().splitlines() if rx.search(l))

    def wait_log_count(self, pattern, n, timeout=TIMEOUT):
        """Wait until at least n log lines match pattern."""
        wait_until(lambda: self.count_log(pattern) >= n, timeout,
                   "%d log lines matching %r" % (n, pattern))


class LazyTlsServer:
    """A TlsServer started on first use (like mxdtest.LazyServer)."""

    def __init__(self, **kw):
        self._kw, self._srv = kw, None

    def __getattr__(self, name):
        if self._srv is None:
            srv = TlsServer(**self._kw)
            srv.start()
            self._srv = srv
        elif not self._srv.alive() and not self._srv.stopped:
            raise ServerError("mxd died (exit %r); log:\n%s" %
                              (self._srv.proc.returncode,
                               self._srv.log_tail()))
        return getattr(self._srv, name)


# -- the client ---------------------------------------------------------------

def client_context(minimum=None, maximum=None):
    """A TLS client context that accepts any certificate (self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class _TlsSock:
    """An SSLSocket whose recv() returns b"" at the end of the stream,
    with or without the peer's close_notify, like a plain socket."""

    def __init__(self, s):
        self.ssl = s

    def recv(self, n):
        try:
            return self.ssl.recv(n)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    def __getattr__(self, name):
        return getattr(self.ssl, name)


class TlsClient(Client):
    """mxdtest.Client plus STARTTLS and implicit TLS."""

    tls = None          # the SSLSocket once TLS is on

    def wrap(self, ctx=None):
        """Run the TLS handshake on the connection (bounded by timeout)."""
        if self.buf:
            raise AssertionError("unread plaintext before the handshake: "
                                 "%r" % self.buf)
        self.sock.settimeout(self.timeout)
        s = (ctx or client_context()).wrap_socket(self.sock)
        self.tls = s
        self.sock = _TlsSock(s)
        return s

    def starttls(self, ctx=None):
        """STARTTLS, assert 220 2.0.0, handshake."""
        check(self.cmd("STARTTLS"), 220, "2.0.0", "reply to STARTTLS")
        return self.wrap(ctx)

    @classmethod
    def smtps(cls, port, ctx=None, **kw):
        c = cls(port, greeting=False, **kw)
        try:
            c.wrap(ctx)
            c.greeting = c.reply()
            check(c.greeting, 220, None, "greeting over TLS")
        except BaseException:
            c.close()
            raise
        return c

    def version(self):
        return self.tls.version() if self.tls else None

    def cipher(self):
        return self.tls.cipher()[0] if self.tls else None

    def peer_fingerprint(self):
        return hashlib.sha256(self.tls.getpeercert(binary_form=True)) \
            .hexdigest()

    def peer_der(self):
        return self.tls.getpeercert(binary_form=True)

    def ehlo(self, name="client.test"):
        """EHLO; the keywords (upper case) -> the rest of the line."""
        lines = self.expect("EHLO %s" % name, 250)
        out = {}
        for l in lines[1:]:
            kw, _, rest = l.partition(" ")
            out[kw.upper()] = rest
        return out

    def send_message(self, sender="sender@example.com",
                     rcpts=("rcpt@example.org",), subject="tls test"):
        """A whole transaction; the queue ID."""
        body = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n" %
                (sender, rcpts[0], subject)).encode()
        return self.mail_tx(sender, list(rcpts), body)


# -- SASL client sides ------------------------------------------------------

def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text.encode(), validate=True)


def plain_ir(user=USER, password=PASSWORD, authzid=""):
    """The AUTH PLAIN initial response (RFC 4616)."""
    return b64("%s\0%s\0%s" % (authzid, user, password))


def cram_md5_response(challenge_b64, user=USER, password=PASSWORD):
    """The CRAM-MD5 (RFC 2195) response to a base64 challenge."""
    digest = hmac.new(password.encode(), unb64(challenge_b64),
                      hashlib.md5).hexdigest()
    return b64("%s %s" % (user, digest))


class Scram:
    """The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), no
    channel binding."""

    def __init__(self, user=USER, password=PASSWORD):
        self.user = user.replace("=", "=3D").replace(",", "=2C")
        self.password = password
        self.nonce = secrets.token_urlsafe(18)
        self.bare = "n=%s,r=%s" % (self.user, self.nonce)

    def first(self):
        return b64("n,," + self.bare)

    def final(self, server_first_b64):
        sf = unb64(server_first_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise AssertionError("server nonce does not extend ours: %r" %
                                 sf)
        salt = base64.b64decode(attrs["s"])
        it = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt,
                                     it)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        without = "c=biws,r=%s" % attrs["r"]
        self.auth_message = ("%s,%s,%s" % (self.bare, sf, without)).encode()
        sig = hmac.new(stored, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_sig = hmac.new(skey, self.auth_message,
                                   hashlib.sha256).digest()
        return b64("%s,p=%s" % (without, base64.b64encode(proof).decode()))

    def verify(self, server_final_b64):
        sf = unb64(server_final_b64).decode()
        if sf != "v=" + base64.b64encode(self.server_sig).decode():
            raise AssertionError("bad server signature %r" % sf)


# -- checks of what was stored and logged ------------------------------------

def new_qids(srv, before, n=1, timeout=TIMEOUT):
    """Wait for exactly n new queue files since `before` (a set of queue
    names); their queue IDs."""
    def fresh():
        return sorted(x for x in set(srv.queue_names()) - before
                      if x.endswith(".eml"))
    wait_until(lambda: len(fresh()) >= n, timeout, "%d new message(s)" % n)
    got = fresh()
    assert_eq(len(got), n, "new messages (%r)" % got)
    return [x[:-4] for x in got]


def check_stored(srv, qid, proto, tls=True, auth=None, tls_version=None):
    """
    The stored message's Received: says `with proto`, `(using TLSv1.x
    with cipher ...)` exactly when tls, `(authenticated as USER with
    MECH)` exactly when auth=(MECH or None, USER); X-Mxd-Tls and
    X-Mxd-Auth agree.  Returns the Eml.
    """
    e = srv.eml(qid)
    rt = e.received_text
    assert_in("(mxd) with %s id %s" % (proto, qid), rt, "Received:")
    if tls:
        m = re.search(r"\(using (TLSv1\.[23]) with cipher (\S+) "
                      r"\((\d+)/(\d+) bits\)\)", rt)
        if m is None:
            raise AssertionError("no (using TLSv1.x ...) in %r" % rt)
        if tls_version is not None:
            assert_eq(m.group(1), tls_version, "TLS version in Received:")
        assert_eq(e.field("X-Mxd-Tls"),
                  "%s with cipher %s (%s/%s bits)" % m.group(1, 2, 3, 4),
                  "X-Mxd-Tls")
    else:
        assert "(using" not in rt, "Received: claims TLS: %r" % rt
        assert_eq(e.field_lines("X-Mxd-Tls"), [], "X-Mxd-Tls")
    if auth is not None:
        mech, user = auth
        m = re.search(r"\(authenticated as (\S+) with ([A-Z0-9-]+)\)", rt)
        if m is None:
            raise AssertionError("no (authenticated as ...) in %r" % rt)
        assert_eq(m.group(1), user, "authenticated user in Received:")
        if mech is not None:
            assert_eq(m.group(2), mech, "mechanism in Received:")
        assert_eq(e.field("X-Mxd-Auth"), "%s %s" % (m.group(2), user),
                  "X-Mxd-Auth")
    else:
        assert "authenticated" not in rt, "Received: claims AUTH: %r" % rt
        assert_eq(e.field_lines("X-Mxd-Auth"), [], "X-Mxd-Auth")
    return e


def check_logged(srv, qid, proto, tls=True, auth=None):
    """
    The queued line of qid has proto= (and tls="..." when tls,
    sasl_method/sasl_username when auth), and the same session logged
    `tls client=... TLSv1.x with cipher` and `auth ok ...`.  Returns the
    session ID.
    """
    cipher = r"TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)"
    sasl = ""
    if auth is not None:
        mech, user = auth
        sasl = r" sasl_method=%s sasl_username=%s" % (
            re.escape(mech) if mech else r"[A-Z0-9-]+", re.escape(user))
    m = srv.wait_log(r"s=([0-9a-f]{8}) qid=%s from=<[^>]*> size=\d+ "
                     r"nrcpt=\d+ proto=%s%s%s queued$" % (
                         qid, proto, r' tls="%s"' % cipher if tls else "",
                         sasl))
    sid = m.group(1)
    tls_rx = r"s=%s tls client=\[127\.0\.0\.1\]:\d+ %s$" % (sid, cipher)
    if tls:
        srv.wait_log(tls_rx)
    else:
        assert srv.count_log(tls_rx) == 0, "tls line for a plain session"
    if auth is not None:
        srv.wait_log(r"s=%s auth ok client=\[127\.0\.0\.1\]%s$" % (sid, sasl))
    return sid


def session_of(srv, c):
    """The s=ID the server logged for client c's connection."""
    return srv.session_id(c.sock.getsockname()[1])


def run_tool(argv, input=None, timeout=TOOL_TIMEOUT):
    """Run a client program; (rc, combined output text)."""
    try:
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not finish in %gs; output %r" %
                             (argv[0], timeout, e.output))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def timed_reply(c, line):
    """Send a line; (seconds until its reply, the reply)."""
    t0 = time.monotonic()
    r = c.cmd(line)
    return time.monotonic() - t0, r
