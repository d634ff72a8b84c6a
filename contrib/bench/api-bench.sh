#!/bin/bash
# api-bench.sh: mxd's HTTP API and index (issue 12), beside maildev.
#
#   contrib/bench/api-bench.sh [--quick] [--doc] [--keep]
#
# Installs what is missing (Debian packages; maildev from npm into the
# work directory), builds mxd and smtp-pipe, then runs api-bench.py,
# which measures and prints a Markdown section.  --doc also writes it
# into doc/performance.md between its own markers.  --quick: smaller
# sizes and shorter windows, under 5 minutes.  --keep keeps the work
# directory's logs.  BENCH_DIR (default /var/tmp) holds the spools;
# MAILDEV_VERSION (default 3.0.0) pins maildev; APIBENCH_SCALE_S and
# APIBENCH_MAILDEV_S bound phases 3 and 4 (seconds).  Method:
# doc/performance.md, "The HTTP API and its index".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

quick="" doc=""
for a in "$@"; do
	case $a in
	--quick) quick=--quick ;;
	--doc) doc="--doc $top/doc/performance.md" ;;
	--keep) keep=1 ;;
	*) die "usage: $0 [--quick] [--doc] [--keep]" ;;
	esac
done

trap bench_cleanup EXIT
# npm comes with some builds of nodejs, in Debian's own package otherwise.
bench_install nodejs
command -v npm >/dev/null || bench_install nodejs npm
command -v node >/dev/null && command -v npm >/dev/null ||
    die "missing node or npm"
bench_workdir
log "work directory $work ($(df -h --output=avail "$work" | tail -1 |
    tr -d ' ') free)"
bench_build

# maildev, pinned, into the work directory (removed with it).
mdv=${MAILDEV_VERSION:-3.0.0}
log "installing maildev@$mdv with npm"
mkdir -p "$work/npm"
(cd "$work/npm" && timeout 600 npm install --no-audit --no-fund \
    --loglevel=error "maildev@$mdv") >"$work/logs/npm.log" 2>&1 ||
    { tail -5 "$work/logs/npm.log"; die "npm install maildev failed"; }

git=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?")
# shellcheck disable=SC2086
python3 "$here/api-bench.py" --mxd "$MXDBIN" --pipe "$PIPE" \
    --work "$work" --maildev "$work/npm/node_modules/.bin/maildev" \
    --git "$git" $quick $doc
