"""
t_privs.py: started as root, mxd binds, then runs as `user` before it
reads a client byte; it refuses to keep root; the spool belongs to the
user.  Skipped when the suite does not run as root.
"""

import os
import pwd

from mxdtest import Server, Skip, run, run_mxd, simple_message, assert_eq


def need_root():
    if os.geteuid() != 0:
        raise Skip("not running as root")


def proc_uids(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return []


def test_runs_as_nobody():
    """default user nobody: real, effective and saved uid are nobody's;
    the spool directories and each message belong to it"""
    need_root()
    nobody = pwd.getpwnam("nobody").pw_uid
    with Server() as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("owned"))
        assert_eq(set(proc_uids(srv.proc.pid)), {nobody}, "uids")
        for d in ("", "/pool", "/queue"):
            assert_eq(os.stat(srv.spool + d).st_uid, nobody, "owner " + d)
        assert_eq(os.stat("%s/queue/%s.eml" % (srv.spool, qid)).st_uid,
                  nobody, "message owner")
        assert_eq(os.stat("%s/queue/%s.eml" % (srv.spool, qid)).st_mode
                  & 0o777, 0o600, "message mode")
        srv.wait_log(r"running as user nobody \(uid %d" % nobody)


def test_refuses_root_user():
    """user = root is refused: mxd will not serve clients as root"""
    need_root()
    srv = Server(user="root")
    try:
        srv.start()
        raise AssertionError("mxd started with user=root")
    except Exception as e:
        if "started with" in str(e):
            raise
    assert "refusing to run as root" in srv.log_text(), srv.log_text()
    srv.stopped = True
    srv.rc = 0


def test_unknown_user():
    """an unknown user is a start-up error with a clear message"""
    need_root()
    srv = Server(user="no-such-user-mxd")
    try:
        srv.start()
        raise AssertionError("mxd started with an unknown user")
    except Exception as e:
        if "started with" in str(e):
            raise
    assert "no-such-user-mxd: no such user" in srv.log_text()
    srv.stopped = True
    srv.rc = 0


if __name__ == "__main__":
    run(globals())
