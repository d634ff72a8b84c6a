#!/usr/bin/env python3
"""
t_web.py: mxd's page in a real browser.  Debian's Chromium, headless,
driven by playwright-core (tests/web/page.cjs, installed by the README's
test command into build/npm): the page opens empty, a message sent over
SMTP appears in the list without a reload, search hides and finds it,
the message view renders its HTML in a sandboxed iframe where the
message's script does not run and its remote image is not fetched, the
attachment downloads byte for byte, the message turns read, and delete
and delete-all empty the list and the spool.  Screenshots go to
tests/screenshots/ in the build tree.
"""

import email.message
import email.policy
import hashlib
import http.server
import json
import os
import shutil
import smtplib
import subprocess
import threading

from mxdtest import Server, Skip, assert_eq, free_port, run

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_JS = os.path.join(HERE, "..", "web", "page.cjs")
STEP_TIMEOUT = 180          # the whole browser run, a safety bound only

ATTACHMENT = hashlib.sha256(b"mxd").digest() * 100 + bytes(range(256))
results = {}                # check name -> (ok, detail)
state = {}


class Tracker(http.server.BaseHTTPRequestHandler):
    """A remote server a message's image points to: counts requests."""
    hits = 0

    def do_GET(self):
        Tracker.hits += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def html_message(track_port):
    """An HTML message with a script, a remote image and an attachment."""
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = "Sender <sender@client.example>"
    m["To"] = "user@example.test"
    m["Subject"] = "Page test \u00e9t\u00e9"
    m.set_content("the text part\n")
    m.add_alternative(
        "<html><body><p id=marker>script did not run</p>"
        "<b class=hello>Hello</b>"
        "<script>document.getElementById('marker').textContent="
        "'script ran';parent.document.title='owned'</script>"
        "<img src=\"http://127.0.0.1:%d/pixel.png\"></body></html>"
        % track_port, subtype="html")
    m.add_attachment(ATTACHMENT, maintype="application",
                     subtype="octet-stream", filename="data.bin")
    return m.as_bytes()


def tools():
    """node, Chromium and playwright-core, or Skip (a failure in CI)."""
    npm_dir = os.environ.get("MXD_NPM_DIR", "")
    missing = [what for what, ok in (
        ("node", shutil.which("node")),
        ("chromium", os.access("/usr/bin/chromium", os.X_OK)),
        ("playwright-core in MXD_NPM_DIR", npm_dir and os.path.isdir(
            os.path.join(npm_dir, "playwright-core"))))
        if not ok]
    if missing:
        why = "missing: " + ", ".join(missing)
        if os.environ.get("MXD_REQUIRE_NPM"):
            raise AssertionError(why + " (contrib/dev.sh test installs them)")
        raise Skip(why)
    return npm_dir


def browse(srv, http_port, npm_dir, shots):
    """Run page.cjs, sending mail when it asks; record its checks."""
    tracker = http.server.HTTPServer(("127.0.0.1", 0), Tracker)
    threading.Thread(target=tracker.serve_forever, daemon=True).start()
    env = dict(os.environ, NODE_PATH=npm_dir, SHOT_DIR=shots,
               MXD_URL="http://127.0.0.1:%d/" % http_port)
    p = subprocess.Popen(["node", PAGE_JS], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, bufsize=1)
    timer = threading.Timer(STEP_TIMEOUT, p.kill)
    timer.start()
    try:
        for line in p.stdout:
            line = line.rstrip("\n")
            print("# page: " + line[:300])
            word, _, rest = line.partition(" ")
            if word == "SEND":
                msg = html_message(tracker.server_port) if rest == "html" \
                    else b"Subject: plain\r\n\r\nplain\r\n"
                with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
                    s.ehlo("client.example")
                    s.mail("sender@client.example")
                    s.rcpt("user@example.test")
                    code, reply = s.data(msg)
                assert_eq(code, 250, "DATA reply")
                qid = reply.decode().rsplit(" ", 1)[1]
                state.setdefault("sent", []).append(qid)
                p.stdin.write("SENT %s\n" % qid)
                p.stdin.flush()
            elif word == "CHECK":
                c = json.loads(rest)
                results[c["name"]] = (c["ok"], c.get("detail"))
            elif word == "DOWNLOADED":
                state["download"] = rest.split(" ", 1)[1]
            elif word == "DELETED":
                state.setdefault("deleted", []).append(rest)
            elif word == "DONE":
                state["done"] = True
    finally:
        timer.cancel()
        p.stdin.close()
        err = p.stderr.read()
        p.wait(timeout=30)
        tracker.shutdown()
    if err.strip():
        print("# page stderr: " + err.strip()[:2000].replace("\n", "\n# "))


def test_page_session():
    """the browser run completes: page.cjs reached its end"""
    npm_dir = tools()
    shots = os.path.join(os.environ.get("MXD_BUILDDIR", HERE),
                         "tests", "screenshots")
    http_port = free_port()
    srv = Server(domains="example.test",
                 http_listen="127.0.0.1:%d" % http_port).start()
    state["srv"] = srv
    browse(srv, http_port, npm_dir, shots)
    assert state.get("done"), "page.cjs stopped early: %r" % results
    failed = [n for n, (ok, _) in results.items() if not ok]
    assert not failed, "failed in the page: %r" % {
        n: results[n][1] for n in failed}


def page_check(name):
    """A test case for one check that page.cjs reports."""
    def fn():
        if "done" not in state and not results:
            raise Skip("no browser run")
        assert name in results, "not reached"
        assert results[name][0], results[name][1]
    fn.__doc__ = name
    return fn


for _name in ("empty list says so", "event stream connected",
              "new message listed without a reload",
              "row shows the decoded subject", "row shows the sender",
              "row shows the attachment mark", "row is unread",
              "search hides and finds the message",
              "message view shows the subject",
              "HTML body is in a sandboxed iframe",
              "HTML rendered, its script did not run",
              "HTML markup is rendered",
              "page title untouched by the message",
              "raw source shown", "headers shown",
              "opened message is read in the list",
              "deleted message left the list", "delete all empties the list",
              "no script errors in the page"):
    globals()["test_page_" + "_".join(_name.split()[:5]).replace(",", "")] = \
        page_check(_name)


def test_remote_image_not_fetched():
    """the message's remote image was never requested (CSP, sandbox)"""
    if not results:
        raise Skip("no browser run")
    assert_eq(Tracker.hits, 0, "requests to the remote image's server")


def test_attachment_downloaded_intact():
    """the attachment saved by the browser equals what was sent"""
    if not results:
        raise Skip("no browser run")
    assert "download" in state, "no download"
    with open(state["download"], "rb") as f:
        assert_eq(f.read(), ATTACHMENT, "downloaded bytes")


def test_deleted_in_spool():
    """what the page deleted is gone from the spool"""
    if not results:
        raise Skip("no browser run")
    assert_eq(sorted(state.get("deleted", [])), sorted(state["sent"]),
              "deleted")
    assert_eq(state["srv"].queue_names(), [], "queue/ after delete all")


if __name__ == "__main__":
    run(globals())
