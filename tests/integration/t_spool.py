"""
t_spool.py: how a finished message reaches queue/ in both spool modes.

With spool_sync=no and more than one client, the I/O thread writes the
last of each message, closes it and links it into queue/, and answers each message on
its own; with one client the event loop does it.  Durable mode batches.
Whatever the path: a 250 means queue/<QID>.eml is there, complete, at
the moment the client reads the 250; nothing is lost, mixed up between
sessions, or left in pool/; and a write error on the thread still reaches
the client as 452/451 with nothing left behind.
"""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

from mxdtest import (Client, Eml, Server, Skip, check, pool_files,
                     pool_leftovers, queued_qid, run, simple_message,
                     assert_eq, assert_in, wait_until)
from t_faults import WrappedServer, can_mount_tmpfs, tmpfs_prefix

# Sizes around the 64 KiB the session buffers before writing: all in the
# tail, some streamed and a tail, exactly at the edge, dot-stuffing.
SIZES = (0, 700, 65535, 65536, 65537, 200 * 1024)


def body_for(tag, size):
    """A body of about `size` octets whose lines say who sent them."""
    line = ("%s " % tag).encode()
    line += b"y" * (78 - len(line)) + b"\r\n"
    body = (line * (size // len(line) + 1))[:size]
    if body and not body.endswith(b"\r\n"):
        body = body[:-2] + b"\r\n" if len(body) >= 2 else b"\r\n"
    return body + b".leading dot %s\r\n" % tag.encode()


def message_for(tag, size):
    return simple_message(tag, body_for(tag, size).decode())


def stuffed(msg):
    return msg.replace(b"\r\n.", b"\r\n..")


def client_run(srv, name, count, results, pipelined):
    """One session sending `count` messages; checks each 250 against the
    spool at once.  results[name] = [(qid, tag, size)] or an error."""
    out = []
    try:
        with srv.client(timeout=20) as c:
            c.expect("EHLO %s" % name, 250)
            for i in range(count):
                tag = "%s-%d" % (name, i)
                size = SIZES[i % len(SIZES)]
                msg = message_for(tag, size)
                if pipelined:
                    c.send(b"MAIL FROM:<%s@b.c>\r\nRCPT TO:<u@d.e>\r\n"
                           b"DATA\r\n" % name.encode())
                    check(c.reply(), 250, "2.1.0")
                    check(c.reply(), 250, "2.1.5")
                    check(c.reply(), 354)
                    c.send(stuffed(msg) + b".\r\n")
                    qid = queued_qid(c.reply())
                else:
                    qid = c.mail_tx("%s@b.c" % name, ["u@d.e"], stuffed(msg))
                # The 250 is read: the file must be complete right now.
                got = Eml(srv.message(qid)).body
                if got != msg:
                    raise AssertionError("%s: stored %d octets, sent %d"
                                         % (tag, len(got), len(msg)))
                out.append((qid, tag, size))
        results[name] = out
    except Exception as e:
        results[name] = "error: %r" % (e,)


def many_clients(sync, n, count, pipelined=True):
    with Server(spool_sync=sync) as srv:
        results = {}
        threads = [threading.Thread(target=client_run,
                                    args=(srv, "c%d" % i, count, results,
                                          pipelined))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for name in sorted(results):
            if isinstance(results[name], str):
                raise AssertionError("%s: %s" % (name, results[name]))
        assert_eq(len(results), n, "clients that finished")
        qids = [q for r in results.values() for (q, _, _) in r]
        assert_eq(len(set(qids)), n * count, "distinct queue IDs")
        assert_eq(sorted(n[:-4] for n in srv.queue_names()), sorted(qids),
                  "queue/ holds exactly the acknowledged messages")
        assert_eq(srv.unfinished_files(), [], "pool/ (spare files aside)")
        for name, r in results.items():
            for qid, tag, size in r:
                e = srv.eml(qid)
                assert_eq(e.sender, "%s@b.c" % name, "sender of " + tag)
                assert_eq(e.qid, qid, "queue ID field of " + tag)
        return srv


def test_sync_no_many_sessions():
    """spool_sync=no, 8 sessions at once (the I/O thread's path), sizes
    0 B to 200 KiB: every 250 has its complete file at once, nothing is
    mixed up between sessions, nothing is left in pool/"""
    many_clients("no", 8, 12)


def test_sync_no_one_session():
    """spool_sync=no, one session (the loop's own path): the same"""
    many_clients("no", 1, 12)


def test_sync_no_lockstep_sessions():
    """spool_sync=no, 6 sessions, one command per round trip"""
    many_clients("no", 6, 6, pipelined=False)


def test_durable_many_sessions():
    """durable mode, 8 sessions at once (group commit): the same"""
    many_clients("yes", 8, 8)


# Messages within which a removed file must be written over: the spares
# on hand (up to 32 made before the removal) plus mxd's longest wait
# between two looks for removed files (63 commits), with room to spare.
POOL_REUSE_WITHIN = 400


def pool_reuse(sync):
    """Queue three big messages, remove them from queue/ (one stays open
    in a reader), then queue 40 small ones: the removed files' inodes are
    written over (no new inode), each new file holds exactly its message
    (nothing of the longer old one after it), and the file still open is
    left alone."""
    with Server(spool_sync=sync) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        big = {}
        for i in range(3):
            m = simple_message("big %d" % i,
                               (("%d" % i) * 78 + "\r\n") * 250)
            big[c.mail_tx("a@b.c", ["u@d.e"], m)] = m
        path = os.path.join(srv.spool, "queue", "%s.eml")
        inos = {q: os.stat(path % q).st_ino for q in big}
        held_qid = sorted(big)[0]
        reader = open(path % held_qid, "rb")
        try:
            for q in big:
                srv.remove(q)
            # The spares made before the removal go first, and mxd looks
            # for removed files every few commits: within a bounded count
            # of messages (not of seconds) both must have been taken.
            small, new = {}, {}
            want = {ino for q, ino in inos.items() if q != held_qid}
            for i in range(POOL_REUSE_WITHIN):
                m = simple_message("small %d" % i)
                q = c.mail_tx("a@b.c", ["u@d.e"], m)
                small[q] = m
                new[q] = os.stat(path % q).st_ino
                if want <= set(new.values()):
                    break
            for q, m in small.items():
                e = srv.eml(q)
                assert_eq(e.body, m, "message " + q)
                assert_eq(e.qid, q, "queue ID field of " + q)
            reused = set(new.values()) & set(inos.values())
            assert_eq(sorted(reused), sorted(ino for q, ino in inos.items()
                                             if q != held_qid),
                      "inodes of the removed files written over")
            assert_eq(reader.read().endswith(big[held_qid]), True,
                      "the open removed file is intact")
        finally:
            reader.close()
        # A spare made from a removed file holds its old data until a
        # message is written over it; at exit mxd empties the spares.
        # The file that was held open may still hold its message (mxd
        # has not looked at it again since the reader closed it).
        assert_eq(srv.stop(timeout=5), 0, "exit status")
        files = pool_files(srv.spool)
        left = [files[n].st_ino for n in srv.unfinished_files()]
        assert set(left) <= {inos[held_qid]}, "pool/ after exit: %r" % left


def test_removed_big_file_emptied():
    """a big message the consumer removed does not keep its disk space:
    the idle I/O thread empties its pool file within seconds"""
    with Server(spool_sync="no") as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message(
            "big", ("z" * 78 + "\r\n") * 2600))
        ino = os.stat(os.path.join(srv.spool, "queue",
                                   qid + ".eml")).st_ino
        pool = os.path.join(srv.spool, "pool")
        name = [n for n, st in pool_files(srv.spool).items()
                if st.st_ino == ino]
        assert_eq(len(name), 1, "the message's file in pool/")
        srv.remove(qid)
        wait_until(lambda: os.stat(os.path.join(pool, name[0])).st_size
                   == 0, timeout=30, what="the removed file emptied")
        qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("after"))
        assert_eq(srv.eml(qid).body, simple_message("after"), "next message")


def test_pool_reuse_sync_no():
    """spool_sync=no: removed messages' files are reused, written over
    and cut to length; a removed file a reader holds open is not"""
    pool_reuse("no")


def test_pool_reuse_durable():
    """durable mode: the same"""
    pool_reuse("yes")


def test_sync_no_disk_full_on_thread():
    """spool_sync=no with two clients (so the I/O thread writes the last
    of each message): filling a 256 KiB tmpfs with 40 KiB messages ends
    in 452 4.3.1, every queued file is complete, pool/ is clean, and the
    error is logged with the queue ID"""
    if not can_mount_tmpfs():
        raise Skip("cannot mount a tmpfs in a private mount namespace")
    srv = WrappedServer(tmpfs_prefix, spool_sync="no")
    with srv, srv.client() as a, srv.client() as b:
        root = "/proc/%d/root%s" % (srv.proc.pid, srv.spool)
        a.expect("EHLO a", 250)
        b.expect("EHLO b", 250)
        sent = {}
        full = None
        for i in range(20):
            c = (a, b)[i % 2]
            msg = message_for("m%d" % i, 40 * 1024)
            check(c.cmd("MAIL FROM:<a@b.c>"), 250, "2.1.0")
            check(c.cmd("RCPT TO:<u@d.e>"), 250, "2.1.5")
            check(c.cmd("DATA"), 354)
            c.send(stuffed(msg) + b".\r\n")
            r = c.reply(timeout=10)
            if r[0] != 250:
                full = r
                break
            sent[queued_qid(r)] = msg
        assert full is not None, "the 256 KiB spool never filled"
        check(full, 452, "4.3.1")
        assert sent, "no message fitted"
        names = os.listdir(root + "/queue")
        assert_eq(sorted(names), sorted(q + ".eml" for q in sent),
                  "queue/ holds exactly the acknowledged messages")
        for qid, msg in sent.items():
            with open("%s/queue/%s.eml" % (root, qid), "rb") as f:
                assert_eq(Eml(f.read()).body, msg, "queued " + qid)
        assert_eq(pool_leftovers(root), [], "pool/ after ENOSPC")
        srv.wait_log(r"qid=[0-9A-F]{16} commit failed: No space left")
        # Room again: both sessions go on.
        for qid in sent:
            os.unlink("%s/queue/%s.eml" % (root, qid))
        for c in (a, b):
            qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("after"))
            with open("%s/queue/%s.eml" % (root, qid), "rb") as f:
                assert_in(b"Subject: after", f.read(), "after " + qid)


# An LD_PRELOAD shim: with MXD_TEST_SLOW_SYNC=<seconds> in the
# environment, fsync, fdatasync and syncfs sleep that long first.
SLOW_SYNC_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

static void
slow(void)
{
	const char	*s = getenv("MXD_TEST_SLOW_SYNC");
	double		 d = s != NULL ? atof(s) : 0;
	struct timespec	 ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };

	while (d > 0 && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

#define WRAP(name)						\
int name(int fd)						\
{								\
	static int (*real)(int);				\
	slow();							\
	if (real == NULL)					\
		real = (int (*)(int))dlsym(RTLD_NEXT, #name);	\
	return real(fd);					\
}
WRAP(fsync)
WRAP(fdatasync)
WRAP(syncfs)
"""


def build_slow_sync_shim(tmpdir):
    """Compile SLOW_SYNC_C into tmpdir; its path, or Skip without cc."""
    cc = next(filter(None, map(shutil.which, ("cc", "gcc", "clang"))), None)
    if cc is None:
        raise Skip("no C compiler for the LD_PRELOAD shim")
    src, so = os.path.join(tmpdir, "slowsync.c"), \
        os.path.join(tmpdir, "slowsync.so")
    with open(src, "w") as f:
        f.write(SLOW_SYNC_C)
    subprocess.run([cc, "-shared", "-fPIC", "-o", so, src, "-ldl"],
                   check=True, timeout=60)
    return so


def slow_sync_server(tmpdir, **kw):
    """A durable-mode WrappedServer whose every sync takes 2 s (the shim
    built in tmpdir, preloaded; ASan told to accept the preload)."""
    so = build_slow_sync_shim(tmpdir)
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan += (":" if asan else "") + "verify_asan_link_order=0"
    env = ["env", "LD_PRELOAD=" + so, "MXD_TEST_SLOW_SYNC=2",
           "ASAN_OPTIONS=" + asan]
    return WrappedServer(lambda srv: env, spool_sync="yes", **kw)


def test_slow_fsync_does_not_stall_others():
    """durable mode with every fsync taking 2 s: while one session waits
    for its 250, another gets 220, EHLO and NOOP at once"""
    with tempfile.TemporaryDirectory(prefix="mxdtest.shim.") as d:
        srv = slow_sync_server(d)
        with srv, srv.client(timeout=15) as a:
            a.expect("EHLO a", 250)
            a.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
            a.expect("RCPT TO:<u@d.e>", 250, "2.1.5")
            check(a.cmd("DATA"), 354)
            msg = simple_message("slow sync")
            t0 = time.monotonic()
            a.send(msg + b".\r\n")
            time.sleep(0.3)             # mxd reads the dot, starts syncing
            assert_eq(a.pending(0.01), b"", "A's reply before the sync")
            t1 = time.monotonic()
            with srv.client(timeout=10) as b:
                b.expect("EHLO b", 250)
                b.expect("NOOP", 250, "2.0.0")
            took = time.monotonic() - t1
            assert took < 0.5, "B's 220, EHLO, NOOP took %.2fs" % took
            assert_eq(a.pending(0.01), b"", "A's reply when B was done")
            qid = queued_qid(a.reply(timeout=15))
            waited = time.monotonic() - t0
            assert waited >= 1.5, "A's 250 after %.2fs: shim not in effect" \
                % waited
            assert_eq(srv.eml(qid).body, msg, "stored message")


def commit_then(close, pipelined, reason):
    """Send one message (and `pipelined` behind its dot) to a durable mxd
    whose syncs take 2 s, then close(client) while mxd makes it durable;
    check that the message is stored and logged as queued before the
    session's end, for `reason`.  Returns what close() returned."""
    with tempfile.TemporaryDirectory(prefix="mxdtest.shim.") as d:
        srv = slow_sync_server(d)
        with srv, srv.client(timeout=15) as a:
            a.expect("EHLO a", 250)
            a.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
            a.expect("RCPT TO:<u@d.e>", 250, "2.1.5")
            check(a.cmd("DATA"), 354)
            msg = simple_message("closed while committing")
            a.send(msg + b".\r\n" + pipelined)
            got = close(a)
            m = srv.wait_log(r"disconnect client=\S+ reason=(\S+) .*"
                             r"qids=(\S+)")
            assert_eq(m.group(1), reason, "disconnect reason")
            qid = m.group(2)
            assert_eq(srv.eml(qid).body, msg, "stored message")
            log = srv.log_text()
            assert log.index("qid=%s from=<a@b.c>" % qid) < \
                log.index(m.group(0)), \
                "queued after disconnect:\n" + srv.log_tail()
            return got


def test_half_close_while_committing():
    """durable mode, syncs taking 2 s: a client that pipelines RSET and QUIT
    behind its message and half-closes while mxd makes it durable gets the
    250 with the queue ID, the RSET's 250 and the 221; the session logs
    the message as queued, then ends with reason=quit"""
    def half_close(c):
        c.sock.shutdown(socket.SHUT_WR)
        got = [c.reply(timeout=15) for _ in range(3)]
        assert_eq(c.pending(5), b"", "after the 221")
        assert c.eof, "mxd did not close after the 221"
        return got
    got = commit_then(half_close, b"RSET\r\nQUIT\r\n", "quit")
    assert_eq([r[0] for r in got], [250, 250, 221], "replies")
    queued_qid(got[0])


def test_reset_while_committing():
    """durable mode, syncs taking 2 s: a client that resets the connection
    while mxd makes its message durable still has it queued and logged,
    and the session ends with reason=error"""
    def reset(c):
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
    commit_then(reset, b"", "error")


if __name__ == "__main__":
    run(globals())
