#!/bin/sh
# rcpt-bench.sh: does a large recipient table slow RCPT?  Prints, for a
# table of 10 and of 100 000 users: the load time and lookups a second
# (rcpt-bench.c, linked against build/src/libmxd.a), and the RCPT round
# trip through a running mxd on loopback (median and 99th percentile
# of sequential RCPTs, half known users, half unknown).  Figures only:
# no test asserts a time.
#
#   contrib/bench/rcpt-bench.sh [BUILD_DIR]     (default: build)
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
work=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
chmod 755 "$work"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
pid=

cc -O2 -I"$top/src" -I"$build" -o "$work/rcpt-bench" \
    "$top/contrib/bench/rcpt-bench.c" "$build/src/libmxd.a" \
    $(pkg-config --libs libevent libidn2) -lpthread

for users in 10 100000; do
	awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++)
	    printf "user%d@example.test\n", i }' >"$work/table.$users"
	"$work/rcpt-bench" "$work/table.$users" "$users" 1000000

	port=$(python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$build/src/mxd" -f -o listen=127.0.0.1:"$port" \
	    -o spool_dir="$work/spool.$users" -o domains=example.test \
	    -o recipient_table="$work/table.$users" \
	    -o recipient_delimiter=+ -o max_recipients=100000 \
	    -o max_errors=10000 2>"$work/log.$users" &
	pid=$!
	python3 - "$port" "$users" <<'PY'
import socket, sys, time
port, users = int(sys.argv[1]), int(sys.argv[2])
for _ in range(500):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        break
    except OSError:
        time.sleep(0.01)
f = s.makefile("rb")
def cmd(line):
    if line:
        s.sendall(line.encode() + b"\r\n")
    while True:
        r = f.readline()
        if r[3:4] != b"-":
            return r
cmd(None)
cmd("EHLO bench.test")
cmd("MAIL FROM:<a@bench.test>")
lat, n = [], 4000
for i in range(n):
    addr = "user%d@example.test" % (i * 7919 % users) if i % 2 else \
        "nouser%d@example.test" % i
    t0 = time.perf_counter()
    r = cmd("RCPT TO:<%s>" % addr)
    lat.append(time.perf_counter() - t0)
    if r[:3] != (b"250" if i % 2 else b"550"):
        sys.exit("unexpected reply %r for %s" % (r, addr))
cmd("QUIT")
lat.sort()
print("entries=%d RCPT round trip over %d: median=%.1fus p99=%.1fus" %
      (users, n, lat[n // 2] * 1e6, lat[n * 99 // 100] * 1e6))
PY
	kill "$pid"
	wait "$pid" || true
	pid=
done
