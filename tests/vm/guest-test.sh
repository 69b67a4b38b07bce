#!/bin/sh
# guest-test.sh: runs inside the test guest (run-guest.sh), chrooted into
# the host's root: adds two mtty devices of the other type (a different
# state layout, for the refused-load test) and runs vm_kernel_test from
# the build directory on every device.  Holds no checks of its own.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
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
echo "guest-test.sh: $prog $*"
"$prog" "$@"
