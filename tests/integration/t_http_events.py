#!/usr/bin/env python3
"""
t_http_events.py: live updates as Server-Sent Events on GET
/api/v1/events: `text/event-stream`, an `event: new` record with the
MessageSummary of each message as it becomes visible, `event: delete`
with its ID when it is deleted; a client that goes away is forgotten
(later events and SIGTERM still work, and mxd exits 0).
"""

import json
import socket
import time

from mxdtest import assert_eq, assert_in, run
from mxdtest.http import get_json, http_server, request, send, wait_total

srv = None


def server():
    global srv
    if srv is None:
        srv = http_server()
    return srv


class Stream:
    """A raw-socket EventSource: records() yields (event, data) pairs."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                       b"Accept: text/event-stream\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        self.head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.text = ""

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise AssertionError("stream closed")
        self.buf += chunk

    def _dechunk(self):
        """Move whole chunks from buf to text."""
        while True:
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            n = int(line, 16)
            if len(rest) < n + 2:
                return
            self.text += rest[:n].decode()
            self.buf = rest[n + 2:]

    def record(self, want, timeout=5):
        """The next (event, data) with event == want; bounded."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            while "\n\n" in self.text:
                rec, _, self.text = self.text.partition("\n\n")
                fields = dict(l.split(": ", 1) for l in rec.split("\n")
                              if ": " in l and not l.startswith(":"))
                if fields.get("event") == want:
                    return json.loads(fields["data"])
            if time.monotonic() >= deadline:
                raise AssertionError("no %s event within %gs" %
                                     (want, timeout))
            self._more()

    def close(self):
        self.s.close()


def test_stream_headers():
    """200, Content-Type text/event-stream, chunked"""
    st = Stream(server().http_port)
    assert_in(b" 200 ", st.head.split(b"\r\n")[0], "status")
    assert_in(b"Content-Type: text/event-stream", st.head, "type")
    assert_in(b"Transfer-Encoding: chunked", st.head, "chunked")
    st.close()


def test_new_and_delete_events():
    """a committed message arrives as `new` with its summary; deleting it
    through the API sends `delete` with its ID"""
    st = Stream(server().http_port)
    qid = send(srv, subject="live one")
    v = st.record("new")
    assert_eq((v["ID"], v["Subject"], v["Read"]), (qid, "live one", False),
              "new")
    r = request(srv.http_port, "DELETE", "/api/v1/messages", {"IDs": [qid]})
    assert_eq(r.status, 200, "delete")
    assert_eq(st.record("delete"), {"ID": qid}, "delete event")
    st.close()


def test_gone_client_forgotten():
    """clients that close their stream are forgotten: mail and events go
    on for a live client, and the API answers"""
    gone = [Stream(server().http_port) for _ in range(3)]
    for g in gone:
        g.close()
    live = Stream(srv.http_port)
    for i in range(3):
        qid = send(srv, subject="after %d" % i)
        assert_eq(live.record("new")["ID"], qid, "event %d" % i)
    live.close()
    assert get_json(srv.http_port, "/api/v1/messages")["total"] >= 3


def test_pop3_deletion_heard():
    """a message deleted by POP3 (DELE, QUIT: another part of mxd, through
    queue_delete) leaves the API's list and is announced as `delete`"""
    from mxdtest.server import Server
    both = Server(http=True, pop3=True).start()
    st = Stream(both.http_port)
    qid = send(both, subject="read me by pop3", rcpts=("u@example.org",))
    assert_eq(st.record("new")["ID"], qid, "new")
    p = both.pop3_client()
    p.user("u@example.org")
    p.pass_("any")
    assert_eq(p.stat()[0], 1, "one message in the maildrop")
    p.dele(1)
    p.quit()
    assert_eq(st.record("delete"), {"ID": qid}, "delete event")
    assert_eq(wait_total(both.http_port, 0)["messages"], [], "list")
    st.close()
    both.stop()


if __name__ == "__main__":
    run(globals())
