#!/usr/bin/env python3
"""
t_tls_clients.py: real mail clients over STARTTLS, implicit TLS and AUTH:
Python's smtplib, swaks, curl and `openssl s_client -starttls smtp`.
Each message must be on disk with the right Received: protocol (ESMTPS
or ESMTPSA), the `(using TLSv1.x ...)` comment and, with AUTH, the user
and mechanism; the log must show the session's TLS and AUTH.  A missing
program makes its tests SKIP.
"""

import os
import re
import smtplib
import tempfile

from mxdtest import need_tool, assert_eq, assert_in, run
from tlstest import (LazyTlsServer, USER, PASSWORD, client_context,
                     new_qids, check_stored, check_logged, run_tool)

srv = LazyTlsServer(sasl=True, smtps=True, submission=True,
                    domains="example.org", auth_delay_max=0)

QUEUED_RE = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{16})")


def message(subject):
    return ("From: a@b.c\r\nTo: r@example.org\r\nSubject: %s\r\n\r\n"
            "hello from %s\r\n" % (subject, subject))


def verify(before, proto, mech=None, user=None, qid=None, rcpt=None):
    """One new message; Received:/X-Mxd-* and the log agree on TLS and
    AUTH.  Returns the stored Eml."""
    qids = new_qids(srv, before)
    if qid is not None:
        assert_eq(qids, [qid], "queue ID the client was given")
    auth = (mech, user) if user is not None else None
    e = check_stored(srv, qids[0], proto, tls=True, auth=auth)
    check_logged(srv, qids[0], proto, tls=True, auth=auth)
    if rcpt is not None:
        assert_eq(e.recipients, [rcpt], "recipients")
    return e


# -- Python smtplib -----------------------------------------------------------

def test_smtplib_starttls_login():
    """smtplib: starttls(), login(), sendmail() -> ESMTPSA, TLSv1.3"""
    before = set(srv.queue_names())
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="py.test",
                      timeout=5) as s:
        s.ehlo()
        assert s.has_extn("starttls"), s.esmtp_features
        s.starttls(context=client_context())
        s.ehlo()
        assert_in("PLAIN", s.esmtp_features.get("auth", ""), "AUTH")
        code, text = s.login(USER, PASSWORD)
        assert_eq(code, 235, "login reply (%r)" % text)
        assert_eq(s.sendmail("a@b.c", ["r@example.org"],
                             message("smtplib starttls")), {}, "refused")
    e = verify(before, "ESMTPSA", user=USER)
    assert_in("(using TLSv1.3 with cipher", e.received_text, "Received:")


def test_smtplib_auth_plain():
    """smtplib with AUTH PLAIN forced, after starttls()"""
    before = set(srv.queue_names())
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = USER, PASSWORD
        code, _ = s.auth("PLAIN", s.auth_plain)
        assert_eq(code, 235, "AUTH PLAIN")
        s.sendmail("a@b.c", ["r@example.org"], message("smtplib plain"))
    verify(before, "ESMTPSA", mech="PLAIN", user=USER)


def test_smtplib_smtp_ssl():
    """smtplib.SMTP_SSL on the smtps port, login(), sendmail() -> ESMTPSA"""
    before = set(srv.queue_names())
    with smtplib.SMTP_SSL("127.0.0.1", srv.smtps_port, timeout=5,
                          context=client_context()) as s:
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered on smtps"
        s.login(USER, PASSWORD)
        s.sendmail("a@b.c", ["r@example.org"], message("smtplib smtps"))
    sid = check_logged(srv, verify(before, "ESMTPSA", user=USER).qid,
                       "ESMTPSA", auth=(None, USER))
    srv.wait_log(r"s=%s connect client=\[127\.0\.0\.1\]:\d+ smtps$" % sid)


def test_smtplib_starttls_no_auth():
    """smtplib starttls() without login: ESMTPS; the submission port
    refuses its MAIL with 530 5.7.0"""
    before = set(srv.queue_names())
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        s.starttls(context=client_context())
        s.sendmail("a@b.c", ["r@example.org"], message("smtplib tls"))
    verify(before, "ESMTPS")
    with smtplib.SMTP("127.0.0.1", srv.submission_port, timeout=5) as s:
        s.starttls(context=client_context())
        try:
            s.sendmail("a@b.c", ["r@example.org"], message("no auth"))
        except smtplib.SMTPSenderRefused as e:
            assert_eq(e.smtp_code, 530, "MAIL on submission without AUTH")
            assert e.smtp_error.startswith(b"5.7.0 "), e.smtp_error
        else:
            raise AssertionError("submission accepted mail without AUTH")


# -- swaks ------------------------------------------------------------------

def swaks(*args, port=None, to="r@example.org"):
    tool = need_tool("swaks")
    argv = [tool, "--server", "127.0.0.1:%d" % (port or srv.port),
            "--helo", "swaks.test", "--from", "a@b.c", "--to", to,
            "--timeout", "10"] + list(args)
    rc, out = run_tool(argv)
    assert_eq(rc, 0, "swaks exit status; output:\n%s" % out)
    m = QUEUED_RE.search(out)
    if m is None:
        raise AssertionError("no `queued as` in swaks output:\n%s" % out)
    return m.group(1), out


def swaks_auth(mech, port=None, to="r@example.org"):
    before = set(srv.queue_names())
    qid, out = swaks("--tls", "--auth", mech, "--auth-user", USER,
                     "--auth-password", PASSWORD, "--header",
                     "Subject: swaks %s" % mech, port=port, to=to)
    assert_in("235 2.7.0 Authentication successful", out, "swaks output")
    return verify(before, "ESMTPSA", mech=mech, user=USER, qid=qid,
                  rcpt=to)


def test_swaks_starttls():
    """swaks --tls: ESMTPS, `(using TLSv1.`"""
    before = set(srv.queue_names())
    qid, out = swaks("--tls", "--header", "Subject: swaks tls")
    assert_in("220 2.0.0 Ready to start TLS", out, "swaks output")
    verify(before, "ESMTPS", qid=qid)


def test_swaks_smtps():
    """swaks --tlsc on the smtps port: ESMTPS"""
    before = set(srv.queue_names())
    qid, _ = swaks("--tlsc", "--header", "Subject: swaks tlsc",
                   port=srv.smtps_port)
    verify(before, "ESMTPS", qid=qid)


def test_swaks_auth_plain():
    """swaks --tls --auth PLAIN: ESMTPSA, authenticated as alice@mx.test
    with PLAIN"""
    swaks_auth("PLAIN")


def test_swaks_auth_login():
    """swaks --tls --auth LOGIN: ESMTPSA with LOGIN"""
    swaks_auth("LOGIN")


def test_swaks_auth_cram_md5():
    """swaks --tls --auth CRAM-MD5: ESMTPSA with CRAM-MD5"""
    swaks_auth("CRAM-MD5")


def test_swaks_submission_relay():
    """swaks on the submission port with --tls --auth PLAIN may send to a
    foreign domain"""
    swaks_auth("PLAIN", port=srv.submission_port,
               to="friend@foreign.example")


# -- curl ---------------------------------------------------------------------

def curl(url, subject):
    tool = need_tool("curl")
    fd, path = tempfile.mkstemp(prefix="mxdcurl.", suffix=".eml")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(message(subject))
        before = set(srv.queue_names())
        rc, out = run_tool([tool, "-sS", "--max-time", "10", "-k", url,
                            "--user", "%s:%s" % (USER, PASSWORD),
                            "--mail-from", "a@b.c", "--mail-rcpt",
                            "r@example.org", "-T", path] +
                           (["--ssl-reqd"] if url.startswith("smtp:")
                            else []))
    finally:
        os.unlink(path)
    assert_eq(rc, 0, "curl exit status; output:\n%s" % out)
    return verify(before, "ESMTPSA", user=USER)


def test_curl_starttls():
    """curl --ssl-reqd smtp:// -k --user: STARTTLS and AUTH, ESMTPSA"""
    curl("smtp://127.0.0.1:%d/curl.test" % srv.port, "curl starttls")


def test_curl_smtps():
    """curl smtps:// -k --user: implicit TLS and AUTH, ESMTPSA"""
    curl("smtps://127.0.0.1:%d/curl.test" % srv.smtps_port, "curl smtps")


# -- openssl s_client -------------------------------------------------------

def test_openssl_s_client():
    """openssl s_client -starttls smtp -quiet fed a whole dialogue on
    stdin: 250 queued, 221, ESMTPS"""
    tool = need_tool("openssl")
    before = set(srv.queue_names())
    script = (b"EHLO sclient.test\r\nMAIL FROM:<s@b.c>\r\n"
              b"RCPT TO:<r@example.org>\r\nDATA\r\n"
              b"Subject: s_client\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    rc, out = run_tool([tool, "s_client", "-starttls", "smtp", "-connect",
                        "127.0.0.1:%d" % srv.port, "-quiet"], input=script)
    m = QUEUED_RE.search(out)
    if m is None:
        raise AssertionError("no `queued as` in s_client output (exit "
                             "%d):\n%s" % (rc, out))
    assert_in("221 2.0.0", out, "s_client output")
    e = verify(before, "ESMTPS", qid=m.group(1))
    assert_eq(e.sender, "s@b.c", "sender")
    assert_eq(e.field("X-Mxd-Helo"), "sclient.test", "EHLO name under TLS")


if __name__ == "__main__":
    run(globals())
