#!/usr/bin/env python3
"""
t_owner.py: one mxd owns a spool.  A second one started on the same spool
(on another port, or on the same one: what a newcomer does by running
`./contrib/dev.sh run` in a second terminal) is refused with a message
that names the spool and the running PID, and changes nothing: the first
one's spare files in pool/ stay, and it goes on queueing.  Read-only
`mxd -q` keeps working beside it; the lock goes with the process, even
after kill -9, and survives a reload.
"""

import os
import signal
import subprocess

from mxdtest import (Server, assert_eq, assert_in, free_port, mxd_path,
                     pool_files, run, run_mxd, simple_message, wait_until)


def spool_state(srv):
    """Every file under the spool with its inode: what a second mxd must
    not change."""
    out = {}
    d = os.path.join(srv.spool, "queue")
    for name in sorted(os.listdir(d)):
        out["queue/" + name] = os.stat(os.path.join(d, name)).st_ino
    for name, st in pool_files(srv.spool).items():
        out["pool/" + name] = st.st_ino
    return out


def second(srv, port):
    """Start a second mxd in the foreground on srv's spool; it must exit
    (not serve).  Returns (rc, stderr)."""
    p = subprocess.run([mxd_path(), "-f", "-o", "listen=127.0.0.1:%d" % port,
                        "-o", "spool_dir=%s" % srv.spool],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def send_one(srv, subject):
    with srv.client() as c:
        c.expect("EHLO owner.test", 250)
        return c.mail_tx("a@b.example", ["c@d.example"],
                         simple_message(subject))


def settled(srv):
    """The spool once the first mxd has made all its spare files (an idle
    mxd keeps 32 in pool/: the files the reported fault removed)."""
    def spares():
        return sum(1 for st in pool_files(srv.spool).values()
                   if st.st_nlink == 1)
    wait_until(lambda: spares() == 32, what="32 spare files")
    return spool_state(srv)


def test_second_on_another_port_refused():
    """a second mxd on another port: exit 1 naming the spool and PID;
    the first one's pool/ and queue/ unchanged, and it still queues"""
    with Server() as srv:
        qid = send_one(srv, "before")
        before = settled(srv)
        rc, err = second(srv, free_port())
        assert rc != 0, "second mxd started: %s" % err
        assert_in("spool %s is in use by another mxd (pid %d)" %
                  (srv.spool, srv.proc.pid), err, "refusal")
        assert_eq(spool_state(srv), before, "spool after the refusal")
        qid2 = send_one(srv, "after")
        assert_eq(srv.eml(qid2).body, simple_message("after"), "queued")
        assert srv.eml(qid) is not None


def test_second_on_same_port_refused():
    """the same command twice (same port, same spool): refused before
    it binds, the spool unchanged"""
    with Server() as srv:
        before = settled(srv)
        rc, err = second(srv, srv.port)
        assert rc != 0, "second mxd started"
        assert_in("in use by another mxd (pid %d)" % srv.proc.pid, err,
                  "refusal")
        assert_eq(spool_state(srv), before, "spool after the refusal")
        send_one(srv, "after")


def test_queue_list_beside_server():
    """`mxd -q` on the spool of a running mxd lists its messages"""
    with Server() as srv:
        qid = send_one(srv, "listed")
        rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
        assert_eq(rc, 0, "mxd -q exit: %s" % err)
        assert_in(qid, out, "mxd -q output")


def test_lock_survives_reload():
    """after SIGHUP the spool is still owned: a second mxd is refused"""
    with Server() as srv:
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reloaded configuration")
        rc, err = second(srv, free_port())
        assert rc != 0 and "in use by another mxd" in err, err
        send_one(srv, "after reload")


def test_kill9_frees_spool():
    """kill -9 of the owner: the next mxd takes the spool (the stale PID
    in the lock file is not a lock) and finds the queued message"""
    srv = Server().start()
    qid = send_one(srv, "kept")
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    srv.stopped = True
    srv.rc = 0
    with Server(spool=srv.spool) as srv2:
        assert_eq(srv2.eml(qid).body, simple_message("kept"), "message")
        send_one(srv2, "new owner")


if __name__ == "__main__":
    run(globals())
