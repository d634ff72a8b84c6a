"""
t_valgrind.py: a normal session (and a STARTTLS-less error path) under
valgrind's memcheck: no invalid access, no uninitialised use, no leak at
exit.  Skipped for sanitizer builds, which valgrind cannot run.
"""

import shutil
import smtplib

from mxdtest import Server, Skip, mxd_path, run, simple_message, assert_eq


def instrumented():
    with open(mxd_path(), "rb") as f:
        return b"__asan_init" in f.read()


class ValgrindServer(Server):
    def command(self, port):
        return ["valgrind", "-q", "--vgdb=no", "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect"] + \
            Server.command(self, port)


def test_session_memcheck():
    """smtplib and raw errors under memcheck; mxd exits 0 on SIGTERM (99
    would mean memcheck found errors or leaks)"""
    if shutil.which("valgrind") is None:
        raise Skip("valgrind missing")
    if instrumented():
        raise Skip("sanitizer build")
    srv = ValgrindServer()
    srv.start()
    try:
        s = smtplib.SMTP("127.0.0.1", srv.port, timeout=30)
        s.sendmail("a@b.c", ["u@d.e", "v@d.e"],
                   simple_message("valgrind", "..x\r\nbody\r\n"))
        s.quit()
        with srv.client(timeout=30) as c:
            c.expect("EHLO x", 250)
            c.expect("MAIL FROM:<bad", 501)
            c.expect("RCPT TO:<a@b.c>", 503)
            c.send(b"X" * 2000 + b"\r\n")
            c.reply(timeout=30)
            c.mail_tx("a@b.c", ["u@d.e"], simple_message("two"))
            c.expect("MAIL FROM:<a@b.c>", 250)
            c.expect("RCPT TO:<u@d.e>", 250)
            c.expect("DATA", 354)
            c.send(b"half a message")
        assert_eq(len(srv.messages()), 2, "messages")
    finally:
        rc = srv.stop(timeout=60)
    assert_eq(rc, 0, "mxd exit status under valgrind (log: %s)" %
              srv.log_tail(40))


if __name__ == "__main__":
    run(globals())
