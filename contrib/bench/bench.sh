#!/bin/bash
# bench.sh: mxd's benchmark against Postfix's smtpd and smtp-sink.
#
#   contrib/bench/bench.sh            full run (about 9 minutes); writes
#                                     the results into doc/performance.md
#   contrib/bench/bench.sh --quick    short run (under 3 minutes); prints
#                                     the results, leaves the doc alone
#
# Options: --doc FILE (write the results section into FILE, also with
# --quick), --no-doc, --keep (keep the work directory and its logs).
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
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=quick ;;
	--doc) doc=$2; shift ;;
	--no-doc) doc="" ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$doc" = default ]; then
	if [ $mode = full ]; then doc=$top/doc/performance.md; else doc=""; fi
fi
if [ $mode = quick ]; then
	secs=${BENCH_SECS:-0.8} warmup=${BENCH_WARMUP:-0.4} hold=1 probe=1
else
	secs=${BENCH_SECS:-6} warmup=${BENCH_WARMUP:-1.5} hold=3 probe=3
fi
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
# the machine's other load touches all four alike.
log "Postfix instance in $pf"
pf_start
retries=$([ $mode = quick ] && echo 4 || echo 12)
note "smtp-source -c -d -s SESSIONS -m 1000000000 -l SIZE -f $FROM -t $TO" \
    "-M $HELO 127.0.0.1:PORT   # plain"
note "smtp-pipe -P -s SESSIONS -l SIZE -f $FROM -t $TO -M $HELO -T 120" \
    "-c COUNTFILE 127.0.0.1:PORT   # pipelined"
note "each cell: ${warmup} s warm-up, then a ${secs} s measuring window;" \
    "the client is stopped with SIGTERM; a cell with other load above" \
    "0.5 cores is run again (twice at most; at most $retries re-runs in" \
    "the whole run)"
# A cell disturbed by other load (> 0.5 cores besides the server, the
# client and kernel threads) is run again, at most twice, and at most
# $retries times in the whole run; the quietest try is kept.
echo $retries > "$work/retries"
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
		cnt=$work/logs/count-$srv-$size-$s-$m
		if [ $m = plain ]; then
			client=(--client-stdout --counter sent --
			    smtp-source -c -d -s "$s" -m 1000000000 -l "$size"
			    -f $FROM -t $TO -M $HELO 127.0.0.1:"$port")
		else
			client=(--counter acked -- "$PIPE" -P -s "$s"
			    -l "$size" -f $FROM -t $TO -M $HELO -T 120
			    -c "$cnt" 127.0.0.1:"$port")
		fi
		$BENCHPY cell --json "$json" --server $srv --pid "$pid" \
		    --queue "$queue" --size "$size" --sessions "$s" \
		    --mode $m --countfile "$cnt" --warmup "$warmup" \
		    --secs "$secs" --retries 2 \
		    --retry-budget "$work/retries" \
		    "${client[@]}"
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

# ------------------------------------------------------------ idle
for n in 1000 10000; do
	log "idle connections: $n"
	mxd_start "$work/spool-idle"
	$BENCHPY idle --json "$json" --port $MPORT --pid "$mxd_pid" --n $n \
	    --hold $hold --timeout 120
	mxd_stop
done
note "idle: bench.py idle --n N (N sockets: connect, 220, EHLO, 250;" \
    "held ${hold} s; at most 400 in their handshake at once)"

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
