#!/bin/sh
# test.sh: installs what is missing, builds vfiomigd with AddressSanitizer,
# UndefinedBehaviorSanitizer and -Werror, runs every test (`make check`,
# the real-kernel guest tests among them), the integration tests again
# with the daemons under valgrind, the concurrent tests under
# ThreadSanitizer, the fuzzers briefly, then `make distcheck`.
# Ends with the line "N passed, N failed" (test programs).
#   VFIOMIG_SKIP_DISTCHECK=1  skip distcheck
#   VFIOMIG_SKIP_VM=1         skip the real-kernel guest tests
#   VFIOMIG_SKIP_VALGRIND=1   skip the integration tests under valgrind
#   VFIOMIG_SKIP_TSAN=1       skip the concurrent tests under ThreadSanitizer
#   VFIOMIG_SKIP_FUZZ=1       skip the fuzzers (VFIOMIG_FUZZ_SECONDS: 15 each)
#   VFIOMIG_VM_CACHE=DIR      where the guest is cached (default below, so
#                             that every clone on this machine reuses it)
set -u
export VFIOMIG_VM_CACHE="${VFIOMIG_VM_CACHE:-/var/cache/vfiomigd/vm}"
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build-check
"$top/scripts/build.sh" "$bdir" --enable-sanitizers --enable-werror || {
	echo "test.sh: the build failed"
	echo "0 passed, 1 failed"
	exit 1
}
cd "$bdir"
make -j"$(nproc)" check
rc=$?
log=$bdir/test-suite.log
pass=$(sed -n 's/^# PASS: *//p' "$log" 2>/dev/null)
fail=$(sed -n 's/^# FAIL: *//p' "$log" 2>/dev/null)
xpass=$(sed -n 's/^# XPASS: *//p' "$log" 2>/dev/null)
error=$(sed -n 's/^# ERROR: *//p' "$log" 2>/dev/null)
skip=$(sed -n 's/^# SKIP: *//p' "$log" 2>/dev/null)
pass=${pass:-0}; fail=$(( ${fail:-0} + ${xpass:-0} + ${error:-0} ))
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
if [ "$rc" -ne 0 ]; then
	# show what failed
	for f in $(find . -name '*.log' ! -name test-suite.log ! -name config.log); do
		trs=${f%.log}.trs
		grep -q ':test-result: \(FAIL\|ERROR\)' "$trs" 2>/dev/null && { echo "=== $f"; tail -n 60 "$f"; }
	done
fi
# run_in DIR KIND NAME WHAT CMD...: runs CMD (the test WHAT) in DIR, its
# output in DIR/NAME.KIND.log; counts a pass or a failure.
run_in() {
	ri_dir=$1 ri_kind=$2 ri_name=$3 ri_what=$4
	shift 4
	echo "test.sh: $ri_kind: $ri_what"
	if (cd "$ri_dir" && "$@" >"$ri_dir/$ri_name.$ri_kind.log" 2>&1); then
		pass=$((pass + 1))
	else
		tail -n 60 "$ri_dir/$ri_name.$ri_kind.log"
		echo "test.sh: $ri_kind: $ri_name FAILED (see $ri_dir/$ri_name.$ri_kind.log)"
		fail=$((fail + 1)); rc=1
	fi
}
vg_run() { run_in "$vdir" valgrind "$@"; }
# The daemons under valgrind (a build without sanitizers): no error, no
# definite leak, on the integration tests that cover success, refusals,
# reloads, the recovery after a crash and the restarts without the fd
# store (adoption, fences, used tokens), and on the control socket's
# tests.
if [ "$rc" -eq 0 ] && [ "${VFIOMIG_SKIP_VALGRIND:-0}" != 1 ]; then
	vdir=$top/build-valgrind
	vgopt="-q --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite"
	# The test programs these runs need (make check builds them in the
	# other tree only).
	if "$top/scripts/build.sh" "$vdir" --enable-werror >/dev/null &&
	    make -s -C "$vdir" tests/integration/fdstore-sup \
	    tests/integration/simstate tests/unit/test_ctl tests/vmm/refvmm \
	    >/dev/null; then
		for t in success refusals reload crash-restart adopt vmm; do
			vg_run "$t" "tests/integration/$t.sh" \
			    env VFIOMIG_SRCDIR="$top" VFIOMIG_WRAP="valgrind $vgopt" \
			    "$top/tests/integration/$t.sh"
		done
		# The control socket's tests (bad input, 200 clients, a
		# subscriber that never reads, fds passed): test_ctl starts
		# the daemon named by $VFIOMIGD and wants it to exit 0.
		vg=$vdir/vfiomigd-valgrind
		printf '#!/bin/sh\nexec valgrind %s "%s" "$@"\n' "$vgopt" \
		    "$vdir/daemon/vfiomigd" >"$vg"
		chmod +x "$vg"
		vg_run test_ctl tests/unit/test_ctl \
		    env VFIOMIG_SRCDIR="$top" VFIOMIGD="$vg" ./tests/unit/test_ctl
	else
		echo "test.sh: the valgrind build failed"
		fail=$((fail + 1)); rc=1
	fi
fi
# The concurrent tests under ThreadSanitizer (a build of its own): sets
# migrating both ways at once under fdstore-sup with the control socket
# hammered (stress.sh), the VMM handshake with the reference VMM's vCPU
# threads writing into devices another thread stops (vmm.sh), the
# collective steps' worker pool (test_migset),
# the control socket's clients (test_ctl).  Any report fails the test:
# the daemons' logs are checked (lib.sh's check_clean), the programs exit
# 66.
if [ "$rc" -eq 0 ] && [ "${VFIOMIG_SKIP_TSAN:-0}" != 1 ]; then
	tdir=$top/build-tsan
	export TSAN_OPTIONS="second_deadlock_stack=1 exitcode=66 ${TSAN_OPTIONS:-}"
	if "$top/scripts/build.sh" "$tdir" --enable-tsan --enable-werror \
	    >/dev/null && make -s -C "$tdir" tests/integration/fdstore-sup \
	    tests/unit/test_migset tests/unit/test_ctl tests/vmm/refvmm \
	    >/dev/null; then
		run_in "$tdir" tsan stress tests/integration/stress.sh \
		    env VFIOMIG_SRCDIR="$top" VFIOMIG_SLOW=5 \
		    "$top/tests/integration/stress.sh"
		run_in "$tdir" tsan vmm tests/integration/vmm.sh \
		    env VFIOMIG_SRCDIR="$top" VFIOMIG_SLOW=5 \
		    "$top/tests/integration/vmm.sh"
		run_in "$tdir" tsan test_migset tests/unit/test_migset \
		    ./tests/unit/test_migset
		run_in "$tdir" tsan test_ctl tests/unit/test_ctl \
		    env VFIOMIG_SRCDIR="$top" ./tests/unit/test_ctl
	else
		echo "test.sh: the ThreadSanitizer build failed"
		fail=$((fail + 1)); rc=1
	fi
fi
# The fuzzers (tests/fuzz): the inputs that once crashed replayed, then
# each harness briefly (scripts/fuzz.sh; clang, ASan, UBSan).
if [ "$rc" -eq 0 ] && [ "${VFIOMIG_SKIP_FUZZ:-0}" != 1 ]; then
	echo "test.sh: fuzzers, ${VFIOMIG_FUZZ_SECONDS:-15} s each"
	if "$top/scripts/fuzz.sh" "${VFIOMIG_FUZZ_SECONDS:-15}" \
	    >"$top/build-fuzz.log" 2>&1; then
		grep '^fuzz.sh: ' "$top/build-fuzz.log"
		pass=$((pass + 1))
	else
		tail -n 40 "$top/build-fuzz.log"
		echo "test.sh: fuzzers FAILED (see $top/build-fuzz.log)"
		fail=$((fail + 1)); rc=1
	fi
fi
if [ "$rc" -eq 0 ] && [ "${VFIOMIG_SKIP_DISTCHECK:-0}" != 1 ]; then
	echo "test.sh: make distcheck"
	if VFIOMIG_SKIP_VM=1 make -s distcheck >distcheck.log 2>&1; then
		echo "test.sh: distcheck passed"
		pass=$((pass + 1))
	else
		tail -n 40 distcheck.log
		echo "test.sh: distcheck FAILED (see $bdir/distcheck.log)"
		fail=$((fail + 1)); rc=1
	fi
fi
echo "${pass} passed, ${fail} failed, ${skip:-0} skipped"
exit "$rc"
