"""
mxdtest.deliverlog: the delivery log line's timing fields, as Postfix
writes them: delay=TOTAL delays=a/b/c/d in seconds with two decimals
(a receipt, b in the queue, c connection set-up, d transmission).
"""

from .tap import assert_eq

# A regex for the fields; groups: delay, a, b, c, d.
DELAYS = (r"delay=(\d+\.\d\d) "
          r"delays=(\d+\.\d\d)/(\d+\.\d\d)/(\d+\.\d\d)/(\d+\.\d\d)")


def check_delays(m):
    """m: a match of a line with DELAYS in it, for a message with one
    mailbox.  The four parts add up to the total (each is cut to 0.01 s,
    so the sum may fall short of it by up to 0.05)."""
    total = float(m.group(m.re.groups - 4))
    parts = [float(m.group(m.re.groups - k)) for k in (3, 2, 1, 0)]
    assert_eq(abs(sum(parts) - total) <= 0.051, True,
              "delays %r add up to delay=%s: %r" % (parts, total,
                                                    m.group(0)))
