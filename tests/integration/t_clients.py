#!/usr/bin/env python3
"""
t_clients.py: real SMTP clients against mxd: Python's smtplib, swaks and
curl.  Each message is checked on disk (envelope and body), in the log
(the queue ID on the `from=<...> size=N nrcpt=N` line and on the
disconnect line) and in `mxd -q`.
"""

import email.generator
import email.message
import io
import os
import re
import smtplib
import subprocess
import tempfile

from mxdtest import (LazyServer, Server, need_tool, run_mxd,
                     queued_qid, assert_eq, assert_in, QUEUED_RE, run)

srv = LazyServer()


def check_logged(qid, sender, size, nrcpt, rcpts=()):
    """The queue ID on the queued line (with size and nrcpt), on each
    to= line, and on the session's disconnect line."""
    # Logged before the 250 is sent, so no need to wait long.
    m = srv.wait_log(r"s=(\w+) qid=%s from=<%s> size=(\d+) nrcpt=(\d+)\b"
                     % (qid, re.escape(sender)), timeout=1)
    assert_eq((int(m.group(2)), int(m.group(3))), (size, nrcpt),
              "size and nrcpt logged for " + qid)
    sid = m.group(1)
    for r in rcpts:
        srv.wait_log(r"s=%s qid=%s to=<%s>$" % (sid, qid, re.escape(r)),
                     timeout=1)
    srv.wait_log(r"s=%s disconnect .*qids=([0-9A-F,]*,)?%s(,|$)" % (sid, qid))


def check_listed(qid, sender, rcpts):
    """`mxd -q` lists the message: ID, size (from Received: on, as a
    reader gets it), sender, recipients."""
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    assert_eq(rc, 0, "mxd -q exit status (stderr %r)" % err)
    lines = out.splitlines()
    row = [i for i, l in enumerate(lines) if l.split()[:1] == [qid]]
    assert_eq(len(row), 1, "rows for %s in:\n%s" % (qid, out))
    i = row[0]
    f = lines[i].split()
    e = srv.eml(qid)
    size = len(e.received) + len(e.body)
    assert_eq(int(f[1]), size, "size listed for " + qid)
    assert_eq(f[-1], "<%s>" % sender, "sender listed for " + qid)
    got = [l.strip() for l in lines[i + 1:i + 1 + len(rcpts)]]
    assert_eq(got, ["<%s>" % r for r in rcpts], "recipients listed")


def test_smtplib_sendmail_two_recipients():
    """smtplib.sendmail to two recipients: one message, both recipients"""
    body = (b"From: py@example.com\r\nTo: r1@example.org, r2@example.org\r\n"
            b"Subject: smtplib sendmail\r\n\r\nHello from smtplib.\r\n")
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="py.example",
                      timeout=5) as s:
        refused = s.sendmail("py@example.com",
                             ["r1@example.org", "r2@example.org"], body)
        assert_eq(refused, {}, "refused recipients")
    msgs = [Q for Q, raw in srv.messages().items()
            if b"Subject: smtplib sendmail" in raw]
    assert_eq(len(msgs), 1, "stored copies")
    e = srv.eml(msgs[0])
    assert_eq((e.sender, e.recipients, e.body),
              ("py@example.com", ["r1@example.org", "r2@example.org"], body),
              "stored message")
    assert_eq(e.field("X-Mxd-Helo"), "py.example", "helo")
    check_logged(msgs[0], "py@example.com", len(body), 2,
                 ["r1@example.org", "r2@example.org"])


def test_smtplib_send_message():
    """smtplib.send_message(EmailMessage): stored as smtplib flattened it"""
    msg = email.message.EmailMessage()
    msg["From"] = "Py <py@example.com>"
    msg["To"] = "dest@example.org"
    msg["Subject"] = "send_message test"
    msg.set_content("Line one.\n.Line with a dot.\n\nLast line.\n")
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        refused = s.send_message(msg)
        assert_eq(refused, {}, "refused recipients")
    # What smtplib sends: the message flattened with CRLF line ends.
    buf = io.BytesIO()
    email.generator.BytesGenerator(
        buf, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    want = buf.getvalue()
    msgs = [Q for Q, raw in srv.messages().items()
            if b"Subject: send_message test" in raw]
    assert_eq(len(msgs), 1, "stored copies")
    e = srv.eml(msgs[0])
    assert_eq((e.sender, e.recipients), ("py@example.com",
                                         ["dest@example.org"]), "envelope")
    assert_eq(e.body, want, "stored message")
    assert_in(b"\r\n.Line with a dot.\r\n", e.body, "dot line")


def test_smtplib_reply_qid_logged_and_listed():
    """the queue ID of the 250 is in the log and in `mxd -q`"""
    body = b"Subject: qid check\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        s.ehlo("py.example")
        s.mail("qid@example.com", ["SIZE=%d" % len(body)])
        s.rcpt("one@example.org")
        s.rcpt("two@example.org")
        code, resp = s.data(body)
        qid = queued_qid((code, [resp.decode()]))
    e = srv.eml(qid)
    assert_eq(e.body, body, "stored message")
    check_logged(qid, "qid@example.com", len(body), 2,
                 ["one@example.org", "two@example.org"])
    check_listed(qid, "qid@example.com", ["one@example.org",
                                          "two@example.org"])


def test_smtplib_large_message():
    """a 1 MiB message through smtplib arrives byte for byte"""
    lines = [("%06d " % i).encode() + bytes([33 + i % 90]) * 70 + b"\r\n"
             for i in range(1024 * 1024 // 79)]
    body = b"Subject: large\r\n\r\n" + b"".join(lines)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.ehlo("py.example")
        s.mail("big@example.com")
        s.rcpt("big@example.org")
        code, resp = s.data(body)
        qid = queued_qid((code, [resp.decode()]))
    assert_eq(srv.eml(qid).body == body, True, "large body byte-exact")
    check_logged(qid, "big@example.com", len(body), 1)


def run_tool(argv, timeout=20):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_swaks():
    """swaks --to a@b.c --from x@y.z --body ...: stored, logged, listed"""
    swaks = need_tool("swaks")
    rc, out = run_tool([swaks, "--server", "127.0.0.1:%d" % srv.port,
                        "--to", "a@b.c", "--from", "x@y.z",
                        "--helo", "swaks.example",
                        "--h-Subject", "swaks test",
                        "--body", "Hello from swaks."])
    assert_eq(rc, 0, "swaks exit status; output:\n" + out)
    m = QUEUED_RE.search(out)
    assert m, "no queue ID in swaks output:\n" + out
    qid = m.group(1)
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients), ("x@y.z", ["a@b.c"]), "envelope")
    assert_eq(e.field("X-Mxd-Helo"), "swaks.example", "helo")
    head, sep, text = e.body.partition(b"\r\n\r\n")
    assert_eq(sep, b"\r\n\r\n", "header/body separator")
    for h in [b"Subject: swaks test", b"From: x@y.z", b"To: a@b.c"]:
        assert_in(h, head.split(b"\r\n"), "swaks headers")
    assert text.startswith(b"Hello from swaks.\r\n"), text
    check_logged(qid, "x@y.z", len(e.body), 1, ["a@b.c"])
    check_listed(qid, "x@y.z", ["a@b.c"])


def test_swaks_pipelining_two_recipients():
    """swaks --pipeline with two recipients"""
    swaks = need_tool("swaks")
    rc, out = run_tool([swaks, "--server", "127.0.0.1:%d" % srv.port,
                        "--pipeline", "--to", "p1@b.c,p2@b.c",
                        "--from", "pipe@y.z", "--body", "pipelined"])
    assert_eq(rc, 0, "swaks exit status; output:\n" + out)
    qid = QUEUED_RE.search(out).group(1)
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients), ("pipe@y.z", ["p1@b.c", "p2@b.c"]),
              "envelope")
    assert_in(b"\r\n\r\npipelined\r\n", e.body, "body")


def test_curl():
    """curl smtp:// --mail-from --mail-rcpt -T file: stored byte for byte"""
    curl = need_tool("curl")
    data = (b"From: curl@example.com\r\nTo: a@b.c\r\nSubject: curl test\r\n"
            b"\r\nHello from curl.\r\n.leading dot\r\n.\r\nbye\r\n")
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        f.write(data)
        f.flush()
        rc, out = run_tool([curl, "-sS", "-v",
                            "smtp://127.0.0.1:%d/curl.example" % srv.port,
                            "--mail-from", "curl@example.com",
                            "--mail-rcpt", "a@b.c",
                            "--mail-rcpt", "d@e.f", "-T", f.name])
    assert_eq(rc, 0, "curl exit status; output:\n" + out)
    m = QUEUED_RE.search(out)
    assert m, "no queue ID in curl -v output:\n" + out
    qid = m.group(1)
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("curl@example.com", ["a@b.c", "d@e.f"], data),
              "stored message")
    assert_eq(e.field("X-Mxd-Helo"), "curl.example", "helo")
    check_logged(qid, "curl@example.com", len(data), 2, ["a@b.c", "d@e.f"])
    check_listed(qid, "curl@example.com", ["a@b.c", "d@e.f"])


def test_curl_refused_recipient():
    """curl to a domain mxd does not accept fails with RCPT 550"""
    curl = need_tool("curl")
    with Server(domains="only.test") as s2:
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(b"Subject: no\r\n\r\nno\r\n")
            f.flush()
            rc, out = run_tool([curl, "-sS", "-v",
                                "smtp://127.0.0.1:%d" % s2.port,
                                "--mail-from", "x@y.z", "--mail-rcpt",
                                "a@elsewhere.test", "-T", f.name])
        assert rc != 0, "curl succeeded:\n" + out
        assert_in("550 5.7.1", out, "curl transcript")
        assert_eq(s2.messages(), {}, "queue")


def test_concurrent_smtplib_clients():
    """16 smtplib clients at once: 16 queue IDs, each message intact"""
    import threading
    n = 16
    results, errors = {}, []

    def one(i):
        body = ("Subject: concurrent %d\r\n\r\n%s\r\n" %
                (i, "x" * (i * 37))).encode()
        try:
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
                s.ehlo("c%d.example" % i)
                s.mail("c%d@example.com" % i)
                s.rcpt("r%d@example.org" % i)
                code, resp = s.data(body)
                results[i] = (queued_qid((code, [resp.decode()])), body)
        except Exception as e:          # reported below
            errors.append("client %d: %r" % (i, e))
    threads = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert_eq(errors, [], "client errors")
    assert_eq(len(results), n, "clients that finished")
    qids = [q for q, _ in results.values()]
    assert_eq(len(set(qids)), n, "distinct queue IDs")
    for i, (qid, body) in results.items():
        e = srv.eml(qid)
        assert_eq((e.sender, e.recipients, e.body),
                  ("c%d@example.com" % i, ["r%d@example.org" % i], body),
                  "message of client %d" % i)


def test_queue_list_empty():
    """`mxd -q` on an empty queue says so and exits 0"""
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "queue"))
        rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + d])
        assert_eq((rc, err), (0, ""), "exit status and stderr")
        assert_in("empty", out.lower(), "empty queue listing")


def test_queue_list_null_sender():
    """`mxd -q` lists a bounce with the sender <>"""
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        s.ehlo("py.example")
        s.mail("")
        s.rcpt("bounce@example.org")
        code, resp = s.data(b"Subject: bounce\r\n\r\nx\r\n")
        qid = queued_qid((code, [resp.decode()]))
    check_listed(qid, "", ["bounce@example.org"])


def test_queue_list_missing_spool():
    """`mxd -q` on a spool without queue/ fails with a message"""
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = run_mxd(["-q", "-o",
                                "spool_dir=" + os.path.join(d, "nope")])
        assert rc != 0, "exit status 0"
        assert_in("nope", err, "stderr")


if __name__ == "__main__":
    run(globals())
