#!/usr/bin/env python3
"""
t_http_words.py: free-text search answers alike on both of its paths
(src/store/words.c): a term of one word goes to the word index (the
vocabulary's words that contain it, then their messages), other terms
to the trigram index; either way a message matches when its text holds
the term, case folded, as Mailpit's LIKE '%term%' does.  Each search
here is checked against Python's own substring test over what was sent:
words, parts of words, upper case, letters outside ASCII, terms across
punctuation and spaces, LIKE wildcards, negation, a term in more words
than one search may expand to, and after deletions and a rebuild.
Deleted messages' words leave the vocabulary once the deletions reach
the messages there are (stat.gone; at least 10 000).
"""

import json
import os
import re
import sqlite3
import threading
import urllib.parse

from mxdtest import Client, assert_eq, run, wait_until
from mxdtest.http import get_json, http_server, request, wait_total
from mxdtest.server import Server

# Bodies: what a term may hit.  Headers are fixed and hold none of the
# terms below (From a@example.com, To b@example.org, Subject m<k>).
BODIES = [
    "Benchmark results are in: bench pressed, BENCHES moved.",
    "Invoice 2026-11 for ACME GmbH, see invoice_2026.pdf",
    "Grüße aus München, Übermorgen wieder im Büro.",
    "école, École NORMALE; élève",
    "Письмо для Дмитрия: привет мир",
    "reach me at bob.smith@corp.example or bob-smith on chat",
    "nothing to see here",
    "zebra crossing; zebras crossed twice",
    "snake_case_name and camelCaseName together",
    "the number 1234567 and 12345 and 99999x",
]

TERMS = [
    "bench", "BENCH", "benches", "chmark", "press", "invoice", "INVOICE",
    "2026", "202", "acme", "gmbh", "grüße", "GRÜSSE", "münchen", "MÜNCHEN",
    "über", "büro", "école", "ÉCOLE", "élève", "письмо", "ДМИТРИЯ",
    "привет", "bob.smith", "smith@corp", "bob-smith", "h@c", "zebra",
    "zebras", "crossing", "ebra", "snake_case", "case", "camelcase",
    "ase_n", "1234", "345", "99999x", "nothing to", "to see", "ere",
    "nomatch", "zzz", "ll", "in", "e_n",
]


def hits(port, q):
    """The IDs search q finds (every page), and messages_count."""
    v = get_json(port, "/api/v1/search?limit=0&query=" +
                 urllib.parse.quote(q))
    return {m["ID"] for m in v["messages"]}, v["messages_count"]


def truth(sent, term, negate=False):
    """The IDs whose body holds term, case folded (Python's lower); a
    term with % or _ is Mailpit's LIKE pattern (any text, any one
    character)."""
    t = term.lower()
    if "%" in t or "_" in t:
        rx = re.compile("".join(".*" if c == "%" else "." if c == "_" else
                                re.escape(c) for c in t), re.S)
        return {q for q, body in sent.items()
                if bool(rx.search(body.lower())) != negate}
    return {q for q, body in sent.items()
            if (t in body.lower()) != negate}


def send_all(srv, bodies):
    """Each body in its own message; {queue ID: body}."""
    sent = {}
    with Client(srv.port) as c:
        c.expect("EHLO words.test", 250)
        for k, body in enumerate(bodies):
            data = ("From: a@example.com\r\nTo: b@example.org\r\n"
                    "Subject: m%d\r\nContent-Type: text/plain; "
                    "charset=utf-8\r\n\r\n%s\r\n" % (k, body)).encode()
            sent[c.mail_tx("a@example.com", ["b@example.org"], data)] = body
    return sent


def check_terms(port, sent, label):
    for term in TERMS:
        q = '"%s"' % term if " " in term else term
        got, count = hits(port, q)
        want = truth(sent, term)
        assert_eq(sorted(got), sorted(want), "%s: %r" % (label, term))
        assert_eq(count, len(want), "%s: count of %r" % (label, term))
        got, count = hits(port, "-" + q)
        want = truth(sent, term, negate=True)
        assert_eq(sorted(got), sorted(want), "%s: -%r" % (label, term))


def test_both_paths_agree_with_substring():
    """every term finds exactly the messages whose text holds it, case
    folded, whichever index answers; negated too; and so after a
    deletion and after the index is rebuilt from the spool"""
    srv = http_server()
    port = srv.http_port
    sent = send_all(srv, BODIES * 2)
    wait_total(port, len(sent))
    check_terms(port, sent, "fresh")
    # Two terms: the word index walks one, the other is a condition.
    got, _ = hits(port, 'bench "results are"')
    assert_eq(sorted(got), sorted(truth(sent, "results are")),
              "a word and a phrase")
    got, _ = hits(port, "zebra crossing -zebras")
    assert_eq(got, set(), "words ANDed, one negated")
    # Deleting messages takes their words out of the word index too.
    gone = sorted(sent)[:len(BODIES)]
    r = request(port, "DELETE", "/api/v1/messages",
                body=('{"IDs": [%s]}' % ", ".join('"%s"' % q for q in gone))
                .encode())
    assert_eq(r.status, 200, "delete")
    for q in gone:
        del sent[q]
    wait_total(port, len(sent))
    check_terms(port, sent, "after a deletion")
    srv.stop()
    for f in os.listdir(srv.spool):
        if f.startswith("index.sqlite"):
            os.unlink(os.path.join(srv.spool, f))
    srv = Server(http=True, spool=srv.spool).start()
    wait_total(srv.http_port, len(sent))
    check_terms(srv.http_port, sent, "rebuilt")
    srv.stop()


def test_term_in_many_words():
    """a term that more words hold than one search expands to (256) is
    answered by the trigram index, exactly as one in fewer words"""
    srv = http_server()
    port = srv.http_port
    bodies = [" ".join("zqx%03d%s" % (i, k) for i in range(k, 300, 7))
              for k in range(7)]
    sent = send_all(srv, bodies)
    wait_total(port, len(sent))
    for term in ("zqx", "zqx1", "zqx00", "qx29", "ZQX2", "x0"):
        got, count = hits(port, term)
        want = truth(sent, term)
        assert_eq(sorted(got), sorted(want), "many words: %r" % term)
        assert_eq(count, len(want), "count of %r" % term)
    srv.stop()


def test_word_index_answers_words():
    """one-word terms are answered by the word index and others by the
    trigram index: a message taken out of the word index by hand (mxd
    stopped) is no longer found by a word or part of one, and still
    found by a phrase"""
    srv = http_server()
    sent = send_all(srv, ["marmalade jam"] * 3)
    wait_total(srv.http_port, 3)
    srv.stop()
    db = sqlite3.connect(os.path.join(srv.spool, "index.sqlite"))
    db.execute("INSERT INTO words(words, rowid, body) SELECT 'delete', "
               "rowid, body FROM fts WHERE rowid = (SELECT rowid FROM msg "
               "WHERE qid = ?)", (sorted(sent)[0],))
    db.commit()
    db.close()
    srv = Server(http=True, spool=srv.spool).start()
    wait_total(srv.http_port, 3)
    for term in ("marmalade", "ARMALAD", "jam marmalade"):
        got, count = hits(srv.http_port, term)
        assert_eq((sorted(got), count), (sorted(sent)[1:], 2),
                  "by the word index: %r" % term)
    got, count = hits(srv.http_port, '"marmalade jam"')
    assert_eq((sorted(got), count), (sorted(sent), 3), "by the trigram index")
    srv.stop()


def test_unread_hits_counted():
    """messages_unread of a free-text search whose page is full (so it
    is counted, not read off the page) is right with none, few, most
    and all of the hits read: the hits merged with the smaller of the
    read and unread sets, or the full-text table alone"""
    srv = http_server()
    port = srv.http_port
    sent = send_all(srv, ["bench mark %d" % k for k in range(12)] +
                    ["other %d" % k for k in range(3)])
    wait_total(port, len(sent))
    hit = [q for q, b in sorted(sent.items()) if "bench" in b]
    miss = [q for q, b in sorted(sent.items()) if "bench" not in b]

    def mark(ids, read):
        r = request(port, "PUT", "/api/v1/messages", body=json.dumps(
            {"IDs": ids, "Read": read}).encode())
        assert_eq(r.status, 200, "mark")

    def counts(q="bench"):
        v = get_json(port, "/api/v1/search?limit=2&query=" + q)
        return v["messages_count"], v["messages_unread"]
    assert_eq(counts(), (12, 12), "none read")
    mark(hit[:5] + miss[:1], True)          # read: the smaller set
    assert_eq(counts(), (12, 7), "5 of 12 hits read")
    assert_eq(counts("BENCH%20-other"), (12, 7), "with a negated term")
    mark(hit[5:10] + miss[1:], True)        # unread: the smaller set
    assert_eq(counts(), (12, 2), "10 of 12 hits read")
    mark(hit, True)
    assert_eq(counts(), (12, 0), "all read")
    mark(hit[:1], False)
    assert_eq(counts(), (12, 1), "one unread again")
    srv.stop()


def vocab_size(spool):
    """Words in the vocabulary, read from index.sqlite beside mxd."""
    db = sqlite3.connect("file:%s?mode=ro" %
                         os.path.join(spool, "index.sqlite"), uri=True,
                         timeout=30)
    try:
        return db.execute("SELECT count(*) FROM vocab").fetchone()[0]
    finally:
        db.close()


def test_vocabulary_swept():
    """10 000 messages with a word each of their own, all deleted: once
    the next message is indexed the vocabulary holds no word of theirs"""
    srv = http_server()
    n, sessions = 10000, 4
    errors = []

    def one(first):
        try:
            with Client(srv.port) as c:
                c.expect("EHLO sweep.test", 250)
                for k in range(first, n, sessions):
                    c.mail_tx("a@example.com", ["b@example.org"],
                              b"Subject: s\r\n\r\nunique%dword\r\n" % k)
        except Exception as e:          # reported below
            errors.append(e)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    assert not errors, errors
    wait_total(srv.http_port, n, timeout=300)
    before = vocab_size(srv.spool)
    assert before >= n, "a word per message in the vocabulary (%d)" % before
    # Deleted in steps (bulk.c): slow in a sanitizer build; bounded.
    r = request(srv.http_port, "DELETE", "/api/v1/messages", timeout=300)
    assert_eq(r.status, 200, "delete all")
    wait_total(srv.http_port, 0)
    sent = send_all(srv, ["after the sweep"])
    wait_total(srv.http_port, 1)
    wait_until(lambda: vocab_size(srv.spool) < 100, 60,
               "the vocabulary swept (%d words before)" % before)
    got, _ = hits(srv.http_port, "unique1234word")
    assert_eq(got, set(), "a swept word finds nothing")
    got, _ = hits(srv.http_port, "sweep")
    assert_eq(sorted(got), sorted(sent), "the new message's words kept")
    srv.stop()


if __name__ == "__main__":
    run(globals())
