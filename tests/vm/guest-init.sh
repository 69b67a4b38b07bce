#!/bin/busybox sh
# guest-init.sh: /init of the test guest (prepare.sh puts it into the
# initramfs).  Loads the modules, creates the mtty devices, mounts the
# host's root (9p, read-only) under a writable overlay, and runs the job
# that run-guest.sh appended to the initramfs (/job/run) chrooted there.
# Ends with the line "VFIOMIG-EXIT: N" (N the job's exit status), then
# powers off.  It does not decide what the job tests.
#
# With vfiomig.init=systemd the job runs under systemd instead: the same
# overlay root gets a job unit (vfiomig-job.service, pulled in by
# vfiomig-job.target, the default target) and the units a test guest
# does not need masked, then busybox switch_root execs /lib/systemd/systemd
# as PID 1; the job unit prints the "VFIOMIG-EXIT: N" line and powers off
# (systemctl poweroff -ff).
#
# Kernel command line: vfiomig.ndev=N (mtty devices to create, default 2),
# vfiomig.mtype=mtty-2|mtty-1 (default mtty-2), vfiomig.init=busybox
# (default) or systemd.

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
init=busybox
for a in $(cat /proc/cmdline); do
	case $a in
	vfiomig.ndev=*) ndev=${a#*=} ;;
	vfiomig.mtype=*) mtype=${a#*=} ;;
	vfiomig.init=*) init=${a#*=} ;;
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

# Units of the host's root a test guest does not need (or that would wait
# for hardware, a network, a first-boot prompt or the host's services):
# masked in the overlay.  Each costs time under TCG; systemd-tmpfiles-setup
# would also empty the host's /tmp as the overlay shows it (a build
# directory there included) and takes 40 s doing so.
systemd_masked="systemd-firstboot.service systemd-repart.service
	systemd-pcrphase.service systemd-pcrphase-sysinit.service
	systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
	systemd-random-seed.service systemd-update-utmp.service
	systemd-journal-flush.service systemd-timesyncd.service
	systemd-pstore.service systemd-sysusers.service
	systemd-machine-id-commit.service systemd-remount-fs.service
	systemd-hwdb-update.service systemd-journal-catalog-update.service
	systemd-update-done.service ldconfig.service
	sys-kernel-debug.mount sys-kernel-tracing.mount
	sys-kernel-config.mount sys-fs-fuse-connections.mount
	dev-hugepages.mount dev-mqueue.mount kmod-static-nodes.service
	systemd-modules-load.service systemd-sysctl.service
	systemd-tmpfiles-setup-dev.service systemd-ask-password-console.path
	systemd-ask-password-wall.path cryptsetup.target veritysetup.target
	integritysetup.target swap.target getty.target
	systemd-logind.service e2scrub_reap.service
	systemd-tmpfiles-setup.service systemd-tmpfiles-clean.timer
	systemd-udevd.service systemd-udevd-control.socket
	systemd-udevd-kernel.socket systemd-udev-trigger.service
	systemd-udev-settle.service"

# The job as a unit: the environment of run_job and the mdevs' variables,
# the job's output on the console directly (StandardOutput=tty: each line
# is on the console before the next, where journal+console forwards
# through journald and can lose the last lines at the forced poweroff),
# then "VFIOMIG-EXIT: N" and the poweroff.
write_job_unit() {
	local u=$root/etc/systemd/system m
	export -p | grep -E ' VFIOMIG_(NDEV|MTYPE|UUIDS|GROUPS|UUID_|GROUP_)' \
		>"$root/run/vfiomig-job/env"
	cat >"$root/run/vfiomig-job/systemd-run" <<'EOF'
#!/bin/sh
# vfiomig-job.service's ExecStart (written by the guest's /init).
. /run/vfiomig-job/env
echo "guest-init: systemd up at $(cut -d' ' -f1 /proc/uptime) s, running the job"
/bin/sh /run/vfiomig-job/run
rc=$?
echo "guest-init: job done at $(cut -d' ' -f1 /proc/uptime) s"
echo "VFIOMIG-EXIT: $rc"
sync
systemctl poweroff -ff
EOF
	mkdir -p "$u"
	cat >"$u/vfiomig-job.target" <<'EOF'
[Unit]
Description=vfiomig test guest: the job
Requires=vfiomig-job.service
After=vfiomig-job.service
AllowIsolate=yes
EOF
	cat >"$u/vfiomig-job.service" <<'EOF'
[Unit]
Description=vfiomig test guest: the job
Wants=sysinit.target systemd-journald.service
After=sysinit.target systemd-journald.service
DefaultDependencies=no

[Service]
Type=simple
Environment=TMPDIR=/run/vfiomig-tmp HOME=/root
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/bin/sh /run/vfiomig-job/systemd-run
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/console
TimeoutStartSec=infinity
EOF
	ln -sf vfiomig-job.target "$u/default.target"
	for m in $systemd_masked; do
		ln -sf /dev/null "$u/$m"
	done
	# A virtual machine, not the container the host's root may come from
	# (systemd-detect-virt looks for /.dockerenv, /run/.containerenv).
	rm -f "$root/.dockerenv"
	# A machine id of its own: no first boot.
	[ -s "$root/etc/machine-id" ] ||
		tr -d - </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
}

# PID 1 becomes systemd on the overlay root; the initramfs's own API
# mounts go first (the new root has its own, which systemd takes over).
run_systemd() {
	[ "$root" = /newroot ] || die "systemd mode needs the overlay"
	[ -x "$root/lib/systemd/systemd" ] ||
		die "no /lib/systemd/systemd in the host's root"
	write_job_unit
	echo "guest-init: up at $(uptime_s) s, switching to systemd"
	umount /proc /sys 2>/dev/null
	umount -l /dev 2>/dev/null
	exec switch_root "$root" /lib/systemd/systemd
}

[ -f /job/run ] || die "no job in the initramfs"
load_modules
create_mdevs
mount_root
case $init in
systemd) run_systemd ;;
*) run_job ;;
esac
