#!/usr/bin/env python3
"""
t_http_mailhog.py: MailHog's API on the same port as Mailpit's, as the
npm `mailhog` and `cypress-mailhog` clients read it: GET
/api/v2/messages ({total, count, start, items}, newest first, limit
capped at 250) with each item's envelope (From/To paths, Raw.From,
Raw.To, Raw.Helo from the EHLO), headers as sent, Body, and MIME.Parts
for a multipart message; GET /api/v2/search with kind=from|to|
containing (envelope or header) and 400 for another kind; DELETE
/api/v1/messages/{id} and DELETE /api/v1/messages with empty 200
bodies (the mailhog client JSON-parses any non-empty body).
"""

import email.message

from mxdtest import assert_eq, assert_in, run
from mxdtest.http import (LazyHttpServer, get_json, request, send,
                          wait_total)

srv = LazyHttpServer()


def clear():
    r = request(srv.http_port, "DELETE", "/api/v1/messages")
    assert_eq((r.status, r.body), (200, b""), "delete all: empty 200")
    wait_total(srv.http_port, 0)


def multipart():
    m = email.message.EmailMessage()
    m["From"] = "Header Sender <hdr@example.com>"
    m["To"] = "hdr-to@example.org"
    m["Subject"] = "mailhog multipart"
    m["Message-ID"] = "<mh-1@example.com>"
    m.set_content("text part\n")
    m.add_attachment(b"file body", maintype="application",
                     subtype="octet-stream", filename="f.bin")
    return m.as_bytes().replace(b"\n", b"\r\n")


def test_v2_messages_shape():
    """an item: ID, From/To envelope paths, Content.Headers as sent
    (Message-ID spelled as sent), Raw with From, To, Data, Helo, MIME
    Parts of a multipart message; newest first"""
    clear()
    a = send(srv, subject="first", sender="env@example.com",
             rcpts=("r1@example.org", "r2@example.org"))
    b = send(srv, data=multipart(), sender="env2@example.com",
             rcpts=("x@example.org",))
    wait_total(srv.http_port, 2)
    v = get_json(srv.http_port, "/api/v2/messages")
    assert_eq((v["total"], v["count"], v["start"]), (2, 2, 0), "counts")
    assert_eq([i["ID"] for i in v["items"]], [b, a], "newest first")
    it = v["items"][1]
    assert_eq(it["From"], {"Relays": None, "Mailbox": "env",
                           "Domain": "example.com", "Params": ""}, "From")
    assert_eq([(p["Mailbox"], p["Domain"]) for p in it["To"]],
              [("r1", "example.org"), ("r2", "example.org")], "To")
    assert_eq((it["Raw"]["From"], it["Raw"]["To"], it["Raw"]["Helo"]),
              ("env@example.com", ["r1@example.org", "r2@example.org"],
               "http.test"), "Raw envelope")
    assert_in("Subject: first", it["Raw"]["Data"], "Raw.Data")
    assert_eq(it["Content"]["Headers"]["Subject"], ["first"], "Subject")
    assert_eq(it["Content"]["Body"], "hello\r\n", "Body")
    assert_eq(it["Content"]["Headers"]["Return-Path"], ["<env@example.com>"],
              "Return-Path added")
    assert_eq(it["MIME"], None, "no MIME for a single part")
    mp = v["items"][0]
    assert_eq(mp["Content"]["Headers"]["Message-ID"], ["<mh-1@example.com>"],
              "header name as sent")
    parts = mp["MIME"]["Parts"]
    assert_eq(len(parts), 2, "two parts")
    assert_in("text/plain", parts[0]["Headers"]["Content-Type"][0], "part 1")
    assert_eq(parts[1]["Headers"]["Content-Disposition"][0],
              'attachment; filename="f.bin"', "attachment header")
    assert isinstance(it["Content"]["Size"], int)
    assert it["Created"].endswith("Z")


def test_v2_limits():
    """start and limit page; limit is capped at 250; start past the end
    gives no items"""
    clear()
    ids = [send(srv, subject="p%d" % i) for i in range(3)]
    wait_total(srv.http_port, 3)
    v = get_json(srv.http_port, "/api/v2/messages?start=1&limit=1")
    assert_eq([i["ID"] for i in v["items"]], [ids[1]], "page")
    assert_eq((v["total"], v["count"], v["start"]), (3, 1, 1), "counts")
    v = get_json(srv.http_port, "/api/v2/messages?limit=100000")
    assert_eq(v["count"], 3, "capped limit still lists all 3")
    v = get_json(srv.http_port, "/api/v2/messages?start=10")
    assert_eq((v["count"], v["items"]), (0, []), "past the end")


def test_v2_search():
    """kind=from (envelope sender or From header), kind=to (envelope
    recipient or To header), kind=containing (text); another kind is
    400"""
    clear()
    a = send(srv, subject="alpha", sender="envfrom@example.com",
             rcpts=("envto@example.org",))
    b = send(srv, data=multipart(), sender="other@example.com",
             rcpts=("y@example.org",))
    wait_total(srv.http_port, 2)

    def ids(kind, q):
        v = get_json(srv.http_port, "/api/v2/search?kind=%s&query=%s" %
                     (kind, q))
        assert_eq(v["total"], len(v["items"]), "total = hits")
        return sorted(i["ID"] for i in v["items"])

    assert_eq(ids("from", "envfrom"), [a], "from: envelope")
    assert_eq(ids("from", "hdr@example.com"), [b], "from: header")
    assert_eq(ids("to", "envto@example.org"), [a], "to: envelope")
    assert_eq(ids("to", "hdr-to"), [b], "to: header")
    assert_eq(ids("containing", "alpha"), [a], "containing")
    assert_eq(ids("containing", "nothing-like-this"), [], "none")
    r = request(srv.http_port, "GET", "/api/v2/search?kind=subject&query=x")
    assert_eq(r.status, 400, "bad kind")
    r = request(srv.http_port, "GET", "/api/v2/search?kind=from")
    assert_eq(r.status, 400, "no query")


def test_v1_delete_one():
    """DELETE /api/v1/messages/{id}: empty 200, the file is gone; an
    unknown or malformed id is 404"""
    clear()
    a = send(srv, subject="one")
    b = send(srv, subject="two")
    wait_total(srv.http_port, 2)
    r = request(srv.http_port, "DELETE", "/api/v1/messages/" + a)
    assert_eq((r.status, r.body), (200, b""), "deleted")
    assert_eq(sorted(srv.messages()), [b], "spool")
    assert_eq([i["ID"] for i in get_json(srv.http_port,
                                          "/api/v2/messages")["items"]],
              [b], "list")
    for bad in (a, "nope", "..%2Flock"):
        r = request(srv.http_port, "DELETE", "/api/v1/messages/" + bad)
        assert_eq(r.status, 404, bad)


if __name__ == "__main__":
    run(globals())
