#!/usr/bin/env python3
"""
t_addr.py: the RFC 5321 4.1.2 path grammar and internationalised domains
(RFC 6531, IDNA2008), through the real binary.  Raw sockets send what
well-behaved clients refuse to send; smtplib sends SMTPUTF8 mail.
"""

import smtplib

from mxdtest import (LazyServer, check, queued_qid, simple_message, run_mxd,
                     assert_eq, assert_in, run)

anydom = LazyServer()
alabel = LazyServer(domains="xn--bcher-kva.example")
ulabel = LazyServer(domains="b\u00fccher.example")

ULABEL = "b\u00fccher.example"


def expect_501(c, line, esc, *needles):
    code, lines = c.cmd(line)
    check((code, lines), 501, esc, "reply to %r" % (line,))
    for n in needles:
        assert_in(n, lines[0], "reply to %r" % (line,))


def test_postmaster_sender_refused():
    """MAIL FROM:<Postmaster> without a domain, any case, bracketed or
    not, is 501 5.1.7 saying it is only valid as a recipient"""
    with anydom.client() as c:
        c.expect("EHLO client.example", 250)
        for line in ("MAIL FROM:<Postmaster>", "mail from:postmaster",
                     "MAIL FROM: <POSTMASTER>", "MAIL FROM:<postMaster>"):
            expect_501(c, line, "5.1.7", "needs a domain",
                       "only valid as a recipient")
        expect_501(c, "MAIL FROM:<abuse>", "5.1.7", "needs a domain")
        # The recipient form stays valid (RFC 5321 4.1.1.3).
        c.expect("MAIL FROM:<postmaster@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<Postmaster>", 250, "2.1.5")
        c.expect("RCPT TO:postmaster", 250, "2.1.5")
        expect_501(c, "RCPT TO:<abuse>", "5.1.3", "needs a domain")


# (production, RCPT argument, what the 501 must say); None: accepted.
GRAMMAR = [
    ("A-d-l", "<@r1.example,@r2.example:a@b.example>", None),
    ("A-d-l", "<@r1.example,r2.example:a@b.example>", "source route"),
    ("A-d-l", "<@-r.example:a@b.example>", "source route"),
    ("A-d-l", "<@r.example,:a@b.example>", "source route"),
    ("Dot-string", "<a.b+c@b.example>", None),
    ("Dot-string", "<a..b@b.example>", "local part"),
    ("Dot-string", "<a.@b.example>", "local part"),
    ("Dot-string", "<a(b)@b.example>", "local part"),
    ("Quoted-string", '<"a b"@b.example>', None),
    ("Quoted-string", '<"a\\"b"@b.example>', None),
    ("Quoted-string", '<"a"b@b.example>', "quoted local part"),
    ("quoted-pairSMTP", '<"a\\\u00e9"@b.example>', "quoted local part"),
    ("Domain", "<a@b_c.example>", "bad domain"),
    ("Domain", "<a@b.example.>", "bad domain"),
    ("sub-domain", "<a@b-.example>", "bad domain"),
    ("sub-domain", "<a@-b.example>", "bad domain"),
    ("sub-domain", "<a@%s.example>" % ("x" * 64), "bad domain"),
    ("Mailbox", "<a@>", "bad domain"),
    ("IPv4-address-literal", "<a@[192.0.2.1]>", None),
    ("IPv4-address-literal", "<a@[192.0.2.256]>", "address literal"),
    ("IPv6-address-literal", "<a@[IPv6:2001:db8::1]>", None),
    ("IPv6-address-literal", "<a@[IPv6:2001:db8:::1]>", "address literal"),
    ("General-address-literal", "<a@[x-tag:text]>", None),
    ("General-address-literal", "<a@[x-tag:a]b]>", "address literal"),
    ("General-address-literal", "<a@[tag-:text]>", "address literal"),
]


def test_grammar_productions():
    """each RFC 5321 4.1.2/4.1.3 production: valid forms get 250,
    invalid ones 501 5.1.3 naming what was wrong"""
    with anydom.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        for prod, arg, why in GRAMMAR:
            line = ("RCPT TO:" + arg).encode("utf-8")
            r = c.cmd(line)
            if why is None:
                check(r, 250, "2.1.5", "%s: %r" % (prod, arg))
            else:
                check(r, 501, "5.1.3", "%s: %r" % (prod, arg))
                assert_in(why, r[1][0], "%s: %r" % (prod, arg))


def test_utf8_must_be_well_formed():
    """SMTPUTF8 addresses must be UTF-8 (RFC 6531 3.3) and U-labels valid
    IDNA2008, also once normalised (U+037E is ";"); without SMTPUTF8
    non-ASCII is still 553 5.6.7"""
    with anydom.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@client.example> SMTPUTF8", 250, "2.1.0")
        expect_501(c, b"RCPT TO:<j\xf6rg@b.example>", "5.1.3", "UTF-8")
        expect_501(c, b"RCPT TO:<a\xc0\xaf@b.example>", "5.1.3", "UTF-8")
        expect_501(c, "RCPT TO:<a@\u2603.example>", "5.1.3", "IDNA2008")
        # U+037E is ";" after NFC: a U-label that is no domain once
        # normalised (found by fuzz_rcpttable); so is MAIL's, and a
        # recipient table's key (test_addr, test_rcpttable's fuzz seed).
        expect_501(c, "RCPT TO:<a@s\u037et.example>", "5.1.3", "IDNA2008")
        c.expect("RCPT TO:<j\u00f6rg@%s>" % ULABEL, 250, "2.1.5")
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<j\u00f6rg@b.example>", 553, "5.6.7")


def smtputf8_send(srv, rcpt):
    """smtplib with SMTPUTF8; the queue ID of the message."""
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
        s.ehlo("client.example")
        s.mail("sender@client.example", ["SMTPUTF8"])
        code, text = s.rcpt(rcpt)
        assert_eq(code, 250, "RCPT %r: %r" % (rcpt, text))
        code, text = s.data(simple_message("idn"))
        assert_eq(code, 250, "end of data: %r" % text)
        return text.decode().split()[-1]


def test_config_alabel_client_ulabel():
    """domains = xn--bcher-kva.example takes RCPT TO:<info@bücher.example>
    (smtplib, SMTPUTF8); the envelope keeps the U-label the client sent"""
    mark = alabel.log_mark()
    qid = smtputf8_send(alabel, "info@" + ULABEL)
    e = alabel.eml(qid)
    assert_eq([r.encode("latin-1").decode("utf-8") for r in e.recipients],
              ["info@" + ULABEL], "stored recipient")
    alabel.wait_log(r"qid=%s to=<info@b\\xc3\\xbccher\.example>$" % qid,
                    since=mark)  # the client's form, escaped


def test_config_ulabel_client_alabel():
    """domains = bücher.example takes the A-label, any case, and the
    U-label in other case; others are still 550 5.7.1"""
    with ulabel.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@client.example> SMTPUTF8", 250, "2.1.0")
        c.expect("RCPT TO:<info@xn--bcher-kva.example>", 250, "2.1.5")
        c.expect("RCPT TO:<info@XN--BCHER-KVA.Example>", 250, "2.1.5")
        c.expect("RCPT TO:<info@B\u00dcCHER.example>", 250, "2.1.5")
        c.expect("RCPT TO:<info@bucher.example>", 550, "5.7.1")
        check(c.cmd("DATA"), 354)
        c.send(simple_message("alabel") + b".\r\n")
        qid = queued_qid(c.reply())
    e = ulabel.eml(qid)
    assert_eq(e.recipients[0], "info@xn--bcher-kva.example",
              "stored as sent")


def test_postmaster_at_ulabel():
    """postmaster@<U-label of a listed domain> is accepted, both ways"""
    qid = smtputf8_send(alabel, "postmaster@" + ULABEL)
    assert_eq(len(alabel.eml(qid).recipients), 1, "recipients")
    with ulabel.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<Postmaster@xn--bcher-kva.example>", 250, "2.1.5")


def test_config_checks_idna():
    """mxd -t accepts a U-label in domains and refuses invalid IDNA and
    non-domains with a message naming the entry"""
    rc, out, err = run_mxd(["-t", "-o", "domains=b\u00fccher.example"])
    assert_eq(rc, 0, "U-label domains (stderr %r)" % err)
    for bad in ("xn--zzzzz-9.example", "\u2603.example", "a@b.example",
                "s\u037et.example"):
        rc, out, err = run_mxd(["-t", "-o", "domains=" + bad])
        assert rc != 0, "exit 0 for domains=%r" % bad
        assert_in("bad domain '%s' in domains" % bad, err, "stderr")
    rc, out, err = run_mxd(["-t", "-o", "hostname=b\u00fccher.example"])
    assert rc != 0, "exit 0 for a U-label hostname"
    assert_in("xn--bcher-kva.example", err, "A-label suggested")


run(globals())
