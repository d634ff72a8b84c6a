#!/usr/bin/env python3
"""
t_rcpt_table.py: recipient_table through the real binary.  RCPT takes a
table's users, aliases, catch-alls and +tagged addresses and refuses
everyone else of a listed domain with 550 5.1.1 (mxd cannot bounce, so
it must refuse in the session); the postmaster is always taken; SIGHUP
reloads the table, and a bad table on reload keeps the old one; `mxd -t`
refuses a bad table with file and line; `mxd -t rcpt ADDRESS` explains
each decision and exits 0 or 1.
"""

import atexit
import os
import re
import shutil
import signal
import smtplib
import tempfile

from mxdtest import (Server, check, simple_message, run_mxd, assert_eq,
                     assert_in, wait_until, run)

_tmp = tempfile.mkdtemp(prefix="mxdtest.rcpt.")
os.chmod(_tmp, 0o755)       # started as root, mxd reads it as nobody
atexit.register(shutil.rmtree, _tmp, True)

DOMAINS = "example.test other.test"
TABLE = """# users
bob@example.test
carol@example.test
# aliases
sales@example.test   bob@example.test, carol
# a catch-all
@other.test          carol@example.test
"""


def table(name, text):
    """Write a recipient table in the scratch directory; its path."""
    path = os.path.join(_tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def server(path, **kw):
    return Server(domains=DOMAINS, recipient_table=path,
                  recipient_delimiter="+", **kw)


def rcpt(c, addr):
    """MAIL (once per call) and RCPT TO:<addr>; the RCPT reply."""
    c.cmd("RSET")
    check(c.cmd("MAIL FROM:<a@sender.test>"), 250, "2.1.0")
    return c.cmd("RCPT TO:<%s>" % addr)


def log_count(srv, pattern):
    rx = re.compile(pattern)
    return sum(1 for l in srv.log_text().splitlines() if rx.search(l))


def test_rcpt_decisions():
    """users, alias, catch-all, +tag and postmaster get 250; an unknown
    user 550 5.1.1 naming the address; another domain still 550 5.7.1"""
    with server(table("t1", TABLE)) as srv, srv.client() as c:
        c.expect("EHLO client.test", 250)
        for a in ("bob@example.test", "Carol@Example.Test",
                  "sales@example.test", "anyone@other.test",
                  "bob+news@example.test", "postmaster@example.test",
                  "postmaster@other.test", "Postmaster"):
            check(rcpt(c, a), 250, "2.1.5", "RCPT %s" % a)
        for a in ("nobody@example.test", "nobody+bob@example.test",
                  "bobby@example.test", "+bob@example.test"):
            r = check(rcpt(c, a), 550, "5.1.1", "RCPT %s" % a)
            assert_in("<%s>" % a, r[1][0], "the 550 names the address")
        check(rcpt(c, "bob@elsewhere.test"), 550, "5.7.1")
        srv.wait_log(r"reply=\"550 5\.1\.1 .*nobody@example\.test")


def test_smtplib_unknown_user():
    """smtplib: a message to a user and an unknown one is queued for the
    user only; the unknown one is refused with 550 at RCPT"""
    with server(table("t2", TABLE)) as srv:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
            refused = s.sendmail("a@sender.test", ["bob+x@example.test",
                                                   "ghost@example.test"],
                                 simple_message("hi"))
        assert_eq(list(refused), ["ghost@example.test"], "refused")
        assert_eq(refused["ghost@example.test"][0], 550, "code")
        msgs = srv.messages()
        assert_eq(len(msgs), 1, "messages queued")
        body = list(msgs.values())[0]
        assert_in(b"bob+x@example.test", body, "the recipient as given")
        assert b"ghost@" not in body, "the refused recipient is not kept"


def test_no_table_unchanged():
    """without recipient_table every local part of a listed domain is
    accepted, as before"""
    with Server(domains=DOMAINS) as srv, srv.client() as c:
        c.expect("EHLO client.test", 250)
        check(rcpt(c, "whoever@example.test"), 250, "2.1.5")
        check(rcpt(c, "bob@elsewhere.test"), 550, "5.7.1")


def test_reload():
    """SIGHUP: a user added to the table is accepted; a malformed table
    is refused with file:line and the old table stays in force"""
    path = table("t3", TABLE)
    with server(path) as srv, srv.client() as c:
        c.expect("EHLO client.test", 250)
        check(rcpt(c, "dave@example.test"), 550, "5.1.1")
        with open(path, "a") as f:
            f.write("dave@example.test\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: log_count(srv, r"recipient_table .*: 3 users")
                   >= 1, what="the reload's table line")
        check(rcpt(c, "dave@example.test"), 250, "2.1.5")
        with open(path, "a") as f:
            f.write("erin@example.test\nbroken line here\n")
        srv.proc.send_signal(signal.SIGHUP)
        m = srv.wait_log(r"reload failed, keeping the running "
                         r"configuration: (.*)")
        assert_in("%s:10:" % path, m.group(1), "the reload's error")
        check(rcpt(c, "dave@example.test"), 250, "2.1.5")
        check(rcpt(c, "erin@example.test"), 550, "5.1.1")
        check(rcpt(c, "bob@example.test"), 250, "2.1.5")


def test_check_malformed():
    """mxd -t refuses a malformed table, an alias loop, a key outside
    domains and a missing file, naming the file and line"""
    cases = [("bob@example.test\nbob\n", ":2: 'bob' is not an address"),
             ("a@example.test b@example.test\nb@example.test a\n",
              ":1: a@example.test: alias loop"),
             ("x@example.test y@example.test\n", ":1: x@example.test: "
              "y@example.test is not in the table"),
             ("\nbob@example.test\nbob@EXAMPLE.test\n",
              ":3: bob@EXAMPLE.test is already listed on line 2"),
             ("joe@nowhere.test\n", ":1: joe@nowhere.test: its domain is "
              "not in domains")]
    for i, (text, want) in enumerate(cases):
        path = table("bad%d" % i, text)
        rc, out, err = run_mxd(["-t", "-o", "domains=" + DOMAINS,
                                "-o", "recipient_table=" + path])
        assert_eq(rc, 1, "exit status for %r (stderr %r)" % (text, err))
        assert_in(path + want, err, "stderr of mxd -t")
    rc, out, err = run_mxd(["-t", "-o", "recipient_table=" +
                            os.path.join(_tmp, "missing")])
    assert_eq(rc, 1, "exit status for a missing table")
    assert_in("missing: No such file", err, "stderr")
    rc, out, err = run_mxd(["-t", "-o", "domains=" + DOMAINS, "-o",
                            "recipient_table=" + table("good", TABLE)])
    assert_eq((rc, err), (0, ""), "a good table passes -t")


def explain(addr, path):
    return run_mxd(["-t", "rcpt", addr, "-o", "domains=" + DOMAINS,
                    "-o", "recipient_table=" + path,
                    "-o", "recipient_delimiter=+"])


def test_t_rcpt():
    """mxd -t rcpt names the table line, the +tag, the alias expansion,
    the catch-all, the postmaster rule and relay; exit 0 or 1"""
    path = table("t4", TABLE)
    rc, out, err = explain("bob+news@example.test", path)
    assert_eq(rc, 0, "exit status (stderr %r)" % err)
    assert_in('bob@example.test (without the tag "news"', out, "tag")
    assert_in("%s:2" % path, out, "the line")
    assert_in("delivered to: bob@example.test\n", out, "mailbox")
    rc, out, err = explain("<sales@example.test>", path)
    assert_eq(rc, 0, "exit status")
    assert_in("sales@example.test: an alias, %s:5" % path, out, "alias")
    assert_in("delivered to: bob@example.test, carol@example.test\n", out,
              "expansion")
    rc, out, err = explain("who@other.test", path)
    assert_eq(rc, 0, "exit status")
    assert_in("@other.test: the catch-all of its domain, an alias, %s:7"
              % path, out, "catch-all")
    rc, out, err = explain("who@example.test", path)
    assert_eq(rc, 1, "exit status for an unknown user")
    assert_in("refused: 550 5.1.1", out, "verdict")
    rc, out, err = explain("postmaster@other.test", path)
    assert_eq(rc, 0, "exit status for the postmaster")
    assert_in("RFC 5321 4.5.1", out, "postmaster rule")
    rc, out, err = explain("who@elsewhere.test", path)
    assert_eq(rc, 1, "exit status for another domain")
    assert_in("refused: 550 5.7.1: relay access denied", out, "relay")
    rc, out, err = run_mxd(["-t", "rcpt", "who@example.test"])
    assert_eq(rc, 0, "the built-in sink takes any address")
    assert_in("no recipient_table", out, "why")
    rc, out, err = run_mxd(["-t", "rcpt", "who@example.test", "-o",
                            "domains=" + DOMAINS, "-o", "recipient_table=" +
                            path, "-o", "recipient_check=none"])
    assert_eq(rc, 0, "recipient_check = none takes any local part")
    assert_in("recipient_check = none", out, "why")


if __name__ == "__main__":
    run(globals())
