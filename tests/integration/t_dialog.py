#!/usr/bin/env python3
"""
t_dialog.py: the telnet-tutorial dialogues, typed the way a person types
them, against a real mxd.  Every delivery is checked on disk: envelope
lines, the Received: header, the message bytes after it.
"""

import smtplib
import socket

from mxdtest import (LazyServer, Server, Skip, check, queued_qid,
                     simple_message, run_mxd, xtext_decode, assert_eq,
                     assert_in, run)

srv = LazyServer()

EXTENSIONS = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]


def test_greeting():
    """220 greeting names the configured hostname"""
    with srv.client() as c:
        code, lines = c.greeting
        assert_eq(code, 220, "greeting code")
        assert_eq(len(lines), 1, "greeting lines")
        assert_eq(lines[0].split()[0], "mx.test", "greeting host")


def test_helo():
    """HELO gets a one-line 250 with our name and the client's"""
    with srv.client() as c:
        lines = c.expect("HELO client.example", 250)
        assert_eq(len(lines), 1, "HELO reply lines")
        assert_eq(lines[0].split()[0], "mx.test", "HELO reply host")
        assert_in("client.example", lines[0], "HELO reply")
        c.expect("QUIT", 221, "2.0.0")


def test_ehlo_extensions():
    """EHLO lists PIPELINING, SIZE n, 8BITMIME, ENHANCEDSTATUSCODES,
    SMTPUTF8"""
    with srv.client() as c:
        lines = c.expect("EHLO client.example", 250)
        assert_eq(lines[0].split()[0], "mx.test", "EHLO first line")
        kw = [l.split()[0].upper() for l in lines[1:]]
        for ext in EXTENSIONS:
            assert_in(ext, kw, "EHLO keywords")
        size = [l for l in lines[1:] if l.upper().startswith("SIZE")]
        assert_eq(size, ["SIZE 10485760"], "SIZE line (default 10M)")
        assert_eq(len(kw), len(set(kw)), "EHLO keywords are unique")


def test_lowercase_commands_no_brackets():
    """lowercase commands and `mail from:user1@domain.com` without <>"""
    with srv.client() as c:
        c.expect("ehlo client.example", 250)
        c.expect("mail from:user1@domain.com", 250, "2.1.0")
        c.expect("rcpt to:user2@domain.com", 250, "2.1.5")
        check(c.cmd("data"), 354)
        msg = simple_message("lower")
        c.send(msg + b".\r\n")
        qid = queued_qid(c.reply())
        c.expect("quit", 221, "2.0.0")
    e = srv.eml(qid)
    assert_eq(e.field("X-Mxd-Sender"), "<user1@domain.com>", "sender line")
    assert_eq(e.field_lines("X-Mxd-Recipient"), ["<user2@domain.com>"],
              "recipient lines")
    assert_eq(e.body, msg, "stored message")


def test_space_after_colon():
    """`MAIL FROM: <a@b.c>` and `RCPT TO: <d@e.f>` with a space are accepted"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        lines = c.expect("MAIL FROM: <a@b.c>", 250, "2.1.0")
        assert_in("<a@b.c>", lines[0], "sender echoed")
        c.expect("RCPT TO: <d@e.f>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: space\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients), ("a@b.c", ["d@e.f"]), "envelope")


def test_tutorial_message():
    """headers, a blank line, a body: stored byte for byte after Received"""
    msg = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.org>\r\n"
           b"Subject: Hello from telnet\r\n"
           b"\r\n"
           b"Hi Bob,\r\n"
           b"\r\n"
           b"this is a test.\t Tabs and trailing spaces stay.   \r\n"
           b"-- \r\n"
           b"Alice\r\n")
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<alice@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<bob@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        for line in msg.split(b"\r\n")[:-1]:
            c.send(line + b"\r\n")
        c.send(b".\r\n")
        qid = queued_qid(c.reply())
        c.expect("QUIT", 221, "2.0.0")
    e = srv.eml(qid)
    assert_eq(e.qid, qid, "X-Mxd-Queue-Id")
    assert_eq(e.field("X-Mxd-Sender"), "<alice@example.com>", "sender")
    assert_eq(e.field_lines("X-Mxd-Recipient"), ["<bob@example.org>"],
              "recipients")
    assert_eq(e.field("X-Mxd-Helo"), "client.example", "helo")
    assert_in("by mx.test (mxd) with ESMTP id %s" % qid, e.received_text,
              "Received header")
    assert_in("for <bob@example.org>;", e.received_text, "Received for")
    assert_eq(e.body, msg, "stored message")


def test_multiple_recipients():
    """three RCPTs: three X-Mxd-Recipient lines, in order"""
    rcpts = ["one@example.org", "two@example.org", "three@example.net"]
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        qid = c.mail_tx("sender@example.com", rcpts, simple_message("three"))
    e = srv.eml(qid)
    assert_eq(e.field_lines("X-Mxd-Recipient"),
              ["<%s>" % r for r in rcpts], "recipient lines")
    assert_eq(e.field("X-Mxd-Sender"), "<sender@example.com>", "sender")
    assert_eq(e.body, simple_message("three"), "stored message")
    assert "for <" not in e.received_text, e.received_text


def test_two_messages_one_session():
    """two messages in one session: two queue IDs, both on disk"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        m1, m2 = simple_message("first"), simple_message("second", "2\r\n")
        q1 = c.mail_tx("a@example.com", ["b@example.org"], m1)
        q2 = c.mail_tx("c@example.com", ["d@example.org"], m2)
        c.expect("QUIT", 221, "2.0.0")
    assert q1 != q2, "queue IDs must differ"
    e1, e2 = srv.eml(q1), srv.eml(q2)
    assert_eq((e1.sender, e1.recipients, e1.body),
              ("a@example.com", ["b@example.org"], m1), "first message")
    assert_eq((e2.sender, e2.recipients, e2.body),
              ("c@example.com", ["d@example.org"], m2), "second message")


def test_rset():
    """RSET drops the transaction: 250 2.0.0, then a new MAIL is accepted"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<dropped@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<dropped@example.org>", 250, "2.1.5")
        c.expect("RSET", 250, "2.0.0")
        c.expect("DATA", 503, "5.5.1")          # nothing left to send
        m = simple_message("after rset")
        qid = c.mail_tx("kept@example.com", ["kept@example.org"], m)
        c.expect("RSET", 250, "2.0.0")          # outside a transaction too
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("kept@example.com", ["kept@example.org"], m), "message")


def test_noop():
    """NOOP says 250 2.0.0, before and after HELO, with an argument too"""
    with srv.client() as c:
        c.expect("NOOP", 250, "2.0.0")
        c.expect("EHLO client.example", 250)
        c.expect("noop", 250, "2.0.0")
        c.expect("NOOP anything", 250, "2.0.0")


def test_vrfy():
    """VRFY says 252 2.5.0 (never discloses)"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("VRFY postmaster", 252, "2.5.0")
        c.expect("vrfy someone@example.org", 252, "2.5.0")


def test_help_lists_every_command():
    """HELP: 214 with every command's syntax"""
    with srv.client() as c:
        code, lines = c.cmd("HELP")
        check((code, lines), 214, "2.0.0", "HELP")
        text = "\n".join(lines)
        for syntax in ["HELO <your-hostname>", "EHLO <your-hostname>",
                       "MAIL FROM:<sender>", "RCPT TO:<recipient>", "DATA",
                       "RSET", "NOOP", "VRFY <address>", "HELP [command]",
                       "QUIT"]:
            assert_in(syntax, text, "HELP text")
        assert "nc -C" not in text, "CRLF client needs no bare-LF hint"
        c.expect("NOOP", 250, "2.0.0")          # still in step


def test_help_one_command():
    """HELP MAIL explains MAIL in one 214 line; case-insensitive"""
    with srv.client() as c:
        for arg in ["MAIL", "mail"]:
            code, lines = c.cmd("HELP " + arg)
            check((code, lines), 214, "2.0.0", "HELP " + arg)
            assert_eq(len(lines), 1, "HELP MAIL lines")
            assert_in("MAIL FROM:<sender>", lines[0], "HELP MAIL")
            assert "RCPT" not in lines[0], lines
        lines = c.expect("HELP rcpt", 214, "2.0.0")
        assert_in("RCPT TO:<recipient>", lines[0], "HELP RCPT")


def test_help_unknown():
    """HELP FOO is 504 5.5.1"""
    with srv.client() as c:
        c.expect("HELP FOO", 504, "5.5.1")
        c.expect("NOOP", 250, "2.0.0")


def test_quit_closes():
    """QUIT: 221 2.0.0, then the server closes the connection"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("QUIT", 221, "2.0.0")
        assert c.wait_closed(), "connection still open after 221"
        assert_eq(c.buf, b"", "bytes after 221")


def test_quit_in_transaction_keeps_nothing():
    """QUIT in the middle of a transaction stores nothing"""
    before = set(srv.queue_names())
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        c.expect("QUIT", 221, "2.0.0")
        assert c.wait_closed(), "connection still open after 221"
    assert_eq(set(srv.queue_names()), before, "queue")


def test_null_sender():
    """MAIL FROM:<> (a bounce) is accepted and stored as <>"""
    m = simple_message("bounce")
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        lines = c.expect("MAIL FROM:<>", 250, "2.1.0")
        assert_in("<>", lines[0], "null sender echoed")
        c.expect("RCPT TO:<victim@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(m + b".\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq(e.field("X-Mxd-Sender"), "<>", "null sender line")
    assert_eq(e.sender, "", "decoded sender")
    assert_eq(e.body, m, "stored message")


def test_received_with_smtp_after_helo():
    """after HELO the Received header says `with SMTP id QID`"""
    with srv.client() as c:
        c.expect("HELO old.example", 250)
        qid = c.mail_tx("a@example.com", ["b@example.org"],
                        simple_message("helo"))
    e = srv.eml(qid)
    assert_in("by mx.test (mxd) with SMTP id %s" % qid, e.received_text,
              "Received")
    assert e.received.startswith(b"Received: from old.example "), e.received


def test_ehlo_again_resets_transaction():
    """EHLO in a transaction resets it (RFC 5321 4.1.4)"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("EHLO client.example", 250)
        c.expect("RCPT TO:<b@example.org>", 503, "5.5.1")
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")


def test_smtputf8():
    """a UTF-8 address needs SMTPUTF8 (553 5.6.7), then is stored"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<j\u00f6rg@example.com>", 553, "5.6.7")
        c.expect("MAIL FROM:<j\u00f6rg@example.com> SMTPUTF8", 250, "2.1.0")
        c.expect("RCPT TO:<\u00fcser@b\u00fccher.example>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        m = "Subject: gr\u00fc\u00dfe\r\n\r\nh\u00e9llo\r\n".encode()
        c.send(m + b".\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq(e.sender.encode("latin-1").decode("utf-8"),
              "j\u00f6rg@example.com", "decoded sender")
    assert_eq([r.encode("latin-1").decode("utf-8") for r in e.recipients],
              ["\u00fcser@b\u00fccher.example"], "decoded recipients")
    assert_eq(e.body, m, "stored message")


def test_noop_vrfy_help_keep_transaction():
    """NOOP, VRFY and HELP inside a transaction leave it intact"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<keep@example.com>", 250, "2.1.0")
        c.expect("NOOP", 250, "2.0.0")
        c.expect("RCPT TO:<one@example.org>", 250, "2.1.5")
        c.expect("VRFY one", 252, "2.5.0")
        c.expect("HELP DATA", 214, "2.0.0")
        c.expect("RCPT TO:<two@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        m = simple_message("kept")
        c.send(m + b".\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("keep@example.com", ["one@example.org", "two@example.org"], m),
              "message")


def test_long_helo_name():
    """EHLO/HELO with a 255-octet name: 250, every reply line within 512"""
    name = ("a" * 63 + ".") * 3 + "b" * 63
    assert_eq(len(name), 255, "test name length")
    with srv.client() as c:
        lines = c.expect("EHLO " + name, 250)     # the client checks 512
        assert_in("PIPELINING", lines, "EHLO keywords")
        c.expect("HELO " + name, 250)
        qid = c.mail_tx("a@example.com", ["b@example.org"],
                        simple_message("long helo"))
    e = srv.eml(qid)
    assert_eq(e.field("X-Mxd-Helo"), name, "X-Mxd-Helo")
    assert e.received.startswith(b"Received: from " + name.encode() + b" "), \
        e.received


def test_hostile_helo_in_received():
    """a HELO name with ( ) < > ; \\ " cannot break the Received header"""
    helo = 'evil(x);<y>"z"\\w'
    with srv.client() as c:
        c.expect("EHLO " + helo, 250)
        qid = c.mail_tx("a@example.com", ["b@example.org"],
                        simple_message("hostile helo"))
    e = srv.eml(qid)
    first = e.received.split(b"\r\n")[0]
    assert first.startswith(b"Received: from "), first
    from_name = first[len(b"Received: from "):].split(b" ")[0]
    for ch in b'()<>;"\\':
        assert bytes([ch]) not in from_name, first
    assert_in("by mx.test (mxd) with ESMTP id %s" % qid, e.received_text,
              "Received")
    assert_eq(xtext_decode(e.field("X-Mxd-Helo")), helo, "X-Mxd-Helo")
    assert_eq(e.body, simple_message("hostile helo"), "stored message")


def test_envelope_xtext_round_trip():
    """addresses with + = and a quoted space are stored xtext-encoded"""
    sender = "user+tag=x@example.com"
    rcpts = ['"john doe"@example.org', "a+b@example.org"]
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        qid = c.mail_tx(sender, rcpts, simple_message("xtext"))
    e = srv.eml(qid)
    assert_eq(e.field("X-Mxd-Sender"), "<user+2Btag+3Dx@example.com>",
              "X-Mxd-Sender")
    assert_eq(e.field_lines("X-Mxd-Recipient"),
              ['<"john+20doe"@example.org>', "<a+2Bb@example.org>"],
              "X-Mxd-Recipient")
    assert_eq((e.sender, e.recipients), (sender, rcpts), "decoded")
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    assert_eq(rc, 0, "mxd -q")
    block = out[out.index(qid):].splitlines()[:3]
    assert_eq(block[0].split()[-1], "<%s>" % sender, "mxd -q sender")
    assert_eq([l.strip() for l in block[1:]], ["<%s>" % r for r in rcpts],
              "mxd -q recipients")


def test_expn_not_implemented():
    """EXPN is 502 5.5.1"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("EXPN staff", 502, "5.5.1")


class Ipv6Server(Server):
    """A Server that listens on [::1] too, on the same port."""

    def command(self, port):
        return Server.command(self, port) + [
            "-o", "listen=127.0.0.1:%d,[::1]:%d" % (port, port)]


def test_ipv6_session():
    """a session over ::1: EHLO names [::1], the envelope client is [::1]
    and Received: says ([IPv6:::1]) (RFC 5321 4.1.3)"""
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as e:
        raise Skip("no IPv6 loopback: %s" % e)
    m = simple_message("over ipv6")
    with Ipv6Server() as v6:
        v6.wait_log(r"listening on \[::1\]:%d " % v6.port)
        with smtplib.SMTP("::1", v6.port, local_hostname="client.example",
                          timeout=5) as s:
            code, resp = s.ehlo()
            assert_eq(code, 250, "EHLO code")
            assert_in("client.example [::1]", resp.decode().split("\n")[0],
                      "EHLO first line")
            port = s.sock.getsockname()[1]
            s.mail("a@example.com")
            s.rcpt("b@example.org")
            code, resp = s.data(m)
        e = v6.eml(queued_qid((code, [resp.decode()])))
        assert_eq(e.field("X-Mxd-Client"), "[::1]:%d" % port, "X-Mxd-Client")
        assert e.received.startswith(b"Received: from client.example "
                                     b"([IPv6:::1])\r\n"), e.received
        assert_eq(e.body, m, "stored message")


if __name__ == "__main__":
    run(globals())
