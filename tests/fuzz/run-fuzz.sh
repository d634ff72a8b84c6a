#!/bin/sh
# run-fuzz.sh: run every libFuzzer target for a bounded time, as TAP.
# Seeds come from tests/fuzz/corpus/<target>/ (read only); new inputs go
# to a scratch directory.  A crash leaves its input next to the log and
# fails the test; turn it into a regression seed in the corpus.
set -u
secs=${FUZZ_SECONDS:-20}
src=$(cd "$(dirname "$0")" && pwd)
bin=${FUZZ_BIN:-tests/fuzz}
n=0
fail=0
for t in addr data line session envelope rcpttable lmtp pop3 mime http \
    deliver; do
	n=$((n + 1))
	work=$(mktemp -d "${TMPDIR:-/tmp}/mxd-fuzz-$t.XXXXXX")
	if [ ! -x "$bin/fuzz_$t" ]; then
		echo "not ok $n - fuzz_$t: not built"
		fail=1
		continue
	fi
	seeds="$src/corpus/$t"
	if [ "$t" = session ]; then
		# The dialogue files' client lines seed the session fuzzer.
		seeds="$seeds $work.dialogs"
		mkdir -p "$work.dialogs"
		for d in "$src"/../dialog/*.smtp; do
			sed -n 's/^>|\{0,1\} \{0,1\}//p' "$d" | sed 's/$/\r/' \
			    >"$work.dialogs/$(basename "$d")"
		done
	fi
	if [ "$t" = pop3 ]; then
		# The client lines of the POP3 parts of the dialogues.
		seeds="$seeds $work.dialogs"
		mkdir -p "$work.dialogs"
		for d in "$src"/../dialog/*.pop3; do
			awk 'BEGIN { m = "pop3" } /^@ / { m = $2; next }
			    m == "pop3" && /^>/ { sub(/^>\|? ?/, ""); print $0 "\r" }' \
			    "$d" >"$work.dialogs/$(basename "$d")"
		done
	fi
	# shellcheck disable=SC2086
	if "$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -artifact_prefix="$PWD/fuzz_$t-" \
	    "$work" $seeds >"$work.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
		    "$work.log" | grep -o '[0-9]*$')
		[ -n "$runs" ] || runs=$(tail -n 5 "$work.log" |
		    grep -o 'Done [0-9]* runs' | grep -o '[0-9]*')
		echo "ok $n - fuzz_$t: ${runs:-?} runs in ${secs}s, no crash"
	else
		echo "not ok $n - fuzz_$t crashed; input saved as fuzz_$t-*"
		sed 's/^/# /' "$work.log" | tail -n 60
		fail=1
	fi
	rm -rf "$work" "$work.log" "$work.dialogs"
done
echo "1..$n"
exit 0
