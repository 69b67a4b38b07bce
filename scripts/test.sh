#!/bin/sh
# test.sh: installs what is missing, builds vfiomigd with AddressSanitizer,
# UndefinedBehaviorSanitizer and -Werror, runs every test (`make check`,
# the real-kernel guest tests among them), then `make distcheck`.
# Ends with the line "N passed, N failed" (test programs).
#   VFIOMIG_SKIP_DISTCHECK=1  skip distcheck
#   VFIOMIG_SKIP_VM=1         skip the real-kernel guest tests
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
