#!/bin/bash
# bench_kernel.sh [BUILDDIR [SRCDIR]]: the real-kernel benchmark, in the
# test guest (tests/vm/run-guest.sh; TCG, so ratios only): bench_step
# --kernel on vfiomig_testdev devices (tests/vm/kmod): one collective step
# of 16 devices with 20 ms arcs against a single arc (goal <= 1.2), and a
# 64 MiB state read through a real data fd against the simulator's
# socketpair (the ratio of their MiB/s); then bench_step on simulated
# devices in the same guest, for comparison.  Needs the guest cache
# (tests/vm/prepare.sh, root) and tests/bench/bench_step built (`make
# tests/bench/bench_step`).  Reports; fails only if it could not run.
#   VFIOMIG_BENCH_STREAM_SIZE  the streamed state (default 67108864)
# Exit: 0 ran; 77 no guest here; 1 it could not run.
set -u

if [ "${1:-}" != --guest ]; then
	bdir=$(cd "${1:-.}" && pwd)
	src=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
	[ -x "$bdir/tests/bench/bench_step" ] || {
		echo "${0##*/}: no $bdir/tests/bench/bench_step (make" \
		    "tests/bench/bench_step)" >&2
		exit 1
	}
	"$src/tests/vm/prepare.sh" || exit $?
	cd "$bdir" || exit 1
	VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_NDEV=0 VFIOMIG_VM_MEM=2048 \
	    VFIOMIG_VM_TIMEOUT=600 "$src/tests/vm/run-guest.sh" \
	    "$src/tests/bench/bench_kernel.sh" --guest
	exit $?
fi

# ---- in the guest ----
bdir=${VFIOMIG_BUILDDIR:-$PWD}
types=/sys/class/mdev_bus/vfiomig_testdev/mdev_supported_types
mtype=vfiomig_testdev-1
size=${VFIOMIG_BENCH_STREAM_SIZE:-67108864}
. "$(dirname "$0")/../vm/guest-lib.sh"
[ -d "$types/$mtype" ] || { echo "bench_kernel: no $mtype"; exit 1; }

devs=()
cleanup() {
	for d in "${devs[@]}"; do rm_mdev "$d" 2>/dev/null; done
}
trap cleanup EXIT

# tdev ATTR=VALUE...: a new device with those attributes, into $dev.
tdev() {
	new_mdev dev || exit 1
	devs+=("$dev")
	for kv in "$@"; do
		echo "${kv#*=}" >"/sys/bus/mdev/devices/${dev#*:}/testdev/${kv%%=*}" ||
		    exit 1
	done
}

tdev state_size="$size"
stream=$dev
step=()
for _ in $(seq 16); do
	tdev state_size=1048576 latency_us=20000
	step+=("$dev")
done
echo "bench_kernel: 16 devices with 20 ms arcs, one of $size bytes to read"
"$bdir/tests/bench/bench_step" --kernel "$stream" "${step[@]}" || exit 1
echo "bench_kernel: the same on simulated devices, in this guest:"
"$bdir/tests/bench/bench_step" || exit 1
