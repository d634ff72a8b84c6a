"""
t_stress.py: hundreds of parallel clients, good and hostile mixed (long
lines, NUL bytes, smuggling attempts, binary garbage, early disconnects,
pipelined floods), bounded in time.  Afterwards the server still takes a
normal message, every accepted message is on disk byte for byte, and
nothing is left in pool/.
"""

import asyncio
import random
import re

from mxdtest import Server, run, simple_message, assert_eq, wait_until

CLIENTS = 300
DEADLINE = 60


async def read_reply(r):
    """One whole reply: (code, text)."""
    lines = []
    for _ in range(100):
        line = await r.readline()
        if not line:
            raise ConnectionError("closed")
        lines.append(line)
        if len(line) >= 4 and line[3:4] != b"-":
            return int(line[:3]), b"".join(lines)
    raise ConnectionError("too many lines")


async def good(port, i, sent):
    """A normal message with a body unique to i."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        await read_reply(r)
        body = simple_message("stress %d" % i,
                              "".join("line %d.%d\r\n" % (i, k)
                                      for k in range(random.randint(1, 300))))
        body += b"..dot %d\r\n" % i
        w.write(b"EHLO good%d\r\nMAIL FROM:<g%d@b.c>\r\nRCPT TO:<u@d.e>\r\n"
                b"DATA\r\n" % (i, i))
        for _ in range(4):
            code, _ = await read_reply(r)
        assert code == 354, code
        w.write(body + b".\r\nQUIT\r\n")
        code, text = await read_reply(r)
        assert code == 250, text
        qid = re.search(rb"queued as ([0-9A-F]{16})", text).group(1)
        sent[qid.decode()] = body.replace(b"\r\n..dot", b"\r\n.dot")
    finally:
        w.close()


async def hostile(port, i):
    """One of several kinds of abuse; any reply or a close is fine."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    kind = i % 6
    try:
        await read_reply(r)
        if kind == 0:
            w.write(b"EHLO " + b"A" * 20000 + b"\r\nNOOP\r\n")
        elif kind == 1:
            w.write(b"EHLO x\r\nMAIL FROM:<a\x00b@c.d>\r\nRC\x00PT\r\n")
        elif kind == 2:
            w.write(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<u@d.e>\r\n"
                    b"DATA\r\n")
            await asyncio.sleep(0.05)
            w.write(b"x\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@d.e>\r\n"
                    b"DATA\r\nsmuggled\r\n")
            return          # vanish mid-DATA: nothing may be kept
        elif kind == 3:
            w.write(bytes(random.getrandbits(8) for _ in range(3000)))
        elif kind == 4:
            w.write(b"NOOP\r\n" * 2000)
        else:
            w.write(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<u@d.e>\r\n"
                    b"DATA\r\nSubject: cut\r\n\r\nhalf")
            return
        await w.drain()
        try:
            await asyncio.wait_for(r.read(1 << 20), 2)
        except asyncio.TimeoutError:
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def storm(port, sent):
    sem = asyncio.Semaphore(200)

    async def one(i):
        async with sem:
            if i % 3 == 0:
                await good(port, i, sent)
            else:
                await hostile(port, i)
    results = await asyncio.wait_for(
        asyncio.gather(*(one(i) for i in range(CLIENTS)),
                       return_exceptions=True), DEADLINE)
    return [r for r in results if isinstance(r, BaseException)]


def test_storm():
    """300 clients, a third good and the rest hostile: every good one gets
    its 250, each stored message is exact, the server keeps working"""
    random.seed(5321)
    with Server(max_connections_per_ip=1000, max_connections=1000) as srv:
        sent = {}
        errors = asyncio.run(storm(srv.port, sent))
        assert_eq(errors, [], "good clients that failed")
        assert_eq(len(sent), CLIENTS // 3, "accepted messages")
        msgs = wait_until(lambda: len(srv.messages()) == len(sent) and
                          srv.messages(), what="all messages on disk")
        for qid, body in sent.items():
            assert msgs[qid].endswith(body), "message %s differs" % qid
        for m in msgs.values():
            assert b"smuggled" not in m and b"evil@x" not in m
        with srv.client() as c:
            c.expect("EHLO after", 250)
            c.mail_tx("a@b.c", ["u@d.e"], simple_message("after the storm"))
        wait_until(lambda: srv.unfinished_files() == [], what="pool/ clean")
        assert srv.alive()


if __name__ == "__main__":
    run(globals())
