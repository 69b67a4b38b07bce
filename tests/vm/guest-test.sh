#!/bin/sh
# guest-test.sh: runs inside the test guest (run-guest.sh), chrooted into
# the host's root: adds two mtty devices of the other type (a different
# state layout, for the refused-load test) and runs vm_kernel_test from
# the build directory on every device; then removes every mdev (mtty has
# 24 ports in all) and runs guest-daemon-test.sh (two vfiomigd daemons),
# then guest-adopt-test.sh (devices left mid-migration, daemons killed
# and restarted, a used token), then guest-testdev-test.sh (our own test
# device, vfiomig_testdev: real-sized state, P2P, faults).  Holds no checks of its own; fails if any
# part failed.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
#   VFIOMIG_VM_PARTS  "kernel daemon adopt testdev" (default), or some of
#                     them
set -u

bdir=${VFIOMIG_BUILDDIR:-$PWD}
prog=$bdir/tests/vm/vm_kernel_test
types=/sys/class/mdev_bus/mtty/mdev_supported_types

[ -x "$prog" ] || { echo "guest-test.sh: no $prog"; exit 99; }
[ "${VFIOMIG_NDEV:-0}" -gt 0 ] || { echo "guest-test.sh: no devices"; exit 77; }

case ${VFIOMIG_MTYPE:-mtty-2} in
mtty-2) otype=mtty-1 ;;
*) otype=mtty-2 ;;
esac

# GROUP:UUID of one new device of type $1.
new_mdev() {
	u=$(cat /proc/sys/kernel/random/uuid)
	echo "$u" >"$types/$1/create" || return 1
	g=$(readlink "/sys/bus/mdev/devices/$u/iommu_group") || return 1
	echo "/dev/vfio/${g##*/}:$u"
}

set --
for _ in 1 2; do
	d=$(new_mdev "$otype") && set -- "$@" -1 "$d" ||
		echo "guest-test.sh: cannot create a $otype device"
done
i=0
while [ "$i" -lt "$VFIOMIG_NDEV" ]; do
	eval "set -- \"\$@\" \"\$VFIOMIG_GROUP_$i:\$VFIOMIG_UUID_$i\""
	i=$((i + 1))
done
parts=${VFIOMIG_VM_PARTS:-kernel daemon adopt testdev}
rc=0
case " $parts " in
*" kernel "*)
	echo "guest-test.sh: $prog $*"
	"$prog" "$@"
	rc=$? ;;
esac
for u in /sys/bus/mdev/devices/*; do
	[ -e "$u/remove" ] && echo 1 >"$u/remove"
done

# part NAME SCRIPT: runs SCRIPT (each makes and removes its own mdevs) if
# NAME is in $parts; its status into $rc (a skip keeps the others').
part() {
	case " $parts " in
	*" $1 "*) ;;
	*) return ;;
	esac
	echo "guest-test.sh: $(dirname "$0")/$2"
	t0=$(cut -d' ' -f1 /proc/uptime)
	sh "$(dirname "$0")/$2"
	d=$?
	case $d/$rc in
	77/*) ;;
	*/0 | */77) rc=$d ;;
	esac
	echo "guest-test.sh: the $1 test took $(awk -v a="$t0" \
	    -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"
}

part daemon guest-daemon-test.sh
part adopt guest-adopt-test.sh
part testdev guest-testdev-test.sh
exit $rc
