# lib.sh: what bench.sh and syscalls.sh share (sourced, bash).
# The caller sets `here` (this directory) and `top` (the source tree).
#
# Servers, all on 127.0.0.1 with temporary directories under $work:
#   mxd_start SPOOL [-o name=value...] / mxd_stop      (mxd_pid, MPORT)
#   mxd2_start SPOOL [-o ...] / mxd2_stop  a second one (mxd2_pid, M2PORT)
#   sink_start / sink_stop                             (sink_pid, SPORT)
#   pf_start / pf_clear / pf_stop  a private Postfix   (pf_master, PFPORT)
# bench_cleanup (installed as the EXIT trap) stops whatever still runs.

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "error: $*" >&2; exit 1; }

mxd_pid="" mxd2_pid="" sink_pid="" pf_started=0 pf_master="" work="" keep=0

# Debian packages: Postfix for smtp-source, smtp-sink and smtpd, the
# build tools and libraries mxd needs, Python for the measuring half.
bench_install() {  # [extra packages...]
	local pkgs="postfix gcc make autoconf automake pkg-config libevent-dev
	    libssl-dev libsasl2-dev python3 procps iproute2 util-linux $*"
	local missing="" p had_master=0
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		pgrep -f '^/usr/lib/postfix/sbin/master' >/dev/null 2>&1 &&
		    had_master=1
		log "installing$missing"
		export DEBIAN_FRONTEND=noninteractive
		# Postfix is wanted for its programs only: no system mail
		# server is configured (and so none can start).
		echo "postfix postfix/main_mailer_type select No configuration" |
		    debconf-set-selections
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing \
		    >/dev/null
		if [ $had_master = 0 ] &&
		    pgrep -f '^/usr/lib/postfix/sbin/master' >/dev/null 2>&1
		then
			log "the package started the system Postfix; stopping it"
			command -v systemctl >/dev/null &&
			    systemctl stop postfix >/dev/null 2>&1
			/usr/sbin/postfix stop >/dev/null 2>&1 || true
		fi
	fi
	export PATH=$PATH:/usr/sbin:/sbin
	for p in smtp-source smtp-sink postfix postsuper postconf python3 gcc \
	    ss; do
		command -v $p >/dev/null || die "missing $p"
	done
}

bench_workdir() {  # sets work: a fresh directory under BENCH_DIR
	local base=${BENCH_DIR:-/var/tmp}
	work=$(mktemp -d "$base/mxd-bench.XXXXXX")
	chmod 755 "$work"  # Postfix's daemons (user postfix) chdir in here
	mkdir -p "$work/logs"
}

# Build mxd (or take $MXD) and smtp-pipe; sets MXDBIN and PIPE.  The
# binary is copied so the whole run uses one build even if the tree
# changes meanwhile.
bench_build() {
	local src
	if [ -n "${MXD:-}" ]; then
		src=$MXD
	elif [ -f "$top/Makefile" ]; then
		log "building mxd (make -C $top)"
		make -s -C "$top" -j"$(nproc)" >"$work/logs/build.log" 2>&1 ||
		    { tail -20 "$work/logs/build.log"; die "build failed"; }
		src=$top/src/mxd
	else
		log "configuring and building mxd in $top/build"
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
		mkdir -p "$top/build"
		(cd "$top/build" && { [ -f Makefile ] || ../configure -q; } &&
		    make -s -j"$(nproc)") >"$work/logs/build.log" 2>&1 ||
		    { tail -20 "$work/logs/build.log"; die "build failed"; }
		src=$top/build/src/mxd
	fi
	cp "$src" "$work/mxd"
	MXDBIN=$work/mxd
	gcc -O2 -Wall -o "$work/smtp-pipe" "$here/smtp-pipe.c" ||
	    die "cannot build smtp-pipe"
	PIPE=$work/smtp-pipe
}

kill_wait() {  # pid: SIGTERM, wait up to 10 s, then SIGKILL
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # port: until something listens there (10 s at most)
	local i
	for i in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q LISTEN && return 0
		sleep 0.1
	done
	die "nothing listens on port $1"
}

# ------------------------------------------------------------ mxd
# mxd's default limits: the default trusted_networks (loopback) exempts
# the clients from max_connections_per_ip and max_messages_per_session.
# Only the idle-connections test raises one (max_connections, for its
# 10 000 connections), on its own command line.  No POP3 or HTTP
# listener: two mxd run at once in the dirty phase, and both would want
# their default ports; and the SMTP figures are without the index
# (contrib/bench/api-bench.sh measures SMTP with it on and off).
MXD_OPTS="-o hostname=bench.test -o shutdown_grace=2s -o pop3_listen="
MXD_OPTS="$MXD_OPTS -o http_listen="
mxd_run() {  # port spool-dir [-o name=value...]: start one (run_pid)
	local port=$1 spool=$2
	shift 2
	rm -rf "$spool"
	# shellcheck disable=SC2086
	"$MXDBIN" -f -o listen=127.0.0.1:$port -o spool_dir="$spool" \
	    $MXD_OPTS "$@" 2>>"$work/logs/mxd.log" &
	run_pid=$!
}
mxd_start() {  # spool-dir [-o name=value...]
	[ -n "${MPORT:-}" ] || MPORT=$(free_port)
	mxd_run $MPORT "$@"
	mxd_pid=$run_pid
	wait_port $MPORT
}
mxd_stop() {
	kill_wait "$mxd_pid"
	mxd_pid=""
}
mxd2_start() {  # spool-dir [-o name=value...]
	[ -n "${M2PORT:-}" ] || M2PORT=$(free_port)
	mxd_run $M2PORT "$@"
	mxd2_pid=$run_pid
	wait_port $M2PORT
}
mxd2_stop() {
	kill_wait "$mxd2_pid"
	mxd2_pid=""
}

# ------------------------------------------------------------ smtp-sink
sink_start() {
	[ -n "${SPORT:-}" ] || SPORT=$(free_port)
	smtp-sink -u nobody -m 1000 127.0.0.1:$SPORT 1024 \
	    2>>"$work/logs/sink.log" &
	sink_pid=$!
	wait_port $SPORT
}
sink_stop() {
	kill_wait "$sink_pid"
	sink_pid=""
}

# ------------------------------------------------------------ Postfix
# A private Postfix instance that only receives.  Every message is put
# on hold (an access-map HOLD action for every client): cleanup still
# writes and fsyncs the queue file before smtpd says 250, but the queue
# manager never delivers it, so no delivery work competes with
# receiving, and the hold/ queue holds exactly what landed.
pf_setup() {
	[ -n "${PFPORT:-}" ] || PFPORT=$(free_port)
	pf=$work/pf
	mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
	chown postfix "$pf/data"
	cat > "$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 250
message_size_limit = 0
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
biff = no
EOF
	cat > "$pf/etc/master.cf" <<EOF
127.0.0.1:$PFPORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}
pf_start() {
	postfix -c "$pf/etc" check >>"$work/logs/postfix.log" 2>&1 ||
	    die "postfix check failed (see $pf/maillog)"
	postfix -c "$pf/etc" start >>"$work/logs/postfix.log" 2>&1 ||
	    die "postfix start failed (see $pf/maillog)"
	pf_started=1
	wait_port $PFPORT
	pf_master=$(tr -dc 0-9 < "$pf/queue/pid/master.pid")
	[ -n "$pf_master" ] || die "no Postfix master pid"
}
pf_stop() {
	local i
	postfix -c "$pf/etc" stop >/dev/null 2>&1 || true
	for i in $(seq 100); do
		[ -n "$pf_master" ] && kill -0 "$pf_master" 2>/dev/null ||
		    break
		sleep 0.1
	done
	[ -n "$pf_master" ] && kill -KILL "$pf_master" 2>/dev/null || true
	pf_started=0
}
pf_clear() {  # delete the held messages
	postsuper -c "$pf/etc" -d ALL hold >/dev/null 2>&1 || true
}

# ------------------------------------------------------------ cleanup
bench_cleanup() {
	local rc=$?
	set +e
	kill_wait "$mxd_pid"; mxd_pid=""
	kill_wait "$mxd2_pid"; mxd2_pid=""
	kill_wait "$sink_pid"; sink_pid=""
	[ $pf_started = 1 ] && pf_stop
	if [ -n "$work" ] && [ -d "$work" ]; then
		log "removing the spools in $work"
		if [ $keep = 1 ] || [ $rc -ne 0 ]; then
			# Keep the logs, drop the bulk.
			rm -rf "$work"/spool-* "$work"/pf/queue "$work"/graveyard
			log "work directory kept: $work"
		else
			rm -rf "$work"
		fi
	fi
	exit $rc
}
