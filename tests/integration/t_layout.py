#!/usr/bin/env python3
"""
t_layout.py: the five who-may-call-whom rules at the top of src/mxd.h,
checked on the source so that they stay true:

1. core files (src/*.c) include no protocol header and name no
   protocol's functions or types;
2. store/ names no session, connection or protocol;
3. protocol folders do not include each other's headers;
4. only conn.c and tls.c call bufferevent_*, only http/ calls evhttp_*;
5. (calls inside a folder are free; across folders, rules 1-3 hold.)
"""

import os
import re

from mxdtest import assert_eq, run

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "src")
PROTOCOLS = ("smtp", "pop3", "http", "deliver")
# What only the SMTP folder defines: its header's names.
SMTP_NAMES = re.compile(r"\b(struct session|struct tx|session_[a-z_]+\(|"
                        r"reply\(|command_[a-z_]+\(|auth_[a-z_]+\(|"
                        r"addr_[a-z_]+\(|esmtp_[a-z_]+\(|data_[a-z_]+\(|"
                        r"message_[a-z_]+\(|STATE_[A-Z]+|SESSION_F_|"
                        r"R_[A-Z_]+)")


def sources(folder=""):
    d = os.path.join(SRC, folder)
    return {os.path.join(folder, f): open(os.path.join(d, f)).read()
            for f in sorted(os.listdir(d)) if f.endswith((".c", ".h"))}


def code(text):
    """The text without comments and string literals."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def test_core_knows_no_protocol():
    """rule 1: src/*.c include no protocol header and use no SMTP name"""
    bad = []
    for name, text in sources().items():
        for p in PROTOCOLS:
            if re.search(r'#include "(%s/)?%s\.h"' % (p, p), text):
                bad.append("%s includes %s.h" % (name, p))
        for m in SMTP_NAMES.finditer(code(text)):
            if not (name == "tls.c" and m.group(0).startswith("R_")):
                bad.append("%s uses %s" % (name, m.group(0)))
    # main() lists protocols by their struct protocol, nothing more.
    assert_eq(sorted(set(bad)), [], "core files reaching into a protocol")


def test_store_names_no_session():
    """rule 2: store/ names no session, connection or protocol"""
    bad = []
    for name, text in sources("store").items():
        for word in ("struct session", "struct conn", "struct protocol",
                     "session_", "conn_", "smtp"):
            if word in code(text):
                bad.append("%s: %s" % (name, word))
    assert_eq(bad, [], "store/ naming sessions or protocols")


def test_protocols_apart():
    """rule 3: a protocol folder includes no other protocol's header"""
    bad = []
    for p in PROTOCOLS:
        if not os.path.isdir(os.path.join(SRC, p)):
            continue
        for name, text in sources(p).items():
            for q in PROTOCOLS:
                if q != p and re.search(r'#include "(\.\./)?(%s/)?%s\.h"'
                                        % (q, q), text):
                    bad.append("%s includes %s.h" % (name, q))
    assert_eq(bad, [], "protocol folders including each other")


def test_bufferevent_users():
    """rule 4: bufferevent_* only in conn.c and tls.c; evhttp_* only in
    http/"""
    bad = []
    for folder in ("",) + PROTOCOLS + ("store",):
        if not os.path.isdir(os.path.join(SRC, folder)):
            continue
        for name, text in sources(folder).items():
            c = code(text)
            if re.search(r"\bbufferevent_[a-z_]+\(", c) and \
                    name not in ("conn.c", "tls.c"):
                bad.append("%s calls bufferevent_*" % name)
            if re.search(r"\bevhttp_[a-z_]+\(", c) and \
                    not name.startswith("http/"):
                bad.append("%s calls evhttp_*" % name)
    assert_eq(bad, [], "I/O outside the connection layer")


def test_dialogs_distributed():
    """every tests/dialog/*.smtp and *.pop3 is listed in Makefile.am
    (DIALOG_FILES),
    so the release tarball runs the same dialogues"""
    top = os.path.join(SRC, "..")
    am = open(os.path.join(top, "Makefile.am")).read()
    missing = [f for f in sorted(os.listdir(os.path.join(top, "tests",
                                                         "dialog")))
               if f.endswith((".smtp", ".pop3")) and
               "tests/dialog/" + f not in am]
    assert_eq(missing, [], "dialogue files missing from DIALOG_FILES")


def test_rules_written_down():
    """the five rules stand at the top of mxd.h"""
    head = open(os.path.join(SRC, "mxd.h")).read()[:2500]
    for n in range(1, 6):
        assert " * %d. " % n in head, "rule %d missing from mxd.h" % n


if __name__ == "__main__":
    run(globals())
