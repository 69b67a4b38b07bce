#!/bin/sh
# test.sh: installs what is missing, builds vfiomigd with AddressSanitizer,
# UndefinedBehaviorSanitizer and -Werror, runs every test (`make check`,
# the real-kernel guest tests among them), the integration tests again
# with the daemons under valgrind, then `make distcheck`.
# Ends with the line "N passed, N failed" (test programs).
#   VFIOMIG_SKIP_DISTCHECK=1  skip distcheck
#   VFIOMIG_SKIP_VM=1         skip the real-kernel guest tests
#   VFIOMIG_SKIP_VALGRIND=1   skip the integration tests under valgrind
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
# vg_run NAME WHAT CMD...: runs CMD (the test WHAT) in $vdir, its output in
# $vdir/NAME.valgrind.log; counts a pass or a failure.
vg_run() {
	vr_name=$1 vr_what=$2
	shift 2
	echo "test.sh: valgrind: $vr_what"
	if (cd "$vdir" && "$@" >"$vdir/$vr_name.valgrind.log" 2>&1); then
		pass=$((pass + 1))
	else
		tail -n 40 "$vdir/$vr_name.valgrind.log"
		echo "test.sh: valgrind: $vr_name FAILED (see $vdir/$vr_name.valgrind.log)"
		fail=$((fail + 1)); rc=1
	fi
}
# The daemons under valgrind (a build without sanitizers): no error, no
# definite leak, on the integration tests that cover success, refusals,
# reloads and the recovery after a crash, and on the control socket's
# tests.
if [ "$rc" -eq 0 ] && [ "${VFIOMIG_SKIP_VALGRIND:-0}" != 1 ]; then
	vdir=$top/build-valgrind
	vgopt="-q --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite"
	# The test programs these runs need (make check builds them in the
	# other tree only).
	if "$top/scripts/build.sh" "$vdir" --enable-werror >/dev/null &&
	    make -s -C "$vdir" tests/integration/fdstore-sup \
	    tests/unit/test_ctl >/dev/null; then
		for t in success refusals reload crash-restart; do
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
