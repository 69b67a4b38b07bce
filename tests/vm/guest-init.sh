#!/bin/busybox sh
# guest-init.sh: /init of the test guest (prepare.sh puts it into the
# initramfs).  Loads the modules, creates the mtty devices, mounts the
# host's root (9p, read-only) under a writable overlay, and runs the job
# that run-guest.sh appended to the initramfs (/job/run) chrooted there.
# Ends with the line "VFIOMIG-EXIT: N" (N the job's exit status), then
# powers off.  It does not decide what the job tests.
#
# Kernel command line: vfiomig.ndev=N (mtty devices to create, default 2),
# vfiomig.mtype=mtty-2|mtty-1 (default mtty-2).

/bin/busybox --install -s /bin
export PATH=/bin
umask 022

finish() {
	echo "VFIOMIG-EXIT: $1"
	sync
	poweroff -f
	sleep 5
}

die() {
	echo "guest-init: $*"
	finish 1
}

uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

ndev=2
mtype=mtty-2
for a in $(cat /proc/cmdline); do
	case $a in
	vfiomig.ndev=*) ndev=${a#*=} ;;
	vfiomig.mtype=*) mtype=${a#*=} ;;
	esac
done

load_modules() {
	local m
	while read -r m; do
		insmod "/lib/vfiomig/$m.ko" ||
			echo "guest-init: insmod $m failed"
	done </lib/vfiomig/order
}

# One mdev per UUID; exports VFIOMIG_UUIDS, VFIOMIG_GROUPS and the _N forms.
create_mdevs() {
	local types=/sys/class/mdev_bus/mtty/mdev_supported_types i=0 u g
	[ -d "$types/$mtype" ] || die "no mdev type $mtype (mtty not loaded?)"
	VFIOMIG_UUIDS=
	VFIOMIG_GROUPS=
	while [ "$i" -lt "$ndev" ]; do
		u=$(cat /proc/sys/kernel/random/uuid)
		echo "$u" >"$types/$mtype/create" || die "cannot create $mtype $u"
		g=$(readlink "/sys/bus/mdev/devices/$u/iommu_group")
		g=/dev/vfio/${g##*/}
		[ -c "$g" ] || die "$u: no group device $g"
		export "VFIOMIG_UUID_$i=$u" "VFIOMIG_GROUP_$i=$g"
		VFIOMIG_UUIDS="$VFIOMIG_UUIDS${VFIOMIG_UUIDS:+ }$u"
		VFIOMIG_GROUPS="$VFIOMIG_GROUPS${VFIOMIG_GROUPS:+ }$g"
		i=$((i + 1))
	done
	export VFIOMIG_NDEV=$ndev VFIOMIG_MTYPE=$mtype VFIOMIG_UUIDS VFIOMIG_GROUPS
}

# The host's root, read-only, under a tmpfs overlay at /newroot; the host
# root alone (read-only) if overlay is missing.
mount_root() {
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro \
		hostroot /host || die "cannot mount the host's root over 9p"
	mount -t tmpfs -o mode=755 tmpfs /rw
	mkdir -p /rw/upper /rw/work
	if mount -t overlay overlay \
		-o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot
	then
		root=/newroot
	else
		echo "guest-init: no overlay: the host's root stays read-only"
		root=/host
	fi
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount -t devtmpfs devtmpfs "$root/dev"
	mount -t tmpfs -o mode=755 tmpfs "$root/run"
	mkdir -p "$root/run/vfiomig-tmp" "$root/dev/shm"
	chmod 1777 "$root/run/vfiomig-tmp"
	cp -r /job "$root/run/vfiomig-job"
}

run_job() {
	local rc
	echo "guest-init: up at $(uptime_s) s, running the job"
	chroot "$root" /usr/bin/env TMPDIR=/run/vfiomig-tmp HOME=/root \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/sh /run/vfiomig-job/run
	rc=$?
	echo "guest-init: job done at $(uptime_s) s"
	finish "$rc"
}

[ -f /job/run ] || die "no job in the initramfs"
load_modules
create_mdevs
mount_root
run_job
