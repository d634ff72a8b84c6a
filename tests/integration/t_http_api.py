#!/usr/bin/env python3
"""
t_http_api.py: Mailpit's API v1 on mxd's HTTP listener, through urllib
against the real binary: the list and its shapes (MessagesSummary,
MessageSummary, field types), newest first, start/limit; get (marks
read), `latest`, headers, raw, parts (decoded bytes), /view .html and
.txt; info; mark read/unread by IDs, by search, all; delete by IDs, by
search, all (the spool file goes too, and `mxd -q` agrees); every error
a JSON body with the right status; unknown routes 404, wrong methods
405; traversal attempts 404.
"""

import email.message
import hashlib

from mxdtest import assert_eq, assert_in, run, run_mxd
from mxdtest.http import (LazyHttpServer, get_json, raw, request, send,
                          status_of, wait_total)

srv = LazyHttpServer()

PNG = bytes(range(256)) * 4


def rich_message():
    """multipart/mixed: alternative (text, HTML) + an attachment; RFC
    2047 subject; a Cc; a Message-ID."""
    m = email.message.EmailMessage()
    m["From"] = "Alice Example <alice@example.org>"
    m["To"] = "Bob <bob@example.org>"
    m["Cc"] = "carol@example.net"
    m["Subject"] = "Grüße from the test"
    m["Message-ID"] = "<rich-1@example.org>"
    m["Date"] = "Sun, 29 Nov 2026 10:00:00 +0000"
    m.set_content("Hello Bob,\nthe plain text.\n")
    m.add_alternative("<html><body><p>Hello <b>Bob</b></p>"
                      "<script>alert(1)</script></body></html>",
                      subtype="html")
    m.add_attachment(PNG, maintype="image", subtype="png",
                     filename="pixel.png", disposition="attachment")
    return m.as_bytes().replace(b"\n", b"\r\n")


def clear():
    assert_eq(request(srv.http_port, "DELETE", "/api/v1/messages").status,
              200, "delete all")
    wait_total(srv.http_port, 0)


def test_empty_list_shape():
    """an empty mailbox: MessagesSummary with every field, messages []"""
    v = get_json(srv.http_port, "/api/v1/messages")
    assert_eq(v, {"total": 0, "unread": 0, "count": 0, "messages_count": 0,
                  "messages_unread": 0, "start": 0, "tags": [],
                  "messages": []}, "empty list")


def test_list_summary_shape():
    """a message appears with the MessageSummary fields and JSON types:
    decoded Subject, From Address, To/Cc lists, Bcc holding the blind
    envelope recipient, Size of the stored message, an attachment count,
    a snippet from the HTML"""
    clear()
    qid = send(srv, data=rich_message(),
               rcpts=("bob@example.org", "hidden@example.org"))
    v = wait_total(srv.http_port, 1)
    m = v["messages"][0]
    assert_eq(sorted(m), sorted(["ID", "MessageID", "Read", "From", "To",
                                 "Cc", "Bcc", "ReplyTo", "Subject",
                                 "Created", "Username", "Tags", "Size",
                                 "Attachments", "Snippet"]), "fields")
    assert_eq(m["ID"], qid, "ID is the queue ID")
    assert_eq(m["MessageID"], "rich-1@example.org", "MessageID without <>")
    assert_eq(m["Read"], False, "Read")
    assert_eq(m["From"], {"Name": "Alice Example",
                          "Address": "alice@example.org"}, "From")
    assert_eq(m["To"], [{"Name": "Bob", "Address": "bob@example.org"}], "To")
    assert_eq(m["Cc"], [{"Name": "", "Address": "carol@example.net"}], "Cc")
    assert_eq(m["Bcc"], [{"Name": "", "Address": "hidden@example.org"}],
              "Bcc: the blind envelope recipient")
    assert_eq(m["ReplyTo"], [], "ReplyTo")
    assert_eq(m["Subject"], "Grüße from the test", "RFC 2047 decoded")
    assert_eq(m["Tags"], [], "Tags")
    assert_eq(m["Attachments"], 1, "Attachments is a count")
    assert_eq(m["Snippet"], "Hello Bob", "snippet from the HTML")
    stored = srv.message(qid)
    assert_eq(m["Size"], len(stored) - stored.index(b"Received:"),
              "Size: octets after the envelope block")
    assert m["Created"].endswith("Z") and len(m["Created"]) == 24, \
        m["Created"]
    assert isinstance(m["Size"], int) and isinstance(m["Read"], bool)


def test_newest_first_start_limit():
    """newest first; start and limit page through; count is the page,
    total the mailbox"""
    clear()
    qids = [send(srv, subject="n%d" % i) for i in range(5)]
    v = wait_total(srv.http_port, 5)
    assert_eq([m["ID"] for m in v["messages"]], qids[::-1], "newest first")
    v = get_json(srv.http_port, "/api/v1/messages?start=1&limit=2")
    assert_eq([m["Subject"] for m in v["messages"]], ["n3", "n2"], "page")
    assert_eq((v["total"], v["count"], v["start"]), (5, 2, 1), "counts")


def test_get_message_marks_read():
    """GET /api/v1/message/{ID}: the Message shape (Text, HTML,
    Attachments with PartID and checksums of the decoded bytes, Date from
    the header); it marks the message read; `latest` is the newest"""
    clear()
    qid = send(srv, data=rich_message())
    wait_total(srv.http_port, 1)
    m = get_json(srv.http_port, "/api/v1/message/" + qid)
    for k in ("ID", "MessageID", "From", "To", "Cc", "Bcc", "ReplyTo",
              "ReturnPath", "Subject", "ListUnsubscribe", "Date", "Tags",
              "Username", "Text", "HTML", "Size", "Inline", "Attachments"):
        assert_in(k, m, "Message field")
    assert_eq(m["Text"], "Hello Bob,\r\nthe plain text.\r\n", "Text")
    assert_in("<b>Bob</b>", m["HTML"], "HTML")
    assert_eq(m["Date"], "2026-11-29T10:00:00+00:00", "Date header")
    assert_eq(m["ReturnPath"], "alice@example.org", "ReturnPath: From")
    assert_eq(len(m["Attachments"]), 1, "one attachment")
    a = m["Attachments"][0]
    assert_eq((a["PartID"], a["FileName"], a["ContentType"], a["Size"]),
              ("2", "pixel.png", "image/png", len(PNG)), "attachment")
    assert_eq(a["Checksums"], {"MD5": hashlib.md5(PNG).hexdigest(),
                               "SHA1": hashlib.sha1(PNG).hexdigest(),
                               "SHA256": hashlib.sha256(PNG).hexdigest()},
              "checksums of the decoded content")
    v = get_json(srv.http_port, "/api/v1/messages")
    assert_eq((v["unread"], v["messages"][0]["Read"]), (0, True), "read")
    assert_eq(get_json(srv.http_port, "/api/v1/message/latest")["ID"], qid,
              "latest")


def test_headers_raw_part_view():
    """/headers: canonical names, unfolded raw values; /raw: the stored
    message; /part/2: the decoded attachment with its type; /view .html
    (with a CSP) and .txt"""
    clear()
    qid = send(srv, data=rich_message())
    wait_total(srv.http_port, 1)
    h = get_json(srv.http_port, "/api/v1/message/%s/headers" % qid)
    assert_eq(h["Message-Id"], ["<rich-1@example.org>"], "canonical key")
    assert_in("Content-Type", h, "Content-Type header")
    assert h["Subject"][0].startswith("=?utf-8?"), h["Subject"]
    r = request(srv.http_port, "GET", "/api/v1/message/%s/raw" % qid)
    stored = srv.message(qid)
    assert_eq(r.body, stored[stored.index(b"Received:"):], "raw")
    assert_in("text/plain", r.headers["Content-Type"], "raw type")
    r = request(srv.http_port, "GET", "/api/v1/message/%s/raw?dl=1" % qid)
    assert_in("attachment", r.headers["Content-Disposition"], "dl=1")
    r = request(srv.http_port, "GET", "/api/v1/message/%s/part/2" % qid)
    assert_eq((r.status, r.headers["Content-Type"], r.body),
              (200, "image/png", PNG), "part")
    assert_in('filename="pixel.png"', r.headers["Content-Disposition"],
              "part name")
    r = request(srv.http_port, "GET", "/view/%s.html" % qid)
    assert_eq(r.status, 200, "view html")
    assert_in(b"<b>Bob</b>", r.body, "HTML body")
    assert_in("default-src 'none'", r.headers["Content-Security-Policy"],
              "CSP")
    r = request(srv.http_port, "GET", "/view/%s.txt" % qid)
    assert_eq(r.body, b"Hello Bob,\r\nthe plain text.\r\n", "view txt")
    r = request(srv.http_port, "GET", "/view/latest.txt")
    assert_eq(r.status, 200, "view latest")


def test_inline_cid_rewritten():
    """an HTML body with an inline image (multipart/related, cid:): the
    image is in Inline with its ContentID and PartID, and /view/{ID}.html
    links it to /api/v1/message/{ID}/part/{PartID}, which serves it"""
    clear()
    m = email.message.EmailMessage()
    m["From"] = "a@example.com"
    m["Subject"] = "inline"
    m.set_content('<p><img src="cid:logo@example.com"></p>',
                  subtype="html")
    m.add_related(PNG, maintype="image", subtype="png",
                  cid="<logo@example.com>", filename="logo.png",
                  disposition="inline")
    qid = send(srv, data=m.as_bytes().replace(b"\n", b"\r\n"))
    wait_total(srv.http_port, 1)
    v = get_json(srv.http_port, "/api/v1/message/" + qid)
    assert_eq(v["Attachments"], [], "no attachment")
    assert_eq([(i["ContentID"], i["FileName"]) for i in v["Inline"]],
              [("logo@example.com", "logo.png")], "Inline")
    part = v["Inline"][0]["PartID"]
    r = request(srv.http_port, "GET", "/view/%s.html" % qid)
    link = "/api/v1/message/%s/part/%s" % (qid, part)
    assert_in(link.encode(), r.body, "cid: link rewritten")
    assert b"cid:" not in r.body, r.body
    assert_eq(request(srv.http_port, "GET", link).body, PNG, "the image")


def test_forwarded_message_attachment():
    """a forwarded message (message/rfc822) is an attachment whose part
    serves the message's octets"""
    clear()
    inner = email.message.EmailMessage()
    inner["From"] = "x@example.com"
    inner["Subject"] = "the original"
    inner.set_content("original body\n")
    m = email.message.EmailMessage()
    m["From"] = "a@example.com"
    m["Subject"] = "Fwd: the original"
    m.set_content("see attached\n")
    m.add_attachment(inner, filename="original.eml")
    qid = send(srv, data=m.as_bytes().replace(b"\n", b"\r\n"))
    wait_total(srv.http_port, 1)
    v = get_json(srv.http_port, "/api/v1/message/" + qid)
    assert_eq([(a["ContentType"], a["FileName"]) for a in v["Attachments"]],
              [("message/rfc822", "original.eml")], "Attachments")
    r = request(srv.http_port, "GET", "/api/v1/message/%s/part/%s" %
                (qid, v["Attachments"][0]["PartID"]))
    assert_eq(r.headers["Content-Type"], "message/rfc822", "type")
    assert_in(b"Subject: the original", r.body, "the message")
    assert_eq(len(r.body), v["Attachments"][0]["Size"], "Size")


def test_view_html_missing():
    """a text-only message: /view/{ID}.html is 404 with Mailpit's words;
    an unknown part is 404"""
    clear()
    qid = send(srv, subject="plain")
    wait_total(srv.http_port, 1)
    r = request(srv.http_port, "GET", "/view/%s.html" % qid)
    assert_eq(r.status, 404, "no HTML part")
    assert_eq(r.json(), {"Error": "This message does not contain a HTML "
                         "part"}, "error body")
    r = request(srv.http_port, "GET", "/api/v1/message/%s/part/9" % qid)
    assert_eq(r.status, 404, "no part 9")


def test_search():
    """Mailpit's search syntax: subject:, to: (not Cc), from:, cc:,
    is:read/unread, has:attachment, quoted phrases, negation with - and
    !, free text (case-insensitive); total/unread stay the mailbox's,
    messages_count counts the hits"""
    clear()
    a = send(srv, subject="Invoice March", body="pay the blue bill\r\n",
             sender="billing@shop.test", rcpts=("ann@example.org",))
    b = send(srv, data=rich_message())
    c = send(srv, subject="Weekly news", body="nothing blue here\r\n",
             sender="news@list.test", rcpts=("carol@example.net",))
    wait_total(srv.http_port, 3)
    get_json(srv.http_port, "/api/v1/message/" + c)    # read

    def ids(q):
        v = get_json(srv.http_port, "/api/v1/search?query=" +
                     urllib_quote(q))
        assert_eq((v["total"], v["unread"]), (3, 2), "mailbox counts")
        assert_eq(v["messages_count"], len(v["messages"]), "hits " + q)
        return sorted(m["ID"] for m in v["messages"])

    assert_eq(ids("subject:invoice"), [a], "subject:")
    assert_eq(ids('subject:"weekly news"'), [c], "quoted phrase")
    assert_eq(ids("to:carol@example.net"), [c], "to: not Cc")
    assert_eq(ids("cc:carol@example.net"), [b], "cc:")
    assert_eq(ids("from:billing"), [a], "from:")
    assert_eq(ids("BLUE"), sorted([a, c]), "free text, any case")
    assert_eq(ids("blue -subject:weekly"), [a], "negation -")
    assert_eq(ids("blue !is:unread"), [c], "negation !, is:unread")
    assert_eq(ids("is:read"), [c], "is:read")
    assert_eq(ids("has:attachment"), [b], "has:attachment")
    assert_eq(ids("pixel.png"), [b], "attachment file names")
    assert_eq(ids("nomatchanywhere"), [], "no hits")
    assert_eq(ids("after:2000-01-01 before:2999-01-01"), sorted([a, b, c]),
              "after:/before: around now")
    assert_eq(ids("before:2000-01-01"), [], "before: the past")
    r = request(srv.http_port, "GET", "/api/v1/search")
    assert_eq((r.status, r.json()), (400, {"Error": "no search query"}),
              "no query")


def test_search_text_pages_and_counts():
    """free text walks the full-text index newest first: start/limit
    pages, messages_count/messages_unread over all hits whether few or
    most hits are read, with other terms, negation and `latest`"""
    clear()
    port = srv.http_port
    ids = [send(srv, subject="paged %d" % i, body="zebra crossing %d\r\n"
                % i) for i in range(5)]
    other = send(srv, subject="other", body="no stripes\r\n")
    wait_total(port, 6)
    ids.reverse()                                   # newest first

    def search(q, extra=""):
        v = get_json(port, "/api/v1/search?query=" + urllib_quote(q) +
                     extra)
        # Counted by SQL (a page of 1) and from a whole first page.
        one = get_json(port, "/api/v1/search?limit=1&query=" +
                       urllib_quote(q))
        assert_eq((one["messages_count"], one["messages_unread"]),
                  (v["messages_count"], v["messages_unread"]),
                  "counts of %s, a page of 1 and %r" % (q, extra))
        return v

    v = search("zebra")
    assert_eq((v["messages_count"], v["messages_unread"]), (5, 5),
              "counts, none read")
    get_json(port, "/api/v1/message/" + ids[1])     # read one
    v = search("zebra", "&start=1&limit=2")
    assert_eq([m["ID"] for m in v["messages"]], ids[1:3], "a page")
    assert_eq((v["messages_count"], v["messages_unread"], v["total"],
               v["unread"]), (5, 4, 6, 5), "counts, few read")
    request(port, "PUT", "/api/v1/messages", {"IDs": ids[:4] + [other],
                                              "Read": True})
    v = search("zebra")
    assert_eq([m["ID"] for m in v["messages"]], ids, "all hits")
    assert_eq((v["messages_count"], v["messages_unread"]), (5, 1),
              "counts, most read")
    v = search("zebra is:unread")
    assert_eq(([m["ID"] for m in v["messages"]], v["messages_count"],
               v["messages_unread"]), ([ids[4]], 1, 1), "with a flag")
    v = search('ZEBRA "crossing 3" -subject:other')
    assert_eq([m["ID"] for m in v["messages"]], [ids[1]], "two phrases")
    v = search("zebra -crossing")
    assert_eq(v["messages_count"], 0, "negated phrase")
    v = search("stripes -zebra")
    assert_eq([m["ID"] for m in v["messages"]], [other], "negation only")
    v = get_json(port, "/api/v1/message/latest?query=zebra")
    assert_eq(v["ID"], ids[0], "latest of a search")
    request(port, "PUT", "/api/v1/messages", {"Read": True})
    v = search("zebra")
    assert_eq((v["messages_count"], v["messages_unread"]), (5, 0),
              "counts, all read")


def urllib_quote(s):
    import urllib.parse
    return urllib.parse.quote(s)


def test_set_read():
    """PUT /api/v1/messages: Read by IDs, by Search, all; both IDs and
    Search is 400; bad JSON is 400"""
    clear()
    a = send(srv, subject="one")
    b = send(srv, subject="two")
    wait_total(srv.http_port, 2)
    port = srv.http_port
    r = request(port, "PUT", "/api/v1/messages", {"IDs": [a], "Read": True})
    assert_eq((r.status, r.body), (200, b"ok"), "by IDs")
    assert_eq(get_json(port, "/api/v1/messages")["unread"], 1, "one read")
    r = request(port, "PUT", "/api/v1/messages", {"Read": True})
    assert_eq(get_json(port, "/api/v1/messages")["unread"], 0, "all read")
    r = request(port, "PUT", "/api/v1/messages",
                {"Search": "subject:two", "Read": False})
    v = get_json(port, "/api/v1/messages")
    assert_eq([(m["ID"], m["Read"]) for m in v["messages"]],
              [(b, False), (a, True)], "by search")
    r = request(port, "PUT", "/api/v1/messages",
                {"IDs": [a], "Search": "x", "Read": True})
    assert_eq(r.status, 400, "IDs and Search")
    assert_in("Error", r.json(), "JSON error")
    r = request(port, "PUT", "/api/v1/messages", b"{not json",
                headers={"Content-Type": "application/json"})
    assert_eq(r.status, 400, "bad JSON")


def test_delete():
    """DELETE /api/v1/messages by IDs and all, DELETE /api/v1/search:
    empty 200 (both clients accept it); the spool file is gone and `mxd
    -q` agrees; an unknown ID in the list changes nothing"""
    clear()
    a = send(srv, subject="keep")
    b = send(srv, subject="drop me")
    c = send(srv, subject="search victim")
    wait_total(srv.http_port, 3)
    port = srv.http_port
    r = request(port, "DELETE", "/api/v1/messages",
                {"IDs": [b, "0000000000000000"]})
    assert_eq((r.status, r.body), (200, b""), "delete by IDs")
    assert_eq(sorted(srv.messages()), sorted([a, c]), "spool file gone")
    assert_eq([m["ID"] for m in wait_total(port, 2)["messages"]], [c, a],
              "list")
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    assert b not in out and a in out and c in out, out
    r = request(port, "DELETE", "/api/v1/search?query=subject:victim")
    assert_eq(r.status, 200, "delete by search")
    assert_eq(sorted(srv.messages()), [a], "search deleted")
    r = request(port, "DELETE", "/api/v1/messages")
    assert_eq((r.status, r.body), (200, b""), "delete all")
    assert_eq(srv.messages(), {}, "spool empty")
    wait_total(port, 0)
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    assert_in("Mail queue is empty", out, "mxd -q")


def test_info():
    """GET /api/v1/info: Messages and Unread, the database, the stats"""
    clear()
    send(srv, subject="info")
    wait_total(srv.http_port, 1)
    v = get_json(srv.http_port, "/api/v1/info")
    assert_eq((v["Messages"], v["Unread"]), (1, 1), "counts")
    assert v["Database"].endswith("/index.sqlite"), v["Database"]
    assert isinstance(v["DatabaseSize"], int) and v["DatabaseSize"] > 0
    for k in ("Uptime", "Memory", "MessagesDeleted", "SMTPAccepted"):
        assert isinstance(v["RuntimeStats"][k], int), k
    assert v["RuntimeStats"]["SMTPAccepted"] >= 1


def test_info_smtp_counts():
    """RuntimeStats since start: SMTPAcceptedSize grows by the octets of
    each accepted message, SMTPRejected by each refused recipient (RCPT)
    and each refused message (after DATA), as Mailpit counts them; a
    refused message adds no octets"""
    from mxdtest.smtp import Client
    port = srv.http_port
    before = get_json(port, "/api/v1/info")["RuntimeStats"]
    data = (b"From: a@example.com\r\nTo: b@example.org\r\n"
            b"Subject: counted\r\n\r\n" + b"x" * 1000 + b"\r\n")
    with Client(srv.port) as c:
        c.expect("EHLO http.test", 250)
        c.mail_tx("a@example.com", ["b@example.org"], data)
        c.expect("MAIL FROM:<a@example.com>", 250)
        c.expect("RCPT TO:<x+fail-550@example.org>", 550)
        c.expect("RCPT TO:<y+fail-data-451@example.org>", 250)
        c.expect("DATA", 354)
        c.expect(b"Subject: refused\r\n\r\nno\r\n.", 451)
    v = get_json(port, "/api/v1/info")["RuntimeStats"]
    assert_eq(v["SMTPAccepted"] - before["SMTPAccepted"], 1, "accepted")
    assert_eq(v["SMTPAcceptedSize"] - before["SMTPAcceptedSize"],
              len(data), "accepted octets")
    assert_eq(v["SMTPRejected"] - before["SMTPRejected"], 2,
              "refused: one recipient, one message")


def test_tags():
    """Mailpit's tags: from an X-Tags header; in MessageSummary, Message,
    MessagesSummary.tags and info; tag: and is:tagged searches; PUT
    /api/v1/tags sets them, PUT /api/v1/tags/{tag} renames, DELETE
    removes"""
    clear()
    port = srv.http_port
    data = (b"From: a@example.com\r\nSubject: tagged\r\n"
            b"X-Tags: Invoice, urgent ,  bad/chars!\r\n\r\nhi\r\n")
    a = send(srv, data=data)
    b = send(srv, subject="plain")
    v = wait_total(port, 2)
    assert_eq([m["Tags"] for m in v["messages"]],
              [[], ["Invoice", "badchars", "urgent"]], "Tags from X-Tags")
    assert_eq(v["tags"], ["Invoice", "badchars", "urgent"], "tags")
    assert_eq(get_json(port, "/api/v1/message/" + a)["Tags"],
              ["Invoice", "badchars", "urgent"], "Message Tags")

    def ids(q):
        return sorted(m["ID"] for m in get_json(
            port, "/api/v1/search?query=" + urllib_quote(q))["messages"])

    assert_eq(ids("tag:invoice"), [a], "tag:")
    assert_eq(ids("is:tagged"), [a], "is:tagged")
    assert_eq(ids("-is:tagged"), [b], "not tagged")
    r = request(port, "PUT", "/api/v1/tags", {"IDs": [b], "Tags": ["new"]})
    assert_eq((r.status, r.body), (200, b"ok"), "PUT tags")
    assert_eq(get_json(port, "/api/v1/tags"),
              ["Invoice", "badchars", "new", "urgent"], "GET tags")
    r = request(port, "PUT", "/api/v1/tags/urgent", {"Name": "later"})
    assert_eq(r.status, 200, "rename")
    r = request(port, "DELETE", "/api/v1/tags/badchars")
    assert_eq(r.status, 200, "delete")
    assert_eq(get_json(port, "/api/v1/info")["Tags"],
              {"Invoice": 1, "later": 1, "new": 1}, "info Tags")
    r = request(port, "PUT", "/api/v1/tags", {"IDs": [a], "Tags": []})
    assert_eq(get_json(port, "/api/v1/message/" + a)["Tags"], [], "untag")
    r = request(port, "PUT", "/api/v1/tags", {"Tags": ["x"]})
    assert_eq(r.status, 400, "no IDs")


def test_probes():
    """Mailpit's /livez and /readyz answer 200 ok"""
    for path in ("/livez", "/readyz"):
        r = request(srv.http_port, "GET", path)
        assert_eq((r.status, r.body), (200, b"ok"), path)


def test_errors_are_json():
    """an unknown ID, an unknown route, a wrong method: 404/404/405, each
    with a JSON {"Error": ...} body; `latest` of an empty mailbox is
    Mailpit's `Message not found`"""
    clear()
    port = srv.http_port
    for path, status in (("/api/v1/message/0000000000000000", 404),
                         ("/api/v1/message/latest", 404),
                         ("/api/v1/nothing", 404),
                         ("/nothing.js", 404),
                         ("/api/v1/message/nothex/raw", 404)):
        r = request(port, "GET", path)
        assert_eq(r.status, status, path)
        assert_eq(r.headers["Content-Type"], "application/json", path)
        assert_in("Error", r.json(), path)
    assert_eq(request(port, "GET", "/api/v1/message/latest").json(),
              {"Error": "Message not found"}, "latest")
    r = request(port, "POST", "/api/v1/messages", {})
    assert_eq(r.status, 405, "POST to a GET/PUT/DELETE route")
    assert_in("Error", r.json(), "405 body")


def test_raw_8bit_headers():
    """a Subject in raw Latin-1 (no RFC 2047, not UTF-8) and a body in an
    unknown charset: the message is still listed and shown (GMime reads
    raw 8-bit headers as Latin-1), never dropped from the JSON"""
    clear()
    data = (b"From: a@example.com\r\nSubject: caf\xe9 cr\xe8me\r\n"
            b"Content-Type: text/plain; charset=x-unknown-\x01\r\n"
            b"\r\nbody \xff\xfe text\r\n")
    qid = send(srv, data=data)
    v = wait_total(srv.http_port, 1)
    assert_eq(v["messages"][0]["Subject"], "caf\u00e9 cr\u00e8me",
              "Subject")
    m = get_json(srv.http_port, "/api/v1/message/" + qid)
    assert_in("body", m["Text"], "Text")


def test_traversal_is_404():
    """path segments are IDs, never file names: encoded and plain ../
    reach no file (404), and mxd stays up"""
    clear()
    port = srv.http_port
    for path in ("/api/v1/message/..%2F..%2Fetc%2Fpasswd",
                 "/api/v1/message/..%2Flock/raw",
                 "/view/../lock.html",
                 "/view/..%2Flock.html",
                 "/api/v1/message/%2e%2e/raw",
                 "/api/v1/message/%00/raw",
                 "/view/..%2F..%2Fetc%2Fpasswd.txt"):
        reply = raw(port, ("GET %s HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n" % path).encode())
        assert_eq(status_of(reply), 404, path)
        assert b"root:" not in reply, path
    assert_eq(get_json(port, "/api/v1/messages")["total"], 0, "still up")


def test_curl():
    """curl, as a shell script would use it: list, get, raw download,
    mark read with a JSON body, delete by ID, and --path-as-is traversal
    (404)"""
    import json
    import subprocess
    from mxdtest import need_tool
    curl = need_tool("curl")
    clear()
    qid = send(srv, subject="curl me")
    wait_total(srv.http_port, 1)
    base = "http://127.0.0.1:%d" % srv.http_port

    def run_curl(*args):
        p = subprocess.run([curl, "-s", "-w", "\n%{http_code}"] +
                           list(args), capture_output=True, timeout=10)
        body, _, code = p.stdout.rpartition(b"\n")
        return int(code), body

    code, body = run_curl(base + "/api/v1/messages")
    assert_eq((code, json.loads(body)["messages"][0]["ID"]), (200, qid),
              "list")
    code, body = run_curl(base + "/api/v1/message/%s/raw?dl=1" % qid)
    assert_in(b"Subject: curl me", body, "raw")
    code, body = run_curl("-X", "PUT", "-H",
                          "Content-Type: application/json", "-d",
                          json.dumps({"IDs": [qid], "Read": True}),
                          base + "/api/v1/messages")
    assert_eq((code, body), (200, b"ok"), "PUT read")
    assert_eq(get_json(srv.http_port, "/api/v1/messages")["unread"], 0,
              "read")
    code, body = run_curl("--path-as-is", base + "/view/../lock.html")
    assert_eq(code, 404, "traversal")
    code, body = run_curl("-X", "DELETE", base + "/api/v1/messages/" + qid)
    assert_eq((code, body), (200, b""), "DELETE by id")
    assert_eq(srv.messages(), {}, "gone")


if __name__ == "__main__":
    run(globals())
