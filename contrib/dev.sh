#!/bin/sh
# dev.sh: the two commands of the README.
#
#   contrib/dev.sh run [mxd options...]
#                         install what is missing, build, run mxd in the
#                         foreground on its embedded defaults (a local
#                         sink: SMTP on 127.0.0.1:2525, the page and the
#                         HTTP API on :8025, POP3 on :1110, spool in
#                         ./spool); options go to mxd, e.g.
#                         -o http_listen=127.0.0.1:18025
#   contrib/dev.sh test   install what is missing, build, run the whole
#                         test suite: unit and integration tests on a
#                         normal build and on an ASan+UBSan build, then
#                         each libFuzzer target for FUZZ_SECONDS (30),
#                         then make distcheck
#
# Works on a fresh Debian 12 as root (or with sudo).  Builds go to
# build/ and build-asan/ under the source tree.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# Debian packages: what the build needs (and the clients the README's
# first steps type: swaks, nc, curl), and what the tests add.  `run`
# installs the first list only, `test` both.
BUILD_PKGS="gcc make autoconf automake pkg-config libevent-dev libssl-dev
libsasl2-dev libidn2-dev libsqlite3-dev libgmime-3.0-dev libjansson-dev
libcrypt-dev swaks curl netcat-openbsd"
TEST_PKGS="python3 openssl procps sasl2-bin libsasl2-modules
libsasl2-modules-db libnet-ssleay-perl libio-socket-ssl-perl clang
libclang-rt-14-dev valgrind util-linux fetchmail
dovecot-lmtpd dovecot-imapd sqlite3 chromium nodejs"
PKGS="$BUILD_PKGS"

# Install what of $PKGS is missing.  Installing starts no daemon: the
# tests start their own private Dovecot, and a system one that Debian's
# package would start (on 0.0.0.0:143 and 993, with the machine's
# users) has no business on a developer's or a CI machine.  A
# policy-rc.d that refuses every start does that (invoke-rc.d and
# deb-systemd-invoke ask it), unless the machine has its own.
need_pkgs() {
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "dev.sh: installing$missing"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# dev.sh: no daemon starts while it installs\n'\
'exit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 0755 "$policy"
	fi
	rc=0
	$sudo apt-get update -qq || rc=$?
	# shellcheck disable=SC2086
	[ "$rc" -ne 0 ] || $sudo apt-get install -y -qq \
	    --no-install-recommends $missing || rc=$?
	[ -z "$policy" ] || $sudo rm -f "$policy"
	return "$rc"
}

# npm and the packages the tests drive (tests/web/package.json, pinned by
# its lock file) in build/npm; npm comes with some builds of nodejs and
# in Debian's own package otherwise.
need_npm() {
	if ! command -v npm >/dev/null 2>&1; then
		PKGS="npm"
		need_pkgs
	fi
	mkdir -p "$top/build/npm"
	cp "$top/tests/web/package.json" "$top/tests/web/package-lock.json" \
	    "$top/build/npm/"
	(cd "$top/build/npm" && npm ci --no-audit --no-fund --loglevel=error)
	MXD_NPM_DIR="$top/build/npm/node_modules"
	MXD_REQUIRE_NPM=1
	export MXD_NPM_DIR MXD_REQUIRE_NPM
}

# build DIR [configure args...]: configure once, then make.
build() {
	dir=$1
	shift
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
	mkdir -p "$top/$dir"
	cd "$top/$dir"
	[ -f Makefile ] || "$top/configure" -q "$@"
	make -s -j"$jobs"
	cd "$top"
}

# check DIR [make args...]: run the suite in a build directory, keep
# going on failure.
check() {
	dir=$1
	shift
	(cd "$top/$dir" && make -s -j"$jobs" check "$@") || true
}

# make distcheck from build/: the release tarball builds, passes its own
# make check (unit and integration tests, from the tarball's files) and
# installs and uninstalls cleanly.  Counted as one test.
distcheck() {
	log="$top/build/distcheck.log"
	if (cd "$top/build" && make -s -j"$jobs" distcheck) >"$log" 2>&1; then
		dist_pass=1 dist_fail=0
		echo "distcheck: ok ($(grep -o 'mxd-[0-9.]*\.tar\.gz' "$log" |
		    tail -n 1) builds, passes make check, installs)"
	else
		dist_pass=0 dist_fail=1
		echo "distcheck: FAILED; the end of $log:"
		tail -n 40 "$log"
	fi
}

# Sum automake's counts over the suites and print the closing line.
summary() {
	pass=${dist_pass:-0} fail=${dist_fail:-0} skip=0
	for dir in "$@"; do
		log="$top/$dir/test-suite.log"
		if [ ! -f "$log" ]; then
			echo "dev.sh: $dir: no test-suite.log"
			fail=$((fail + 1))
			continue
		fi
		p=$(sed -n 's/^# PASS: *//p' "$log")
		s=$(sed -n 's/^# SKIP: *//p' "$log")
		f=0
		for k in FAIL XPASS ERROR; do
			n=$(sed -n "s/^# $k: *//p" "$log")
			f=$((f + ${n:-0}))
		done
		echo "$dir: ${p:-0} passed, $f failed, ${s:-0} skipped"
		pass=$((pass + ${p:-0})) fail=$((fail + f)) skip=$((skip + ${s:-0}))
		[ "$f" -eq 0 ] || grep -E '^(FAIL|ERROR|XPASS)' "$log" || true
	done
	[ "$pass" -gt 0 ] || fail=$((fail + 1))
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

case "${1:-}" in
run)
	need_pkgs
	build build
	shift
	# mxd says where it listens, where mail lands and how to list it;
	# the hints below name the embedded default's ports, which options
	# may change.
	if [ $# -gt 0 ]; then
		echo "dev.sh: starting mxd with your options ($*); its first" \
		    "lines say where it listens"
		exec "$top/build/src/mxd" -f "$@"
	fi
	echo "dev.sh: starting mxd; in another terminal try:" \
	    "swaks --server 127.0.0.1:2525 --to you@example.org"
	echo "dev.sh: and read it back over POP3 (any password):" \
	    "nc -C 127.0.0.1 1110, then: user you@example.org, pass x, list," \
	    "retr 1, quit"
	echo "dev.sh: and look at it in a browser: http://127.0.0.1:8025/" \
	    "(the same port serves Mailpit's and MailHog's API:" \
	    "curl http://127.0.0.1:8025/api/v1/messages)"
	exec "$top/build/src/mxd" -f
	;;
test)
	PKGS="$BUILD_PKGS $TEST_PKGS"
	need_pkgs
	build build
	san="-fsanitize=address,undefined -fno-omit-frame-pointer"
	build build-asan CFLAGS="-O1 -g $san -fno-sanitize-recover=undefined" \
	    LDFLAGS="$san"
	build build-fuzz --enable-fuzzing CC=clang
	need_npm
	check build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    check build-asan
	unset MXD_REQUIRE_NPM
	FUZZ_SECONDS=${FUZZ_SECONDS:-30} \
	    check build-fuzz TESTS=tests/fuzz/run-fuzz.sh
	distcheck
	summary build build-asan build-fuzz
	;;
*)
	echo "usage: $0 run [mxd options...] | test" >&2
	exit 2
	;;
esac
