#!/usr/bin/env python3
"""
t_pop3_clients.py: real POP3 clients against mxd: poplib with stls()
and POP3_SSL (implicit TLS on pop3s_listen), `openssl s_client
-starttls pop3`, `curl pop3://` (list, retrieve, -X DELE) and
`fetchmail` (into a file through --mda, with --keep and without).  The
STARTTLS-injection defence: what a client pipelines behind STLS in
plaintext is thrown away.  And the configured mode (pop3_auth = sasl):
logins checked by cyrus-sasl against a sasldb, no password before TLS,
a failed login delayed and answered -ERR [AUTH], AUTH PLAIN and
CRAM-MD5, the maildrop of the authenticated user.
"""

import os
import poplib
import socket
import ssl
import subprocess
import tempfile
import time

from mxdtest import (assert_eq, assert_in, need_tool, run, simple_message,
                     TIMEOUT)
from tlstest import (TlsServer, USER, PASSWORD, b64, client_context,
                     cram_md5_response, default_pki, run_tool, unb64)


def send(srv, rcpts, data):
    with srv.client() as c:
        c.expect("EHLO client.test", 250)
        return c.mail_tx("a@example.org", rcpts, data)


def ctx():
    return client_context()


def test_poplib_stls():
    """poplib: STLS offered in CAPA, then the whole session under TLS"""
    with TlsServer(pop3=True, spool_sync="no") as srv:
        send(srv, ["u@x.example"], simple_message("over tls"))
        p = srv.pop3_client()
        assert_in("STLS", p.capa(), "CAPA before TLS")
        p.stls(context=ctx())
        assert "STLS" not in p.capa(), "no STLS under TLS"
        p.user("u@x.example")
        p.pass_("x")
        resp, lines, octets = p.retr(1)
        assert_in(b"Subject: over tls", lines, "the message")
        p.quit()
        srv.wait_log(r"pop3 tls client=\[127.0.0.1\]:\d+ TLSv1\.[23]")


def test_poplib_pop3_ssl():
    """poplib.POP3_SSL on pop3s_listen: implicit TLS, no STLS offered"""
    with TlsServer(pop3=True, pop3s=True, spool_sync="no") as srv:
        send(srv, ["u@x.example"], simple_message("implicit"))
        p = poplib.POP3_SSL("127.0.0.1", srv.pop3s_port, context=ctx(),
                            timeout=TIMEOUT)
        assert p.getwelcome().startswith(b"+OK "), p.getwelcome()
        assert "STLS" not in p.capa(), "STLS on pop3s"
        p.user("u")
        p.pass_("x")
        assert_eq(p.stat()[0], 1, "STAT")
        assert_in(b"Subject: implicit", p.retr(1)[1], "RETR")
        p.quit()


def test_stls_injection():
    """commands pipelined behind STLS in plaintext are discarded, not
    run under TLS (CVE-2011-0411)"""
    with TlsServer(pop3=True, spool_sync="no") as srv:
        s = socket.create_connection(("127.0.0.1", srv.pop3_port),
                                     timeout=TIMEOUT)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"STLS\r\nUSER injected\r\nPASS x\r\n")
        assert_eq(f.readline(), b"+OK Begin TLS negotiation now\r\n", "STLS")
        t = ctx().wrap_socket(s)
        tf = t.makefile("rb")
        t.sendall(b"QUIT\r\n")
        assert_eq(tf.readline(), b"+OK mx.test POP3 server signing off\r\n",
                  "the first reply under TLS is QUIT's")
        t.close()
        srv.wait_log(r"starttls: discarded 23 octets pipelined")
        assert "user=injected" not in srv.log_text(), "injected USER ran"


def test_openssl_s_client():
    """openssl s_client -starttls pop3 logs in and reads STAT"""
    openssl = need_tool("openssl")
    with TlsServer(pop3=True, spool_sync="no") as srv:
        send(srv, ["u@x.example"], simple_message("s_client"))
        p = subprocess.run([openssl, "s_client", "-starttls", "pop3",
                            "-connect", "127.0.0.1:%d" % srv.pop3_port,
                            "-crlf", "-quiet", "-ign_eof"],
                           input=b"USER u\nPASS x\nSTAT\nQUIT\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT * 2)
        out = p.stdout.decode("utf-8", "replace")
        assert_in("+OK Logged in as u; maildrop has 1 message", out, "login")
        assert_in("+OK 1 ", out, "STAT")
        assert_in("signing off", out, "QUIT")


def curl(*args):
    return run_tool([need_tool("curl"), "-sS", "--max-time", "20"] +
                    list(args))


def test_curl():
    """curl pop3://: the list, one message, then -X DELE removes it"""
    with TlsServer(pop3=True, tls=False, spool_sync="no") as srv:
        qid = send(srv, ["u@x.example"], simple_message("curl"))
        base = "pop3://127.0.0.1:%d/" % srv.pop3_port
        rc, out = curl("-u", "u@x.example:x", base)
        assert_eq(rc, 0, "curl list: %s" % out)
        assert out.strip().startswith("1 "), out
        rc, out = curl("-u", "u@x.example:x", base + "1")
        assert_eq(rc, 0, "curl retr: %s" % out)
        assert_in("Subject: curl", out, "curl retr")
        rc, out = curl("-u", "u@x.example:x", "-X", "DELE", "-I",
                       base + "1")
        assert_eq(rc, 0, "curl dele: %s" % out)
        assert_eq(srv.queue_names(), [], "removed by curl's DELE")
        srv.wait_log(r"pop3 disconnect .* deleted=1 ")


def fetchmail(srv, home, keep):
    """Run fetchmail once for user u into home/out; its exit code."""
    tool = need_tool("fetchmail")
    rc_file = os.path.join(home, "fetchmailrc")
    with open(rc_file, "w") as f:
        f.write('poll 127.0.0.1 with proto POP3 port %d\n'
                '  user "u@x.example" there with password "x" is root here\n'
                '  options %s sslproto "" mda "/bin/sh -c \'cat >> %s\'"\n'
                % (srv.pop3_port, "keep" if keep else "nokeep fetchall",
                   os.path.join(home, "out")))
    os.chmod(rc_file, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    p = subprocess.run([tool, "-f", rc_file, "--nosyslog", "--nodetach",
                        "-v"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_fetchmail():
    """fetchmail with keep delivers the message through its MDA and
    leaves it; with nokeep (and fetchall: the message was seen) it
    delivers it again and removes it"""
    home = tempfile.mkdtemp(prefix="mxdtest.fetchmail.")
    with TlsServer(pop3=True, tls=False, spool_sync="no") as srv:
        send(srv, ["u@x.example"], simple_message("fetched"))
        rc, out = fetchmail(srv, home, keep=True)
        assert_eq(rc, 0, "fetchmail --keep:\n%s" % out)
        got = open(os.path.join(home, "out"), "rb").read()
        assert_in(b"Subject: fetched", got, "delivered")
        assert_eq(len(srv.queue_names()), 1, "kept")
        rc, out = fetchmail(srv, home, keep=False)
        assert_eq(rc, 0, "fetchmail:\n%s" % out)
        assert_eq(srv.queue_names(), [], "removed")
        got = open(os.path.join(home, "out"), "rb").read()
        assert_eq(got.count(b"Subject: fetched"), 2, "delivered twice")


def sasl_server(**kw):
    kw.setdefault("auth_delay_max", "0")
    return TlsServer(pop3=True, sasl=True, pop3_auth="sasl",
                     spool_sync="no", **kw)


def test_sasl_no_password_before_tls():
    """pop3_auth = sasl: before STLS no USER in CAPA, and USER gets
    -ERR [AUTH] naming STLS; after it USER and SASL are offered"""
    with sasl_server() as srv:
        p = srv.pop3_client()
        capa = p.capa()
        assert "USER" not in capa and "STLS" in capa, capa
        try:
            p.user(USER)
            raise AssertionError("USER accepted in plaintext")
        except poplib.error_proto as e:
            assert_in("-ERR [AUTH] Passwords in plaintext need TLS here: "
                      "use STLS first", str(e), "USER")
        p.stls(context=ctx())
        capa = p.capa()
        assert "USER" in capa, capa
        assert_in("PLAIN", capa.get("SASL", []), "SASL")
        p.quit()


def test_sasl_user_pass():
    """USER/PASS checked against the sasldb: a wrong password gets -ERR
    [AUTH] and USER must come again; the right one opens the maildrop
    of the authenticated user"""
    with sasl_server() as srv:
        send(srv, [USER], simple_message("for alice"))
        send(srv, ["bob@mx.test"], simple_message("for bob"))
        p = srv.pop3_client()
        p.stls(context=ctx())
        p.user(USER)
        try:
            p.pass_("wrong")
            raise AssertionError("wrong password accepted")
        except poplib.error_proto as e:
            assert_in("-ERR [AUTH] Authentication failed", str(e), "PASS")
        p.user(USER)
        assert_in(b"maildrop has 1 message", p.pass_(PASSWORD), "login")
        assert_in(b"Subject: for alice", p.retr(1)[1], "alice's mail")
        p.quit()
        srv.wait_log(r"pop3 auth failed .* method=USER user=%s" % USER)


def test_sasl_failure_cap():
    """auth_max_failures failed logins end the session with -ERR [AUTH]
    (each failure after its delay), and the log says so"""
    with sasl_server(auth_max_failures="2") as srv:
        p = srv.pop3_client()
        p.stls(context=ctx())
        for n, want in ((1, "-ERR [AUTH] Authentication failed"),
                        (2, "-ERR [AUTH] Too many failed logins; closing")):
            p.user(USER)
            try:
                p.pass_("wrong%d" % n)
                raise AssertionError("wrong password accepted")
            except poplib.error_proto as e:
                assert_in(want, str(e), "failure %d" % n)
        assert_eq(p.file.readline(), b"", "closed after the cap")
        srv.wait_log(r"pop3 disconnect .* reason=auth-failures")


def test_sasl_auth_mechanisms():
    """AUTH PLAIN with an initial response, and CRAM-MD5 with its
    challenge, through libsasl2 (RFC 5034)"""
    with sasl_server() as srv:
        send(srv, [USER], simple_message("auth"))
        p = srv.pop3_client()
        p.stls(context=ctx())
        plain = b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
        assert_in(b"maildrop has 1 message",
                  p._shortcmd("AUTH PLAIN " + plain), "AUTH PLAIN")
        p.quit()
        p = srv.pop3_client()
        p.stls(context=ctx())
        p._putcmd("AUTH CRAM-MD5")
        line, _ = p._getline()
        assert line.startswith(b"+ "), line
        p._putcmd(cram_md5_response(line[2:].decode()))
        assert_in(b"maildrop has 1 message", p._getresp(), "CRAM-MD5")
        p.quit()


def test_sasl_failure_delay():
    """auth_delay_max=2, auth_max_failures=3: the 1st -ERR [AUTH] comes
    no sooner than 1 s after the wrong PASS, the 2nd no sooner than 2 s,
    the 3rd (2 s: the cap of the delay) closes the session"""
    with sasl_server(auth_delay_max="2", auth_max_failures="3") as srv:
        p = srv.pop3_client(timeout=30)
        p.stls(context=ctx())
        waited = []
        for n in (1, 2, 3):
            p.user(USER)
            p._putcmd("PASS wrong%d" % n)
            t0 = time.monotonic()
            line, _ = p._getline()
            waited.append(time.monotonic() - t0)
            want = (b"-ERR [AUTH] Authentication failed" if n < 3 else
                    b"-ERR [AUTH] Too many failed logins; closing")
            assert_eq(line, want, "failure %d" % n)
        assert_eq(p.file.readline(), b"", "closed after the cap")
        for n, (got, least) in enumerate(zip(waited, (1, 2, 2))):
            assert got >= least - 0.1, \
                "failure %d answered after %.2fs, want %ds" % (n + 1, got,
                                                              least)
        srv.wait_log(r"pop3 disconnect .* reason=auth-failures")


if __name__ == "__main__":
    run(globals())
