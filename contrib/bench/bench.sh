#!/bin/bash
# bench.sh: mxd's benchmark against Postfix's smtpd and smtp-sink.
#
#   contrib/bench/bench.sh            full run (about 25 minutes); writes
#                                     the results into doc/performance.md
#   contrib/bench/bench.sh --quick    short run (under 4 minutes); prints
#                                     the results, leaves the doc alone
#
# Options: --doc FILE (write the results section into FILE, also with
# --quick), --no-doc, --keep (keep the work directory and its logs),
# --repeat N (run each cell N times against one server; default 3; with
# --quick 2, and the 100 KiB cells once), --dirty N (messages written
# and removed through each mxd spool before the dirty phase; default
# 100000, 10000 with --quick; 0 skips the phase).
# Environment: BENCH_DIR (where the work directory and the spools go;
# default /var/tmp, so that fsync reaches a disk and not tmpfs),
# BENCH_SECS and BENCH_WARMUP (measuring window and warm-up per cell),
# MXD (a prebuilt mxd binary instead of building the tree).
#
# Everything runs on 127.0.0.1 in a temporary directory: mxd (durable and
# spool_sync=no), a private Postfix instance (its own main.cf, master.cf,
# queue and data directories; the system's Postfix is never configured
# or started) and smtp-sink, driven by Postfix's smtp-source (plain) and
# contrib/bench/smtp-pipe (RFC 2920 pipelining).  Runs as root (apt-get,
# Postfix's master).  doc/performance.md describes the method.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

mode=full
doc=default
repeat="" dirty_n=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=quick ;;
	--doc) doc=$2; shift ;;
	--no-doc) doc="" ;;
	--keep) keep=1 ;;
	--repeat) repeat=$2; shift ;;
	--dirty) dirty_n=$2; shift ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$doc" = default ]; then
	if [ $mode = full ]; then doc=$top/doc/performance.md; else doc=""; fi
fi
if [ $mode = quick ]; then
	secs=${BENCH_SECS:-0.6} warmup=${BENCH_WARMUP:-0.3} hold=1 probe=1
	repeat=${repeat:-2} dirty_n=${dirty_n:-10000}
else
	secs=${BENCH_SECS:-5} warmup=${BENCH_WARMUP:-1} hold=3 probe=3
	repeat=${repeat:-3} dirty_n=${dirty_n:-100000}
fi
case $repeat$dirty_n in
*[!0-9]*) echo "bench.sh: --repeat and --dirty take a number" >&2; exit 2 ;;
esac
[ "$repeat" -ge 1 ] || { echo "bench.sh: --repeat must be >= 1" >&2; exit 2; }
SIZES="1024 102400"
SESSIONS="1 10 100"
MODES="plain pipelined"
FROM=from@client.test TO=to@bench.test HELO=client.test
start_time=$(date +%s)

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, Postfix's master)"
bench_install
# 10 000 idle connections need 10 000 descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bench_workdir
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
json=$work/results.jsonl
: > "$json"
bench_build
BENCHPY="python3 $here/bench.py"

note() {  # record a command line for the report
	python3 -c 'import json,sys; print(json.dumps({"type":"command","text":sys.argv[1]}))' "$*" >> "$json"
}

# Which source was measured: the commit, and files (outside
# contrib/bench and doc) with uncommitted changes at build time.
git=$(cd "$top" && git describe --always --dirty 2>/dev/null || echo "?")
dirty=$(cd "$top" && git status --porcelain -- . ':!contrib/bench' ':!doc' \
    2>/dev/null | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
mxd_version=$(sed -n 's/^AC_INIT(\[mxd\], *\[\([^]]*\)\].*/\1/p' \
    "$top/configure.ac" 2>/dev/null)
$BENCHPY machine --json "$json" --dir "$work" --mode $mode --git "$git" \
    --dirty "$dirty" --mxd "$MXDBIN" \
    --mxd-version "${mxd_version:-?}" \
    --postfix-version "$(postconf -d -h mail_version)"

note "mxd -f -o listen=127.0.0.1:PORT -o spool_dir=DIR" $MXD_OPTS \
    "[-o spool_sync=no] 2>>mxd.log"
note "smtp-sink -u nobody -m 1000 127.0.0.1:PORT 1024"
pf_setup
note "postfix -c $pf/etc start   # main.cf and master.cf: contrib/bench/lib.sh"

# ------------------------------------------------------------ disk
log "fsync probe in $work"
$BENCHPY fsync --json "$json" --dir "$work" --secs $probe

# ------------------------------------------------------------ matrix
# For each cell the four servers run back to back, so that a change in
# the machine's other load touches all four alike.  Each server is
# started once per cell and the cell is run $repeat times against it:
# a server whose speed depends on what it did before shows it as a
# spread between the repeats.
log "Postfix instance in $pf"
pf_start
retries=$([ $mode = quick ] && echo 4 || echo 12)
note "smtp-source -c -d -s SESSIONS -m 1000000000 -l SIZE -f $FROM -t $TO" \
    "-M $HELO 127.0.0.1:PORT   # plain"
note "smtp-pipe -P -s SESSIONS -l SIZE -f $FROM -t $TO -M $HELO -T 120" \
    "-c COUNTFILE 127.0.0.1:PORT   # pipelined"
note "each cell: run $repeat times against one server started for it;" \
    "each run ${warmup} s warm-up, then a ${secs} s measuring window;" \
    "the client is stopped with SIGTERM; a run with other load above" \
    "0.5 cores is run again (twice at most; at most $retries re-runs in" \
    "the whole run)"
# A run disturbed by other load (> 0.5 cores besides the server, the
# client and kernel threads) is run again, at most twice, and at most
# $retries times in the whole run; the quietest try is kept.
echo $retries > "$work/retries"

# run_cell PHASE SERVER PID PORT QUEUE SIZE SESSIONS MODE: $repeat runs
# (--quick: the 100 KiB cells once, to stay short)
run_cell() {
	local phase=$1 srv=$2 pid=$3 port=$4 queue=$5 size=$6 s=$7 m=$8 r
	local cnt client n=$repeat
	[ $mode = quick ] && [ "$size" != 1024 ] && n=1
	for r in $(seq "$n"); do
		cnt=$work/logs/count-$phase-$srv-$size-$s-$m-$r
		if [ "$m" = plain ]; then
			client=(--client-stdout --counter sent --
			    smtp-source -c -d -s "$s" -m 1000000000 -l "$size"
			    -f $FROM -t $TO -M $HELO 127.0.0.1:"$port")
		else
			client=(--counter acked -- "$PIPE" -P -s "$s"
			    -l "$size" -f $FROM -t $TO -M $HELO -T 120
			    -c "$cnt" 127.0.0.1:"$port")
		fi
		$BENCHPY cell --json "$json" --phase "$phase" --rep "$r" \
		    --repeats "$n" --server "$srv" --pid "$pid" \
		    --queue "$queue" --size "$size" --sessions "$s" \
		    --mode "$m" --countfile "$cnt" --warmup "$warmup" \
		    --secs "$secs" --retries 2 \
		    --retry-budget "$work/retries" \
		    "${client[@]}"
	done
}

for size in $SIZES; do
for s in $SESSIONS; do
for m in $MODES; do
	for srv in mxd mxd-nosync postfix sink; do
		queue="" pid="" port=""
		case $srv in
		mxd)
			mxd_start "$work/spool-mxd"
			pid=$mxd_pid port=$MPORT queue=$work/spool-mxd/queue ;;
		mxd-nosync)
			mxd_start "$work/spool-nosync" -o spool_sync=no
			pid=$mxd_pid port=$MPORT queue=$work/spool-nosync/queue ;;
		postfix)
			pid=$pf_master port=$PFPORT queue=$pf/queue/hold ;;
		sink)
			sink_start
			pid=$sink_pid port=$SPORT ;;
		esac
		run_cell fresh $srv "$pid" "$port" "$queue" $size $s $m
		# Empty the spool without freeing inodes (bench.py bury).
		case $srv in
		mxd|mxd-nosync)
			mxd_stop
			$BENCHPY bury --grave "$work/graveyard" \
			    "$work/spool-mxd" "$work/spool-nosync" ;;
		postfix)
			$BENCHPY bury --grave "$work/graveyard" --contents \
			    "$pf/queue/hold" ;;
		sink) sink_stop ;;
		esac
	done
done
done
done
pf_stop

# ------------------------------------------------------------ dirty
# A test sink whose users delete messages: each mxd (durable and
# spool_sync=no, one instance each for the whole phase) first queues
# $dirty_n messages of 1 KiB, which are then removed from queue/ as a
# consumer would (unlink); then the 1 KiB cells run against the same
# instances, and after each cell its messages are removed too.  On ext4
# without a journal, removed inodes slow down every new inode of their
# group for minutes (doc/performance.md).  smtp-sink runs alongside for
# the ratios; Postfix is left out.
if [ "$dirty_n" -gt 0 ]; then
	log "dirty phase: $dirty_n messages through each mxd, then removed"
	mxd_start "$work/spool-dirty-mxd"
	mxd2_start "$work/spool-dirty-nosync" -o spool_sync=no
	sink_start
	dq1=$work/spool-dirty-mxd/queue dq2=$work/spool-dirty-nosync/queue
	for port in $MPORT $M2PORT; do
		"$PIPE" -P -s 10 -m "$dirty_n" -l 1024 -f $FROM \
		    -t $TO -M $HELO -T 600 127.0.0.1:$port \
		    >>"$work/logs/dirty-fill.log" 2>&1 ||
		    die "dirty phase: filling mxd on port $port failed"
	done
	$BENCHPY consume --json "$json" --what fill "$dq1" "$dq2"
	note "dirty phase: smtp-pipe -P -s 10 -m $dirty_n" \
	    "-l 1024 into each mxd, then every queue/*.eml removed" \
	    "(unlink); the 1 KiB cells against the same instances; each" \
	    "cell's messages removed after it"
	for s in $SESSIONS; do
	for m in $MODES; do
		run_cell dirty mxd "$mxd_pid" $MPORT "$dq1" 1024 $s $m
		run_cell dirty mxd-nosync "$mxd2_pid" $M2PORT "$dq2" 1024 $s $m
		run_cell dirty sink "$sink_pid" $SPORT "" 1024 $s $m
		$BENCHPY consume --json "$json" --what "$s $m" "$dq1" "$dq2"
	done
	done
	mxd_stop
	mxd2_stop
	sink_stop
fi

# ------------------------------------------------------------ idle
for n in 1000 10000; do
	log "idle connections: $n"
	mxd_start "$work/spool-idle" -o max_connections=20000
	$BENCHPY idle --json "$json" --port $MPORT --pid "$mxd_pid" --n $n \
	    --hold $hold --timeout 120
	mxd_stop
done
note "idle: bench.py idle --n N (N sockets: connect, 220, EHLO, 250;" \
    "held ${hold} s; at most 400 in their handshake at once), against" \
    "mxd ... -o max_connections=20000 (the only limit the benchmark" \
    "raises: the default is 1000)"

# ------------------------------------------------------------ large
log "one 50 MiB message"
mxd_start "$work/spool-large" -o max_message_size=64M
$BENCHPY large --json "$json" --port $MPORT --pid "$mxd_pid" \
    --queue "$work/spool-large/queue" --bytes $((50 * 1048576))
mxd_stop
rm -rf "$work/spool-large" "$work/spool-idle"

# ------------------------------------------------------------ report
cmdline="contrib/bench/bench.sh"
[ $mode = quick ] && cmdline="$cmdline --quick"
$BENCHPY report --json "$json" --command "$cmdline"
if [ -n "$doc" ]; then
	$BENCHPY report --json "$json" --out "$doc" --command "$cmdline"
	[ $mode = full ] && cp "$json" "$here/results-full.jsonl"
fi
cp "$json" "${BENCH_DIR:-/var/tmp}/mxd-bench-$mode.jsonl"
log "done in $(( $(date +%s) - start_time )) s; raw results:" \
    "${BENCH_DIR:-/var/tmp}/mxd-bench-$mode.jsonl"
