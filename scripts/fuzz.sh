#!/bin/sh
# fuzz.sh [SECONDS]: the libFuzzer harnesses of tests/fuzz (README.md
# there): installs clang and its libFuzzer if missing, builds them in
# build-fuzz/ (CC=clang, --enable-fuzzing: coverage, ASan, UBSan), then
# for each: replays every input that once made it fail
# (tests/fuzz/regress/NAME/, each must pass now), and fuzzes for SECONDS
# (default 60) from its seed corpus (tests/fuzz/corpus/NAME/, copied to
# build-fuzz/corpus/NAME/, which keeps what it finds across runs).  A new
# crash is copied into tests/fuzz/regress/NAME/ (to be committed) and
# fails the run.  Prints each harness's executions and rate.
#   FUZZ_TARGETS   the harnesses (default: frame hello config ctl)
#   FUZZ_JOBS      parallel fuzzing processes per harness (default 1)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
bdir=$top/build-fuzz
targets=${FUZZ_TARGETS:-frame hello config ctl}

if ! command -v clang >/dev/null 2>&1 ||
    ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
    >/dev/null 2>&1; then
	echo "fuzz.sh: installing clang and libFuzzer (libclang-rt-14-dev)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    --no-install-recommends clang libclang-rt-14-dev >/dev/null ||
	    { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
	    apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
fi
CC=clang "$top/scripts/build.sh" "$bdir" --enable-fuzzing >/dev/null
progs=
for t in $targets; do
	progs="$progs tests/fuzz/fuzz_$t"
done
# shellcheck disable=SC2086 # a list of targets
make -s -C "$bdir" $progs
rc=0
for t in $targets; do
	prog=$bdir/tests/fuzz/fuzz_$t
	reg=$top/tests/fuzz/regress/$t
	corp=$bdir/corpus/$t
	mkdir -p "$corp" "$bdir/crash/$t"
	cp -n "$top/tests/fuzz/corpus/$t"/* "$corp"/ 2>/dev/null || true
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
		if ! "$prog" "$reg"/* >"$bdir/regress-$t.log" 2>&1; then
			tail -n 30 "$bdir/regress-$t.log"
			echo "fuzz.sh: $t: a regression input fails again"
			rc=1
			continue
		fi
		echo "fuzz.sh: $t: $(ls "$reg" | wc -l) regression inputs pass"
	fi
	if ! "$prog" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
	    -print_final_stats=1 -jobs="${FUZZ_JOBS:-1}" \
	    -workers="${FUZZ_JOBS:-1}" \
	    -artifact_prefix="$bdir/crash/$t/" "$corp" \
	    >"$bdir/fuzz-$t.log" 2>&1; then
		tail -n 40 "$bdir/fuzz-$t.log"
		mkdir -p "$reg"
		for a in "$bdir/crash/$t"/*; do
			[ -f "$a" ] && cp "$a" "$reg/"
		done
		echo "fuzz.sh: $t: FAILED; the input is in $reg (commit it)"
		rc=1
		continue
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    "$bdir/fuzz-$t.log" | awk '{ s += $1 } END { print s + 0 }')
	echo "fuzz.sh: $t: $runs executions in $secs s ($((runs / secs))/s)," \
	    "corpus $(ls "$corp" | wc -l) inputs, no crash"
done
exit $rc
