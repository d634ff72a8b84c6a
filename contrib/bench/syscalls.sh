#!/bin/bash
# syscalls.sh: system calls per message, mxd against Postfix and
# smtp-sink, counted with strace -c -f.  A diagnostic to go with bench.sh
# (strace slows every server down a lot, so its rates mean nothing).
#
#   contrib/bench/syscalls.sh [-n messages] [-s sessions] [-l size] [--plain]
#
# Defaults: 2000 messages of 1024 octets over 10 sessions, pipelined
# (smtp-pipe -P); --plain uses smtp-source -d instead.  For Postfix the
# master and every daemon under it are traced, including the ones it
# starts during the run.  Prints a Markdown table.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

n=2000 s=10 size=1024 plain=0
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift ;;
	-s) s=$2; shift ;;
	-l) size=$2; shift ;;
	--plain) plain=1 ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "syscalls.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
FROM=from@client.test TO=to@bench.test HELO=client.test

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, Postfix's master)"
bench_install strace
bench_workdir
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_build
pf_setup

client() {  # port
	if [ $plain = 1 ]; then
		timeout 600 smtp-source -d -s "$s" -m "$n" -l "$size" -f $FROM \
		    -t $TO -M $HELO 127.0.0.1:"$1"
	else
		timeout 600 "$PIPE" -P -s "$s" -m "$n" -l "$size" -f $FROM \
		    -t $TO -M $HELO 127.0.0.1:"$1" 2>/dev/null
	fi
}

trace() {  # name port pid...: trace the pids while the client runs
	local name=$1 port=$2 p args=() st
	shift 2
	for p in "$@"; do args+=(-p "$p"); done
	strace -c -f -o "$work/strace-$name.txt" "${args[@]}" 2>/dev/null &
	st=$!
	sleep 1
	log "$name: $n messages"
	client "$port"
	sleep 0.5
	kill -INT $st
	wait $st 2>/dev/null || true
}

mxd_start "$work/spool-mxd"
trace mxd "$MPORT" "$mxd_pid"     # -f: both of mxd's threads
mxd_stop
mxd_start "$work/spool-nosync" -o spool_sync=no
trace mxd-nosync "$MPORT" "$mxd_pid"
mxd_stop
pf_start
# shellcheck disable=SC2046
trace postfix "$PFPORT" $(python3 -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import bench; print(" ".join(map(str, bench.tree(int(sys.argv[2])))))' "$here" "$pf_master")
pf_stop
sink_start
trace sink "$SPORT" "$sink_pid"
sink_stop

python3 "$here/bench.py" syscalls --messages "$n" \
    --title "$n messages of $size octets, $s sessions, $([ $plain = 1 ] &&
    echo "plain (smtp-source -d)" || echo "pipelined (smtp-pipe -P)")" \
    mxd="$work/strace-mxd.txt" "mxd spool_sync=no=$work/strace-mxd-nosync.txt" \
    Postfix="$work/strace-postfix.txt" smtp-sink="$work/strace-sink.txt"
