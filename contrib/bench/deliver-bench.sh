#!/bin/sh
# deliver-bench.sh: intake msgs/s with delivery to Dovecot over LMTP
# running vs delivery = keep, and end-to-end msgs/s from SMTP 250 to
# Dovecot's mailbox, beside a private Postfix delivering to the same
# Dovecot (virtual_transport = lmtp:...); then messages with -r
# recipients each, mxd with lmtp_recipient_limit 1 and 50 beside Postfix.
# Figures only, no assertions.
#
#   contrib/bench/deliver-bench.sh [-n MESSAGES] [-s SESSIONS] [-r RCPTS]
# Needs root and the Debian packages postfix and dovecot-lmtpd; builds
# mxd in build/ if it is not there.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x "$top/build/src/mxd" ]; then
	(cd "$top" && [ -x configure ] || autoreconf -fi)
	mkdir -p "$top/build"
	(cd "$top/build" && { [ -f Makefile ] || ../configure -q; } &&
	    make -s -j"$(nproc)")
fi
exec python3 "$top/contrib/bench/deliver-bench.py" \
    --mxd "$top/build/src/mxd" "$@"
