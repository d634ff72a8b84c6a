"""
t_faults.py: nothing lost, nothing half-written.  A full disk and a file
size limit turn into 452/451 with nothing left behind and the server
still serving; kill -9 in the middle of many transactions loses no
message that got its 250 and leaves no partial message in queue/; a
restart empties the leftovers in pool/.
"""

import os
import shutil
import signal
import subprocess
import threading
import time

from mxdtest import (Server, Skip, check, pool_files, pool_leftovers,
                     queued_qid, run, simple_message, assert_eq, assert_in,
                     wait_until, mxd_path)


class WrappedServer(Server):
    """A Server whose mxd runs under a wrapper command (prefix)."""

    def __init__(self, prefix, **kw):
        Server.__init__(self, **kw)
        self.prefix = prefix

    def command(self, port):
        return self.prefix(self) + Server.command(self, port)


def big_body(n):
    line = b"x" * 76 + b"\r\n"
    return simple_message("big", (line * (n // len(line) + 1)).decode())


def tmpfs_prefix(srv):
    os.makedirs(srv.spool, exist_ok=True)
    return ["unshare", "-m", "sh", "-c",
            'mount -t tmpfs -o size=256k mxdtest "$0" && exec "$@"',
            srv.spool]


def can_mount_tmpfs():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    d = "/tmp/mxdtest-mnt-probe"
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        "mount -t tmpfs -o size=64k x %s" % d],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.rmdir(d)
    return r.returncode == 0


def test_disk_full():
    """ENOSPC (a 256 KiB tmpfs spool): 452 4.3.1 at the end of DATA, no
    message left in pool/ or queue/, and the next small message is
    queued"""
    if not can_mount_tmpfs():
        raise Skip("cannot mount a tmpfs in a private mount namespace")
    with WrappedServer(tmpfs_prefix) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        c.send(big_body(600 * 1024) + b".\r\n")
        check(c.reply(timeout=10), 452, "4.3.1")
        # Files live in the server's mount namespace: ask it via /proc.
        root = "/proc/%d/root%s" % (srv.proc.pid, srv.spool)
        assert_eq(pool_leftovers(root), [], "pool/ after ENOSPC")
        assert_eq(os.listdir(root + "/queue"), [], "queue/ after ENOSPC")
        qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("small"))
        with open(root + "/queue/%s.eml" % qid, "rb") as f:
            assert_in(b"Subject: small", f.read(), "the small message")
        srv.wait_log(r"rejected size=\d+ reason=No space left on device")


def fsize_prefix(srv):
    return ["prlimit", "--fsize=65536", "--"]


def test_file_size_limit():
    """a write error that is not ENOSPC (EFBIG under RLIMIT_FSIZE): 451
    4.3.0, nothing left behind, the server keeps serving"""
    if shutil.which("prlimit") is None:
        raise Skip("prlimit missing")
    with WrappedServer(fsize_prefix) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        c.send(big_body(200 * 1024) + b".\r\n")
        check(c.reply(timeout=10), 451, "4.3.0")
        assert_eq(srv.unfinished_files(), [], "pool/")
        assert_eq(srv.messages(), {}, "queue/")
        qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("small"))
        assert_in(b"Subject: small", srv.message(qid), "small message")
        assert srv.alive()


def sender(port, i, body, results, stall):
    """One client: a message; `stall` ones stop halfway through DATA."""
    from mxdtest import Client
    try:
        with Client(port, timeout=10) as c:
            c.expect("EHLO c%d" % i, 250)
            c.expect("MAIL FROM:<s%d@b.c>" % i, 250)
            c.expect("RCPT TO:<u%d@d.e>" % i, 250)
            c.expect("DATA", 354)
            if stall:
                c.send(body[:len(body) // 2])
                results[i] = "stalled"
                time.sleep(30)
                return
            c.send(body + b".\r\n")
            results[i] = queued_qid(c.reply(timeout=10))
    except Exception as e:          # killed server: expected for some
        results.setdefault(i, "error: %s" % e)


def test_kill9_loses_nothing():
    """kill -9 with 40 clients mid-flight: every 250 is on disk whole, no
    partial message is in queue/, a restart cleans pool/"""
    srv = Server(max_connections_per_ip=100)
    srv.start()
    n = 40
    results = {}
    bodies = {}
    threads = []
    for i in range(n):
        bodies[i] = simple_message("kill %d" % i,
                                   ("line %d\r\n" % i) * (200 + 50 * i))
        t = threading.Thread(target=sender, daemon=True,
                             args=(srv.port, i, bodies[i], results,
                                   i % 4 == 0))
        threads.append(t)
        t.start()
    wait_until(lambda: len(results) >= n, timeout=20, what="all clients")
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.stopped = True
    srv.rc = 0
    queued = {i: q for i, q in results.items() if len(q) == 16}
    assert len(queued) >= n // 2, "too few messages queued: %r" % results
    msgs = srv.messages()
    for i, qid in queued.items():
        assert qid in msgs, "250 for %s but no file" % qid
        assert msgs[qid].endswith(bodies[i]), "message %s incomplete" % qid
    assert_eq(sorted(msgs), sorted(queued.values()),
              "queue/ holds exactly the acknowledged messages")
    stalled = [i for i, q in results.items() if q == "stalled"]
    assert_eq(len(stalled), n // 4, "stalled clients (%r)" % results)
    # The stalled messages' files (and spare files) are still in pool/,
    # with one link: empty, or holding what was written of the message.
    assert sum(1 for st in pool_files(srv.spool).values()
               if st.st_nlink == 1) >= n // 4, \
        "unfinished files missing from pool/"
    had_data = srv.unfinished_files()
    # Restart on the same spool: leftovers go, the queue stays.
    again = Server(spool=srv.spool)
    with again:
        if had_data:
            again.wait_log(r"spool: emptied %d unfinished or removed "
                           r"files? in pool/" % len(had_data))
        assert_eq(again.unfinished_files(), [], "pool/ after restart")
        assert_eq(sorted(again.messages()), sorted(queued.values()),
                  "queue after restart")
        with again.client() as c:
            c.expect("EHLO x", 250)
            c.mail_tx("a@b.c", ["u@d.e"], simple_message("after"))


def test_kill9_during_commit():
    """kill -9 while ten messages are being made durable (a preloaded
    shim makes every sync take 2 s): none had its 250; whatever reached
    queue/ is complete; a restart clears pool/, keeps queue/, serves"""
    import tempfile
    from t_spool import slow_sync_server
    with tempfile.TemporaryDirectory(prefix="mxdtest.shim.") as d:
        srv = slow_sync_server(d)
        srv.start()
        clients, bodies = [], []
        for i in range(10):
            c = srv.client(timeout=15)
            c.expect("EHLO x", 250)
            c.expect("MAIL FROM:<a@b.c>", 250)
            c.expect("RCPT TO:<u@d.e>", 250)
            check(c.cmd("DATA"), 354)
            bodies.append(simple_message("commit %d" % i,
                                         ("line %d\r\n" % i) * 300))
            c.send(bodies[-1] + b".\r\n")
            clients.append(c)
        time.sleep(0.5)
        for c in clients:
            assert_eq(c.pending(0.01), b"", "a reply before the kill")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=10)
        srv.stopped = True
        srv.rc = 0
        for c in clients:
            c.close()
        msgs = srv.messages()
        for qid, data in msgs.items():
            assert any(data.endswith(b) for b in bodies), \
                "queue/%s.eml is incomplete" % qid
        again = Server(spool=srv.spool)
        with again:
            assert_eq(again.unfinished_files(), [], "pool/ after restart")
            assert_eq(sorted(again.messages()), sorted(msgs),
                      "queue after restart")
            with again.client() as c:
                c.expect("EHLO x", 250)
                c.mail_tx("a@b.c", ["u@d.e"], simple_message("after"))


def test_disconnect_mid_data_many():
    """20 clients that vanish mid-DATA leave nothing in pool/ or queue/"""
    from mxdtest import Client
    with Server() as srv:
        for i in range(20):
            c = Client(srv.port)
            c.expect("EHLO x", 250)
            c.expect("MAIL FROM:<a@b.c>", 250)
            c.expect("RCPT TO:<u@d.e>", 250)
            c.expect("DATA", 354)
            c.send(b"Subject: gone\r\n\r\n" + b"y" * (i * 1000))
            c.close()
        wait_until(lambda: srv.log_text().count("lost connection in DATA")
                   == 20, what="20 lost-connection lines")
        assert_eq(srv.unfinished_files(), [], "pool/")
        assert_eq(srv.messages(), {}, "queue/")


if __name__ == "__main__":
    run(globals())
