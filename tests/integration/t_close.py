"""
t_close.py: every byte mxd produced reaches the client before the
connection ends, on every transport (plain, STARTTLS, implicit TLS) and on
every closing path, and a TLS connection ends with close_notify.

A client that pipelines a whole dialogue (EHLO ... DATA, the message, `.`,
QUIT in one write) must hear its `250 ... queued as` and `221` even while
the spool answers from another thread; a client that pipelined more than
mxd reads before closing (past a QUIT or a 421) must still get the last
reply, not a reset.  Each conversation here is one write, then reading to
the end of the stream: a TLS end without close_notify (SSLEOFError) or a
reset (ECONNRESET) fails the test.
"""

import socket
import ssl
import subprocess
import threading
import time

from mxdtest import (QUEUED_RE, Skip, TIMEOUT, assert_eq, assert_in,
                     need_tool, run)
from tlstest import TlsServer, client_context, default_pki

SESSIONS = 80           # as in the report: 80 sessions, 8 at a time
PARALLEL = 8
READ_LIMIT = 30.0       # one conversation, start to end of stream

DIALOGUE = (b"EHLO close.test\r\nMAIL FROM:<s@b.example>\r\n"
            b"RCPT TO:<r@example.org>\r\nDATA\r\n"
            b"Subject: close %d\r\n\r\nhello\r\n.\r\nQUIT\r\n")


class Reset(AssertionError):
    """The stream did not end cleanly."""


def read_to_end(sock, deadline):
    """Everything the peer sends until its clean end of stream; raise
    Reset on ECONNRESET or a TLS end without close_notify."""
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no end of stream within %gs; got %r" %
                                 (READ_LIMIT, got[-200:]))
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            raise Reset("connection reset after %r" % got[-200:])
        except ssl.SSLEOFError:
            raise Reset("TLS ended without close_notify after %r" %
                        got[-200:])
        if not data:
            return got
        got += data


def read_line(sock, deadline):
    """One reply line of the plaintext phase, octet by octet (so that
    nothing after it is consumed before a TLS handshake)."""
    line = b""
    while not line.endswith(b"\r\n"):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        c = sock.recv(1)
        if not c:
            raise AssertionError("EOF in %r" % line)
        line += c
    return line


def read_reply(sock, deadline):
    """A whole (multi-line) reply of the plaintext phase."""
    lines = [read_line(sock, deadline)]
    while lines[-1][3:4] == b"-":
        lines.append(read_line(sock, deadline))
    return b"".join(lines)


def tls_wrap(sock):
    return client_context().wrap_socket(sock, suppress_ragged_eofs=False)


def open_session(port, mode, deadline):
    """A connection past the greeting (and the STARTTLS handshake) for
    mode plain, starttls or smtps."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        if mode == "smtps":
            sock = tls_wrap(sock)
        greeting = read_reply(sock, deadline)
        if not greeting.startswith(b"220"):
            raise AssertionError("greeting %r" % greeting)
        if mode == "starttls":
            sock.sendall(b"EHLO close.test\r\n")
            read_reply(sock, deadline)
            sock.sendall(b"STARTTLS\r\n")
            r = read_reply(sock, deadline)
            if not r.startswith(b"220"):
                raise AssertionError("STARTTLS: %r" % r)
            sock = tls_wrap(sock)
    except BaseException:
        sock.close()
        raise
    return sock


def converse(port, mode, payload):
    """Open a session, send payload in one write, read to the end."""
    deadline = time.monotonic() + READ_LIMIT
    sock = open_session(port, mode, deadline)
    try:
        sock.sendall(payload)
        return read_to_end(sock, deadline)
    finally:
        sock.close()


def many(port, mode):
    """SESSIONS pipelined dialogues, PARALLEL at a time; the list of
    (index, transcript or the exception)."""
    results = [None] * SESSIONS
    lock = threading.Lock()
    todo = list(range(SESSIONS))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            try:
                results[i] = converse(port, mode, DIALOGUE % i)
            except Exception as e:      # noqa: reported below
                results[i] = e
    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(READ_LIMIT * SESSIONS / PARALLEL + 30)
    return results


def check_many(srv, mode):
    """Every pipelined client heard 250 and 221 and a clean end; each
    of their queue IDs is in the queue, and nothing else is."""
    before = set(srv.queue_names())
    results = many(srv.smtps_port if mode == "smtps" else srv.port, mode)
    bad, qids = [], set()
    for i, r in enumerate(results):
        if not isinstance(r, bytes):
            bad.append("session %d: %r" % (i, r))
            continue
        m = QUEUED_RE.search(r.decode("ascii", "replace"))
        if m is None or b"\r\n221 2.0.0" not in r:
            bad.append("session %d: no 250/221 in %r" % (i, r[-300:]))
            continue
        qids.add(m.group(1))
    if bad:
        raise AssertionError("%d of %d clients lost replies or a clean "
                             "end:\n%s" % (len(bad), SESSIONS,
                                           "\n".join(bad[:10])))
    new = {n[:-4] if n.endswith(".eml") else n
           for n in set(srv.queue_names()) - before}
    assert_eq(new, qids, "queued messages vs the queue IDs clients heard")


def server(**opts):
    return TlsServer(smtps=True, **opts).start()


_servers = {}


def srv_for(sync):
    if sync not in _servers:
        _servers[sync] = server(spool_sync=sync)
    return _servers[sync]


def test_starttls_pipelined_sync_no():
    """80 STARTTLS sessions (8 at a time) pipeline EHLO..QUIT in one TLS
    write, spool_sync=no: all hear 250 and 221 and close_notify"""
    check_many(srv_for("no"), "starttls")


def test_starttls_pipelined_sync_yes():
    """The same with spool_sync=yes (group commit on the I/O thread)"""
    check_many(srv_for("yes"), "starttls")


def test_smtps_pipelined():
    """The same over implicit TLS, both sync modes"""
    check_many(srv_for("no"), "smtps")
    check_many(srv_for("yes"), "smtps")


def test_plain_pipelined():
    """The same in plaintext: 250, 221, then a clean FIN"""
    check_many(srv_for("no"), "plain")
    check_many(srv_for("yes"), "plain")


def test_openssl_s_client_many():
    """40 `openssl s_client -starttls smtp -quiet` runs fed the dialogue
    on stdin: every one prints 250 and 221 and no `unexpected eof`"""
    tool = need_tool("openssl")
    srv = srv_for("no")
    outs = [None] * 40

    def one(i):
        p = subprocess.run([tool, "s_client", "-starttls", "smtp",
                            "-connect", "127.0.0.1:%d" % srv.port,
                            "-quiet"], input=DIALOGUE % i,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=READ_LIMIT)
        outs[i] = p.stdout.decode("utf-8", "replace")
    for start in range(0, 40, PARALLEL):
        ts = [threading.Thread(target=one, args=(i,))
              for i in range(start, start + PARALLEL)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(READ_LIMIT + 10)
    bad = [i for i, o in enumerate(outs) if o is None or
           QUEUED_RE.search(o) is None or "221 2.0.0" not in o or
           "unexpected eof" in o]
    if bad:
        raise AssertionError("%d of 40 s_client runs lost a reply or the "
                             "close_notify; e.g.:\n%s" % (len(bad),
                                                          outs[bad[0]]))


# -- each closing path, plain and implicit TLS, with bytes left unread --

TAIL = b"NOOP\r\n" * 20000          # 120 000 octets mxd never reads


def closing(srv, mode, payload, want):
    """Send payload and a tail mxd will not read; the transcript must
    contain want and end cleanly (FIN or close_notify, no reset)."""
    port = srv.smtps_port if mode == "smtps" else srv.port
    out = converse(port, mode, payload + TAIL)
    assert_in(want, out, "%s transcript end %r" % (mode, out[-200:]))
    return out


def test_quit_with_tail():
    """QUIT with more pipelined behind it: 221 and a clean end"""
    srv = srv_for("no")
    for mode in ("plain", "smtps"):
        closing(srv, mode, b"EHLO x\r\nQUIT\r\n", b"221 2.0.0")


def test_too_many_errors_with_tail():
    """max_errors reached mid-pipeline: 421 4.7.0 and a clean end"""
    srv = server(max_errors=3)
    for mode in ("plain", "smtps"):
        closing(srv, mode, b"BOGUS\r\n" * 5, b"421 4.7.0")


def test_line_flood_closes():
    """A command line far past the limit with no line end: 500, then the
    connection closes (nobody types that) with a clean end"""
    srv = srv_for("no")
    for mode in ("plain", "smtps"):
        out = converse(srv.smtps_port if mode == "smtps" else srv.port,
                       mode, b"X" * 100000)
        assert_in(b"500 5.5.2", out, "reply to the flood")


def test_timeout_clean_end():
    """command_timeout: 421 4.4.2, then a clean end on both transports"""
    srv = server(command_timeout=1)
    for mode in ("plain", "smtps"):
        deadline = time.monotonic() + READ_LIMIT
        sock = open_session(srv.smtps_port if mode == "smtps" else
                            srv.port, mode, deadline)
        try:
            out = read_to_end(sock, deadline)
        finally:
            sock.close()
        assert_in(b"421 4.4.2", out, "%s timeout reply" % mode)


def test_shutdown_clean_end():
    """SIGTERM: idle sessions get 421 4.3.2 and a clean end"""
    srv = server()
    deadline = time.monotonic() + READ_LIMIT
    socks = [open_session(srv.port, "plain", deadline),
             open_session(srv.smtps_port, "smtps", deadline)]
    try:
        srv.terminate()
        for sock in socks:
            assert_in(b"421 4.3.2", read_to_end(sock, deadline),
                      "reply at shutdown")
    finally:
        for sock in socks:
            sock.close()
    assert_eq(srv.stop(), 0, "exit status")


def test_auth_failures_clean_end():
    """Too many failed AUTHs: 421 4.7.0 and a clean end, over TLS"""
    try:
        srv = TlsServer(sasl=True, smtps=True, auth_max_failures=2,
                        auth_delay_max=0).start()
    except Skip:
        raise
    bad = b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n"     # alice / wrong
    closing(srv, "smtps", b"EHLO x\r\n" + bad * 3, b"421 4.7.0")


if __name__ == "__main__":
    default_pki()
    run(globals())
