"""
mxdtest.listener: a scripted server on a loopback port, for the stores
and peers a test plays itself (an LMTP store that answers as told, one
that never answers).

    lst = Listener(handler, max_conns=100)   # handler(conn, n) per
    lst.port                                 # connection, on a thread
    lst.close()

close() stops the accepting thread *before* it closes the listening
socket: a thread left blocked in accept() on a closed descriptor takes
the connections of the next Listener, whose socket gets the same
descriptor number (the cause of the old flaky t_rcpt_lmtp failures).
Every connection is closed at close() too.  Standard library only.
"""

import socket
import threading

__all__ = ["Listener"]


class Listener:
    """Accept up to max_conns connections on 127.0.0.1; each goes to
    handler(conn, n) on a thread of its own (n counts from 1); handler
    None holds the connection open and says nothing."""

    def __init__(self, handler=None, max_conns=100, backlog=64):
        self.handler = handler
        self.max_conns = max_conns
        self.lock = threading.Lock()
        self.nconns = 0
        self.conns = []
        self.closed = False
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(backlog)
        self.port = self.ls.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        for _ in range(self.max_conns):
            try:
                conn, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    conn.close()
                    return
                self.nconns += 1
                n = self.nconns
                self.conns.append(conn)
            if self.handler is not None:
                threading.Thread(target=self.handler, args=(conn, n),
                                 daemon=True).start()

    def close(self):
        """Stop for good: the accepting thread, then the sockets."""
        with self.lock:
            self.closed = True
        try:
            self.ls.shutdown(socket.SHUT_RDWR)      # wakes accept()
        except OSError:
            pass
        self.acceptor.join(10)
        self.ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
