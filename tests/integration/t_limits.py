"""
t_limits.py: the bounds of issue 4: connections in total and per client,
errors and messages per session, timeouts (idle, slow drip, DATA),
early talkers, and a clean stop on SIGTERM that lets DATA finish.
"""

import socket
import time

from mxdtest import (Client, ProtocolError, Server, Skip, check, queued_qid, run,
                     simple_message, wait_until, assert_eq, assert_in)


def connect_raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def test_per_ip_limit():
    """max_connections_per_ip: the next client gets 421 4.7.0 at once"""
    with Server(max_connections_per_ip=3, trusted_networks="") as srv:
        held = [srv.client() for _ in range(3)]
        extra = srv.client(greeting=False)
        check(extra.reply(), 421, "4.7.0")
        assert extra.wait_closed(), "the refused client was not closed"
        held[0].expect("QUIT", 221, "2.0.0")
        wait_until(lambda: "reason=quit" in srv.log_text(),
                   what="first client gone")
        with srv.client() as again:
            again.expect("EHLO x", 250)
        for c in held:
            c.close()
        srv.wait_log(r"refused client=\[127\.0\.0\.1\] "
                     r"reason=too-many-connections")


def test_loopback_trusted_by_default():
    """defaults: 100 parallel clients from 127.0.0.1 are all greeted
    (loopback is in trusted_networks, exempt from the per-address cap),
    and one session sends past max_messages_per_session"""
    with Server(max_messages_per_session=3) as srv:
        held = []
        try:
            for _ in range(100):
                held.append(srv.client())
        finally:
            for c in held:
                c.close()
        with srv.client() as c:
            c.expect("EHLO x", 250)
            qids = [c.mail_tx("a@b.c", ["u@d.e"], simple_message("n%d" % i))
                    for i in range(5)]
        assert_eq(sorted(srv.messages()), sorted(qids), "queued")


def test_trusted_networks_cidr():
    """trusted_networks=127.0.0.1/32: a client from 127.0.0.2 is held to
    both caps, one from 127.0.0.1 is not (test_total_limit: the global
    cap holds for trusted clients too)"""
    with Server(trusted_networks="127.0.0.1/32 [::1]/128",
                max_connections_per_ip=2, max_messages_per_session=1) as srv:
        two = [srv.client(source="127.0.0.2") for _ in range(2)]
        extra = srv.client(source="127.0.0.2", greeting=False)
        check(extra.reply(), 421, "4.7.0", "third from 127.0.0.2")
        extra.close()
        c = two[0]
        c.expect("EHLO x", 250)
        c.mail_tx("a@b.c", ["u@d.e"], simple_message("one"))
        c.expect("MAIL FROM:<a@b.c>", 421, "4.7.0")
        ones = [srv.client() for _ in range(3)]
        c = ones[0]
        c.expect("EHLO x", 250)
        for i in range(3):
            c.mail_tx("a@b.c", ["u@d.e"], simple_message("t%d" % i))
        for c in two + ones:
            c.close()


def test_total_limit():
    """max_connections: the session cap counts every client"""
    with Server(max_connections=2) as srv:
        a, b = srv.client(), srv.client()
        c = srv.client(greeting=False)
        check(c.reply(), 421, "4.7.0")
        assert c.wait_closed()
        a.close()
        b.close()


def test_max_errors():
    """max_errors: after that many error replies, 421 4.7.0 and close"""
    with Server(max_errors=3) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("FOO", 500, "5.5.2")
        c.expect("RCPT TO:<a@b.c>", 503, "5.5.1")
        c.send(b"BAR\r\n")
        check(c.reply(), 500, "5.5.2")
        check(c.reply(), 421, "4.7.0")
        assert c.wait_closed(), "not closed after too many errors"


def test_recipients_past_limit_are_not_errors():
    """an smtplib client sending 121 recipients with the defaults
    (max_recipients=100, max_errors=20) gets 100 x 250 and 21 x 452 4.5.3,
    stays connected, and its message is queued for the first 100: the 452s
    of RFC 5321 4.5.3.1.10 are not the client's errors"""
    import smtplib
    rcpts = ["r%d@example.org" % i for i in range(121)]
    with Server() as srv:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            refused = c.sendmail("a@b.c", rcpts, simple_message("many"))
            assert_eq(sorted(refused), sorted(rcpts[100:]), "refused")
            assert_eq({v[0] for v in refused.values()}, {452}, "codes")
            assert_eq(c.noop()[0], 250, "NOOP after the message")
        qids = list(srv.messages())
        assert_eq(len(qids), 1, "messages queued")
        assert_eq(srv.eml(qids[0]).recipients, rcpts[:100], "recipients")


def test_junk_commands_count_as_errors():
    """past 100 NOOP/VRFY/RSET in a session, each one counts toward
    max_errors: a client looping NOOP to hold a slot is closed"""
    with Server(max_errors=3) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.send(b"NOOP\r\n" * 60 + b"RSET\r\n" * 20 + b"VRFY u\r\n" * 20)
        for i in range(60):
            check(c.reply(), 250, "2.0.0")
        for i in range(40):
            check(c.reply(), 250 if i < 20 else 252)
        # 101st, 102nd: still 250, counted; the 103rd reaches max_errors.
        c.expect("NOOP", 250, "2.0.0")
        c.expect("NOOP", 250, "2.0.0")
        c.send(b"NOOP\r\n")
        check(c.reply(), 250, "2.0.0")
        check(c.reply(), 421, "4.7.0")
        assert c.wait_closed(), "not closed after junk commands"


def test_out_of_descriptors():
    """under a descriptor limit of 48 (prlimit), 60 clients at once each
    get 220 or 421 4.3.2, none is left unanswered; once they leave, a
    client is served and its message queued"""
    import shutil
    from t_faults import WrappedServer
    if shutil.which("prlimit") is None:
        raise Skip("no prlimit")
    srv = WrappedServer(lambda srv: ["prlimit", "--nofile=48:48"],
                        max_connections_per_ip=1000)
    with srv:
        socks, greetings = [], []
        for i in range(60):
            socks.append(connect_raw(srv.port))
        for sock in socks:
            sock.settimeout(30)
            data = b""
            while not data.endswith(b"\r\n"):
                got = sock.recv(512)
                assert got, "closed without a reply: %r" % data
                data += got
            greetings.append(data[:9])
        for sock in socks:
            sock.close()
        assert_eq(set(greetings), {b"220 mx.te", b"421 4.3.2"}, "greetings")
        srv.wait_log(r"out of file descriptors; refused \d+ client")
        for i in range(50):
            try:
                c = Client(srv.port)  # reads a 220 or raises
            except ProtocolError:
                time.sleep(0.1)
                continue
            with c:
                c.expect("EHLO x", 250)
                qid = c.mail_tx("a@b.c", ["u@d.e"], simple_message("ok"))
            break
        else:
            raise AssertionError("no 220 after the clients left")
        assert_in(qid, srv.messages(), "queue")


def test_max_messages_per_session():
    """max_messages_per_session: the next MAIL gets 421 4.7.0"""
    with Server(max_messages_per_session=2, trusted_networks="") as srv, \
            srv.client() as c:
        c.expect("EHLO x", 250)
        q1 = c.mail_tx("a@b.c", ["u@d.e"], simple_message("one"))
        q2 = c.mail_tx("a@b.c", ["u@d.e"], simple_message("two"))
        c.expect("MAIL FROM:<a@b.c>", 421, "4.7.0")
        assert c.wait_closed()
        assert_eq(sorted(srv.messages()), sorted([q1, q2]), "queued")


def test_pregreet_rejected():
    """greet_delay: a client that talks first gets 554 5.5.0 and is closed;
    a patient one is greeted"""
    with Server(greet_delay=1) as srv:
        rude = srv.client(greeting=False)
        rude.send(b"EHLO early\r\n")
        check(rude.reply(), 554, "5.5.0")
        assert rude.wait_closed()
        srv.wait_log(r"pregreet client=\[127\.0\.0\.1\]:\d+ octets=12 "
                     r"rejected")
        t0 = time.monotonic()
        with srv.client(greeting=False) as polite:
            check(polite.reply(timeout=5), 220)
            assert time.monotonic() - t0 >= 0.9, "greeting came early"
            polite.expect("EHLO x", 250)
        assert_eq(srv.messages(), {}, "queue")


def test_pregreet_logged_only():
    """pregreet_reject=no: the early command is logged, then answered
    after the greeting"""
    with Server(greet_delay=1, pregreet_reject="no") as srv:
        c = srv.client(greeting=False)
        c.send(b"NOOP\r\n")
        check(c.reply(timeout=5), 220)
        check(c.reply(), 250, "2.0.0")
        srv.wait_log(r"pregreet client=\[127\.0\.0\.1\]:\d+ octets=6$")
        c.close()


def test_idle_timeout():
    """command_timeout: an idle client gets 421 4.4.2 and is closed"""
    with Server(command_timeout=1) as srv, srv.client() as c:
        t0 = time.monotonic()
        check(c.reply(timeout=5), 421, "4.4.2")
        assert c.wait_closed()
        assert time.monotonic() - t0 < 4


def test_slow_drip():
    """a command line dripped one octet at a time still has to be complete
    within command_timeout (slowloris)"""
    with Server(command_timeout=1) as srv, srv.client() as c:
        t0 = time.monotonic()
        got = None
        for ch in b"EHLO " + b"x" * 60:
            try:
                c.send(bytes([ch]))
            except OSError:
                break
            time.sleep(0.1)
            if c.pending(0.01):
                got = c.reply()
                break
            if time.monotonic() - t0 > 6:
                break
        assert got is not None, "the dripping client was never answered"
        check(got, 421, "4.4.2")
        assert time.monotonic() - t0 < 4.5, "dripper kept for too long"
        srv.wait_log(r"slow command line client=")


def test_data_timeout():
    """data_timeout: a client that stops mid-DATA gets 421; nothing kept"""
    with Server(data_timeout=1) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: half\r\n\r\nhalf a message\r\n")
        check(c.reply(timeout=5), 421, "4.4.2")
        assert c.wait_closed()
        wait_until(lambda: srv.unfinished_files() == [], what="pool/ clean")
        assert_eq(srv.messages(), {}, "queue")


def test_slow_drip_in_data():
    """data_min_rate: a client dripping one octet every 0.5 s after DATA
    (never silent for data_timeout=2) gets 421 4.4.2 soon after 2 s of
    message time; nothing is kept"""
    with Server(data_timeout=2) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        start = time.monotonic()
        for i in range(20):
            c.send(b"x")
            if c.pending(0.5):
                break
        took = time.monotonic() - start
        check(c.reply(timeout=1), 421, "4.4.2")
        assert 1.5 < took < 5, "dropped after %.1f s" % took
        assert c.wait_closed()
        wait_until(lambda: srv.unfinished_files() == [], what="pool/ clean")
        assert_eq(srv.messages(), {}, "queue")
        srv.wait_log(r"slow data")


def test_slow_steady_data_kept():
    """a client sending 2 000 octets a second (above data_min_rate=500)
    for twice data_timeout is not cut off: its message is queued"""
    with Server(data_timeout=2) as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: steady\r\n\r\n")
        line = b"y" * 198 + b"\r\n"
        for i in range(40):
            c.send(line)
            time.sleep(0.1)
        c.send(b".\r\n")
        qid = queued_qid(c.reply(timeout=5))
        assert_eq(srv.eml(qid).body.count(line), 40, "body lines")


def test_sigterm_lets_data_finish():
    """SIGTERM: idle sessions get 421 4.3.2 at once; a message in DATA may
    finish (250, then 421); mxd exits 0"""
    with Server(shutdown_grace=5) as srv:
        busy, idle = srv.client(), srv.client()
        busy.expect("EHLO x", 250)
        busy.expect("MAIL FROM:<a@b.c>", 250)
        busy.expect("RCPT TO:<u@d.e>", 250)
        busy.expect("DATA", 354)
        busy.send(b"Subject: late\r\n\r\nfirst half\r\n")
        srv.terminate()
        check(idle.reply(), 421, "4.3.2")
        assert idle.wait_closed()
        time.sleep(0.3)
        busy.send(b"second half\r\n.\r\n")
        qid = queued_qid(busy.reply())
        check(busy.reply(), 421, "4.3.2")
        assert_eq(srv.stop(), 0, "exit status")
        assert_in(b"first half\r\nsecond half\r\n", srv.message(qid),
                  "the finished message")
        try:
            Client(srv.port, timeout=1)
            raise AssertionError("still accepting after SIGTERM")
        except OSError:
            pass


def test_sigterm_grace_expires():
    """a message still in DATA when shutdown_grace runs out is dropped,
    never half-queued"""
    with Server(shutdown_grace=1) as srv:
        c = srv.client()
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@d.e>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: never\r\n\r\nnever finished\r\n")
        t0 = time.monotonic()
        assert_eq(srv.stop(), 0, "exit status")
        assert time.monotonic() - t0 < 5
        assert_eq(srv.messages(), {}, "queue")
        assert_eq(srv.unfinished_files(), [], "pool/")
        c.close()


def test_output_flood_bounded():
    """a client that pipelines thousands of commands without reading is
    paused (backpressure), then answered in full once it reads"""
    with Server() as srv:
        c = srv.client(rcvbuf=4096)
        n = 20000
        c.sock.settimeout(10)
        # HELO, not NOOP: past 100 NOOPs each would count as an error.
        c.send(b"HELO x\r\n" * n)
        time.sleep(0.5)
        got = 0
        for _ in range(n):
            check(c.reply(timeout=10), 250)
            got += 1
        assert_eq(got, n, "replies")
        c.expect("QUIT", 221)
        c.close()


if __name__ == "__main__":
    run(globals())
