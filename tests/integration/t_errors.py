#!/usr/bin/env python3
"""
t_errors.py: commands out of order, bad syntax, bad bytes, limits and
policy: each gets its reply code and enhanced status code, and the
session stays usable afterwards.
"""

import time

from mxdtest import (LazyServer, check, queued_qid, simple_message,
                     assert_eq, assert_in, run)

# Mail for example.org only, at most 3 recipients per message.
srv = LazyServer(domains="example.org", max_recipients=3)


def ehlo(c):
    c.expect("EHLO client.example", 250)


def still_works(c):
    """The session still delivers a message after an error."""
    m = simple_message("still works")
    qid = c.mail_tx("a@example.com", ["b@example.org"], m)
    assert_eq(srv.eml(qid).body, m, "message after the error")


def test_mail_before_helo():
    """MAIL, RCPT, DATA before HELO/EHLO: 503 5.5.1"""
    with srv.client() as c:
        c.expect("MAIL FROM:<a@example.com>", 503, "5.5.1")
        c.expect("RCPT TO:<b@example.org>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        ehlo(c)
        still_works(c)


def test_rcpt_before_mail():
    """RCPT before MAIL: 503 5.5.1"""
    with srv.client() as c:
        ehlo(c)
        c.expect("RCPT TO:<b@example.org>", 503, "5.5.1")
        still_works(c)


def test_data_before_rcpt():
    """DATA before MAIL and before any RCPT: 503 5.5.1"""
    with srv.client() as c:
        ehlo(c)
        c.expect("DATA", 503, "5.5.1")
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("DATA", 503, "5.5.1")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("a@example.com", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n"),
              "stored message")


def test_data_after_only_refused_rcpts():
    """DATA when every RCPT was refused: 503 5.5.1"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<x@elsewhere.test>", 550, "5.7.1")
        c.expect("DATA", 503, "5.5.1")


def test_nested_mail():
    """a second MAIL in a transaction: 503 5.5.1, the first one stands"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<first@example.com>", 250, "2.1.0")
        c.expect("MAIL FROM:<second@example.com>", 503, "5.5.1")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: nested\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("first@example.com", ["b@example.org"],
               b"Subject: nested\r\n\r\nx\r\n"), "stored message")


def test_unknown_command():
    """an unknown verb: 500 5.5.2, then the session goes on"""
    with srv.client() as c:
        c.expect("FOO bar", 500, "5.5.2")
        ehlo(c)
        c.expect("XYZZY", 500, "5.5.2")
        c.expect("MAILFROM:<a@example.com>", 500, "5.5.2")
        still_works(c)


def test_http_request_hangs_up():
    """an HTTP request (a browser aimed at port 25, cross-protocol) gets
    221 2.7.0 and the connection closes at its first line: the SMTP
    commands in its body are never run"""
    for method in ["GET", "POST", "connect"]:
        before = set(srv.queue_names())
        with srv.client() as c:
            c.send(method.encode() + b" / HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: text/plain\r\n\r\nEHLO x\r\n"
                   b"MAIL FROM:<a@example.com>\r\n"
                   b"RCPT TO:<b@example.org>\r\nDATA\r\nhi\r\n.\r\n")
            r = c.reply()
            check(r, 221, "2.7.0", method)
            assert_in("HTTP", r[1][0], "reason")
            assert c.wait_closed(), "open after an HTTP request"
            assert_eq(c.buf, b"", "replies after the 221")
        assert_eq(set(srv.queue_names()), before, "queue")


def test_tls_hello_on_plain_port():
    """a TLS ClientHello where a command should be: 221 2.7.0 saying it
    was TLS (this server has none: no STARTTLS advice), and close,
    instead of a 500 per garbage line (t_tls checks the STARTTLS text)"""
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(range(160))
    with srv.client() as c:
        c.send(hello)
        r = c.reply()
        check(r, 221, "2.7.0")
        assert_in("TLS handshake, and this server has no TLS", r[1][0],
                  "reason")
        assert c.wait_closed(), "open after a ClientHello"


def test_rcpt_colon_syntax_hint():
    """`RCPT: x@y` is 501 5.5.4 and shows `RCPT TO:<address>`"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        for bad in ["RCPT: x@example.org", "RCPT x@example.org",
                    "RCPT TO x@example.org", "RCPT"]:
            lines = c.expect(bad, 501, "5.5.4")
            assert_in("RCPT TO:<address>", lines[0], "hint for %r" % bad)
        c.expect("RCPT TO:<x@example.org>", 250, "2.1.5")


def test_mail_syntax_hint():
    """`MAIL: a@b`, `MAIL a@b`, bare MAIL: 501 5.5.4, `MAIL FROM:<address>`"""
    with srv.client() as c:
        ehlo(c)
        for bad in ["MAIL: a@example.com", "MAIL a@example.com", "MAIL",
                    "MAIL FROM:"]:
            lines = c.expect(bad, 501, "5.5.4")
            assert_in("MAIL FROM:<address>", lines[0], "hint for %r" % bad)
        still_works(c)


def test_helo_needs_name():
    """HELO/EHLO without a name: 501 5.5.4"""
    with srv.client() as c:
        c.expect("HELO", 501, "5.5.4")
        c.expect("EHLO", 501, "5.5.4")
        c.expect("MAIL FROM:<a@example.com>", 503, "5.5.1")


def test_bad_sender_address():
    """MAIL FROM: with a bad address: 501 5.1.7"""
    with srv.client() as c:
        ehlo(c)
        for bad in ["<a@>", "<@example.com>", "<a b@example.com>",
                    "<a@example..com>", "<a@-example.com>", "<a@example.com",
                    "<a..b@example.com>", "<.a@example.com>", "<noatsign>",
                    "<a@exa(mple.com>", "a@b@example.com"]:
            c.expect("MAIL FROM:" + bad, 501, "5.1.7")
        still_works(c)


def test_bad_recipient_address():
    """RCPT TO: with a bad address: 501 5.1.3; <> as recipient too"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        for bad in ["<b@>", "<b@example..org>", "<b c@example.org>", "<>"]:
            c.expect("RCPT TO:" + bad, 501, "5.1.3")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")


def test_address_too_long():
    """a local part over 64 octets or a path over 256: 501 5.1.x"""
    with srv.client() as c:
        ehlo(c)
        code, lines = c.cmd("MAIL FROM:<%s@example.com>" % ("a" * 65))
        assert code == 501 and lines[0].startswith("5.1."), (code, lines)
        code, lines = c.cmd("MAIL FROM:<a@%s.com>" % ".".join(["b" * 60] * 5))
        assert code == 501 and lines[0].startswith("5.1."), (code, lines)
        c.expect("MAIL FROM:<%s@example.com>" % ("a" * 64), 250, "2.1.0")


def test_line_too_long():
    """a 513-octet line: 500 5.5.2; 512 octets with CRLF is fine"""
    with srv.client() as c:
        ehlo(c)
        ok_line = b"NOOP " + b"x" * (512 - 2 - 5)
        assert_eq(len(ok_line + b"\r\n"), 512, "test line length")
        check(c.cmd(ok_line), 250, "2.0.0", "512-octet NOOP")
        check(c.cmd(ok_line + b"x"), 500, "5.5.2", "513-octet NOOP")
        c.expect("NOOP", 250, "2.0.0")
        still_works(c)


def test_very_long_line_one_reply():
    """a 4000-octet line: exactly one 500 5.5.2, then the session works"""
    with srv.client() as c:
        ehlo(c)
        c.send(b"MAIL FROM:<" + b"a" * 4000 + b"@example.com>\r\n")
        check(c.reply(), 500, "5.5.2", "long line")
        c.expect("NOOP", 250, "2.0.0")      # the rest was discarded
        still_works(c)


def test_line_flood_closes_at_once():
    """100 KB on one line: 500, then 421 4.7.0 and the connection closes
    at once (SMTP_LINE_FLOOD), with or without a line end at its end"""
    for tail in (b"", b"\r\n"):
        with srv.client() as c:
            ehlo(c)
            t0 = time.monotonic()
            c.send(b"NOOP " + b"a" * 100000 + tail)
            check(c.reply(), 500, "5.5.2", "long line")
            check(c.reply(), 421, "4.7.0", "flood")
            assert c.wait_closed(3), "still open after the 421"
            assert time.monotonic() - t0 < 3, "closing took too long"
    with srv.client() as c:
        ehlo(c)
        still_works(c)


def test_nul_in_command():
    """a NUL byte in a command: 500 5.5.2, no transaction started"""
    with srv.client() as c:
        ehlo(c)
        check(c.cmd(b"NOOP\x00x"), 500, "5.5.2", "NUL in NOOP")
        check(c.cmd(b"MAIL FROM:<a\x00@example.com>"), 500, "5.5.2",
              "NUL in MAIL")
        c.expect("RCPT TO:<b@example.org>", 503, "5.5.1")
        check(c.cmd(b"MAIL FROM:<a@example.com>\rRCPT TO:<b@example.org>"),
              500, "5.5.2", "bare CR in a command")
        still_works(c)


def test_unknown_mail_parameter():
    """an unknown MAIL parameter: 555 5.5.4; bad values 501 5.5.4"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com> FOO=BAR", 555, "5.5.4")
        c.expect("MAIL FROM:<a@example.com> SIZE=abc", 501, "5.5.4")
        c.expect("MAIL FROM:<a@example.com> BODY=9BIT", 501, "5.5.4")
        c.expect("MAIL FROM:<a@example.com> SIZE=1 SIZE=2", 501, "5.5.4")
        c.expect("MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=100", 250,
                 "2.1.0")
        c.expect("RCPT TO:<b@example.org> NOTIFY=NEVER", 555, "5.5.4")


def test_parameter_replies_name_the_keyword():
    """555/501 for a MAIL/RCPT parameter name the keyword in the reply"""
    with srv.client() as c:
        ehlo(c)
        lines = c.expect("MAIL FROM:<a@example.com> FOO=BAR", 555, "5.5.4")
        assert_in('"FOO"', lines[0], "unknown MAIL parameter reply")
        lines = c.expect("MAIL FROM:<a@example.com> SIZE=abc", 501, "5.5.4")
        assert_in('"SIZE"', lines[0], "bad SIZE reply")
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        lines = c.expect("RCPT TO:<b@example.org> NOTIFY=NEVER", 555, "5.5.4")
        assert_in('"NOTIFY"', lines[0], "unknown RCPT parameter reply")


def test_refused_parameter_logged_whole():
    """a refused MAIL with parameters is logged with the whole command"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com> XLOGME=1 BODY=7BIT", 555, "5.5.4")
    srv.wait_log(r'reject .*reply="555 5\.5\.4 [^"]*' r'(?:"[^"]*"[^"]*)?" '
                 r'command="MAIL FROM:<a@example\.com> XLOGME=1 BODY=7BIT"',
                 timeout=1)


def test_size_too_big():
    """MAIL FROM:<a@b.c> SIZE=999999999999: 552 5.3.4"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c> SIZE=999999999999", 552, "5.3.4")
        c.expect("MAIL FROM:<a@b.c> SIZE=10485761", 552, "5.3.4")
        c.expect("MAIL FROM:<a@b.c> SIZE=10485760", 250, "2.1.0")


def test_size_twenty_digits():
    """SIZE= with 20 digits (RFC 1870: 1*20DIGIT) over the limit: 552 5.3.4"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c> SIZE=99999999999999999999", 552, "5.3.4")


def test_relay_denied():
    """RCPT outside `domains`: 550 5.7.1; <postmaster> is always accepted"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<victim@elsewhere.test>", 550, "5.7.1")
        c.expect("RCPT TO:<x@sub.example.org>", 550, "5.7.1")
        c.expect("RCPT TO:<x@example.org.evil.test>", 550, "5.7.1")
        c.expect("RCPT TO:<@example.org:x@elsewhere.test>", 550, "5.7.1")
        c.expect("rcpt to:<postmaster>", 250, "2.1.5")
        c.expect("RCPT TO:<x@EXAMPLE.ORG>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: pm\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("a@b.c", ["postmaster", "x@EXAMPLE.ORG"],
               b"Subject: pm\r\n\r\nx\r\n"), "stored message")


def test_postmaster_at_hostname():
    """postmaster@<hostname> (any case) is accepted outside `domains`"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<postmaster@mx.test>", 250, "2.1.5")
        c.expect("RCPT TO:<PostMaster@MX.TEST>", 250, "2.1.5")
        c.expect("RCPT TO:<postmaster@elsewhere.test>", 550, "5.7.1")


def test_long_refusal_fits_512():
    """a refused 250-octet UTF-8 recipient: the 550 line fits in 512 octets"""
    label = "\u00fc" * 31                       # 62 octets
    addr = "x@" + ".".join([label] * 4)          # 2 + 4 * 62 + 3 = 253
    assert_eq(len(addr.encode()), 253, "test address length")
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c> SMTPUTF8", 250, "2.1.0")
        c.send(("RCPT TO:<%s>\r\n" % addr).encode())
        raw = c.pending(0.5)
        line = raw.split(b"\n")[0] + b"\n"
        assert line.startswith(b"550 5.7.1 "), raw[:100]
        assert len(line) <= 512, "550 reply line is %d octets" % len(line)


def test_too_many_recipients():
    """with max_recipients=3 the 4th RCPT gets 452 4.5.3; 3 are kept"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        for i in range(3):
            c.expect("RCPT TO:<r%d@example.org>" % i, 250, "2.1.5")
        c.expect("RCPT TO:<r3@example.org>", 452, "4.5.3")
        c.expect("RCPT TO:<r4@example.org>", 452, "4.5.3")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: three\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("a@b.c", ["r0@example.org", "r1@example.org", "r2@example.org"],
               b"Subject: three\r\n\r\nx\r\n"), "stored message")


def test_arguments_refused():
    """DATA x, RSET x: 501 5.5.4; VRFY without argument: 501 5.5.4"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        c.expect("DATA now", 501, "5.5.4")
        c.expect("RSET please", 501, "5.5.4")
        c.expect("VRFY", 501, "5.5.4")
        check(c.cmd("DATA"), 354)   # the transaction survived
        c.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("a@b.c", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n"),
              "stored message")


def test_errors_logged():
    """a refused command is logged with its reply and the command"""
    with srv.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<logged@nowhere.test>", 550, "5.7.1")
    srv.wait_log(r'reject .*reply="550 5\.7\.1 .*command="RCPT '
                 r'TO:<logged@nowhere\.test>"', timeout=1)


if __name__ == "__main__":
    run(globals())
