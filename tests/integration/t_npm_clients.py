#!/usr/bin/env python3
"""
t_npm_clients.py: test code written for Mailpit and for MailHog runs
against mxd unchanged.  tests/web/clients.cjs drives the npm client
libraries people use (mailpit-api, mailhog; pinned in
tests/web/package.json and installed into build/npm by the README's test
command) against mxd's HTTP port: list, page, search, get, headers, raw,
attachment, HTML and text views, read state, wait for a message sent
meanwhile, delete by ID, by search and all.  Python's smtplib sends the
mail, as an application would.  One TAP line per check of the suites.
"""

import json
import os
import shutil
import smtplib
import subprocess
import threading

from mxdtest import Server, Skip, assert_eq, free_port, run
from mxdtest.http import wait_total

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS_JS = os.path.join(HERE, "..", "web", "clients.cjs")
SUITE_TIMEOUT = 240         # a safety bound for one suite, not a speed test

INVOICE = bytes((i * 7 + 3) & 0xff for i in range(4096))
results = {}                # (suite, check name) -> (ok, detail)
ran = {}                    # suite -> {"done": bool, "srv": Server}


def welcome():
    return (b"From: Shop <app@shop.example>\r\nTo: alice@example.test\r\n"
            b"Subject: Welcome Alice\r\nMessage-ID: <w1@shop.example>\r\n"
            b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Hello Alice, your code is 123456.\r\n")


def invoice():
    import base64
    b64 = base64.encodebytes(INVOICE).replace(b"\n", b"\r\n")
    return (b"From: Billing <app@shop.example>\r\nTo: bob@example.test\r\n"
            b"Cc: carol@example.test\r\n"
            b"Subject: =?utf-8?b?SW52b2ljZSDDqXTDqQ==?=\r\n"
            b"Message-ID: <i1@shop.example>\r\n"
            b"Date: Sun, 29 Nov 2026 10:01:00 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Your invoice is attached.\r\n"
            b"--b1\r\nContent-Type: application/pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
            b"\r\n" + b64 + b"--b1--\r\n")


def reset():
    return (b"From: Shop <app@shop.example>\r\nTo: alice@example.test\r\n"
            b"Subject: Reset password\r\nMessage-ID: <r1@shop.example>\r\n"
            b"Date: Sun, 29 Nov 2026 10:02:00 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n"
            b"<p>Reset it <a href=\"https://shop.example/reset?t=abc\">here"
            b"</a>.</p>\r\n")


def late():
    return (b"From: Shop <app@shop.example>\r\nTo: dave@example.test\r\n"
            b"Subject: Late\r\n\r\nsent while the test waits\r\n")


def send(srv, rcpts, data):
    """Send one message as an application would; its queue ID."""
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("app@shop.example")
        for r in rcpts:
            s.rcpt(r)
        code, reply = s.data(data)
    assert_eq(code, 250, "DATA reply")
    return reply.decode().rsplit(" ", 1)[1]


def npm_dir():
    """MXD_NPM_DIR with both clients, or Skip (a failure in CI)."""
    d = os.environ.get("MXD_NPM_DIR", "")
    ok = shutil.which("node") and d and all(
        os.path.isdir(os.path.join(d, p)) for p in ("mailpit-api", "mailhog"))
    if not ok:
        why = "node or the npm clients missing (MXD_NPM_DIR=%r)" % d
        if os.environ.get("MXD_REQUIRE_NPM"):
            raise AssertionError(why + "; contrib/dev.sh test installs them")
        raise Skip(why)
    return d


def run_suite(suite):
    """Start mxd, send the three messages, run one client suite."""
    modules = npm_dir()
    http_port = free_port()
    srv = Server(domains="example.test",
                 http_listen="127.0.0.1:%d" % http_port).start()
    ran[suite] = {"srv": srv, "done": False}
    ids = {"welcome": send(srv, ["alice@example.test"], welcome()),
           "invoice": send(srv, ["bob@example.test", "carol@example.test"],
                           invoice()),
           "reset": send(srv, ["alice@example.test"], reset())}
    # The suites start by listing all three: wait until the index has
    # them (visible after the 250, not at it; a loaded machine lags).
    wait_total(http_port, 3)
    env = dict(os.environ, NODE_PATH=modules, SUITE=suite,
               MXD_URL="http://127.0.0.1:%d" % http_port)
    p = subprocess.Popen(["node", CLIENTS_JS], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, bufsize=1)
    timer = threading.Timer(SUITE_TIMEOUT, p.kill)
    timer.start()
    try:
        p.stdin.write(json.dumps(ids) + "\n")
        p.stdin.flush()
        for line in p.stdout:
            word, _, rest = line.rstrip("\n").partition(" ")
            if word == "CHECK":
                c = json.loads(rest)
                results[(suite, c["name"])] = (c["ok"], c.get("detail"))
                if not c["ok"]:
                    print("# %s: %s: %s" % (suite, c["name"],
                                            json.dumps(c.get("detail"))[:1500]))
            elif word == "SEND":
                qid = send(srv, ["dave@example.test"], late())
                p.stdin.write("SENT %s\n" % qid)
                p.stdin.flush()
            elif word == "DONE":
                ran[suite]["done"] = True
    finally:
        timer.cancel()
        p.stdin.close()
        err = p.stderr.read()
        p.wait(timeout=30)
    if err.strip():
        print("# node stderr: " + err.strip()[:2000].replace("\n", "\n# "))
    assert ran[suite]["done"], "%s suite stopped early" % suite


def test_mailpit_suite_runs():
    """the mailpit-api suite runs to its end against mxd"""
    run_suite("mailpit")


def test_mailhog_suite_runs():
    """the mailhog suite runs to its end against mxd"""
    run_suite("mailhog")


def test_spool_empty_after_delete_all():
    """what the clients deleted is gone from the spool (queue/ empty)"""
    if not ran:
        raise Skip("no suite ran")
    for suite, r in ran.items():
        assert_eq(r["srv"].queue_names(), [], "%s: queue/" % suite)


def case(suite, name):
    """A test case for one check of a suite."""
    def fn():
        if suite not in ran:
            raise Skip("suite did not run")
        assert (suite, name) in results, "not reached"
        ok, detail = results[(suite, name)]
        assert ok, json.dumps(detail)[:3000]
    fn.__doc__ = "%s: %s" % (suite, name)
    return fn


CHECKS = {
    "mailpit": [
        "listMessages: three, newest first",
        "listMessages(start, limit) pages", "searchMessages to:",
        "searchMessages subject phrase", "searchMessages has:attachment",
        "searchMessages free text and negation",
        "getMessageSummary marks read, has Text",
        "getMessageSummary() is the latest",
        "decoded subject, Cc, attachment checksum",
        "getMessageAttachment bytes", "getMessageHeaders",
        "getMessageSource", "renderMessageHTML and renderMessageText",
        "getInfo", "setReadStatus all, by IDs, by search",
        "waitForMessage sees a message sent while it waits",
        "deleteMessagesBySearch", "deleteMessages by ID",
        "getMessageSummary of a deleted ID is an error",
        "deleteMessages() deletes all",
        "getChaosTriggers: Mailpit's defaults",
        "setChaosTriggers sets one and resets the others"],
    "mailhog": [
        "messages: three, newest first", "messages(start, limit)",
        "search kind to", "latestTo: decoded subject, Cc, attachment",
        "latestFrom and its text", "latestContaining and the envelope",
        "deleteMessage", "deleteAll"],
}
for _suite, _names in CHECKS.items():
    for _i, _name in enumerate(_names):
        globals()["test_%s_%02d" % (_suite, _i + 1)] = case(_suite, _name)


if __name__ == "__main__":
    run(globals())
