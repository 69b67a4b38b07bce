#!/bin/bash
# prepare.sh: builds and caches the test guest: Debian trixie's kernel, the
# mtty sample driver and our own test device (tests/vm/kmod/,
# vfiomig_testdev.ko) built for it, the modules the guest loads, and a
# busybox initramfs whose /init is guest-init.sh.  It does not boot the
# guest (run-guest.sh does).
#
# Idempotent: with a complete cache it only checks it (and rebuilds the
# initramfs when guest-init.sh or busybox changed), in well under a second.
# When tests/vm/kmod/ changed (its checksum, kept in the cache), the test
# device is rebuilt: in the kept chroot if there is one (seconds), else
# with the whole cache.
# Cold, it installs the host tools it lacks, debootstraps a trixie chroot
# under the cache, builds mtty.ko there, and removes the chroot at the end
# (keep it with VFIOMIG_VM_KEEP_CHROOT=1).  Nothing from trixie is
# installed on the host: the host's apt sources are not touched.
#
# Exit: 0 ready; 77 the guest cannot be built here (no registry, no qemu,
# not root), the reason on stderr; 1 a real failure.
set -eu -o pipefail
. "$(dirname "$0")/vm-common.sh"

host_pkgs="qemu-system-x86 busybox-static debootstrap xz-utils cpio gzip"
# The modules the guest loads, with what they depend on before them.
want_modules="vfio vfio_iommu_type1 mdev netfs 9pnet 9pnet_virtio 9p overlay"
# Loaded if the kernel has them as modules (else built in, or absent): tls
# for kernel TLS, which the daemon test uses where the kernel has it, with
# the AES-GCM the TLS sessions choose (gcm, ghash; Debian builds AES in).
# The guest has no modprobe for the kernel to load them on demand.
maybe_modules="tls gcm ghash_generic"
chroot_pkgs="gcc make xz-utils"

work=$vm_cache/work
chr=$work/root

make_chroot() {
	local t0=$SECONDS
	vm_log "debootstrap trixie (minbase) from $vm_mirror"
	mkdir -p "$work"
	if ! debootstrap --variant=minbase trixie "$chr" "$vm_mirror" \
	    >"$work/debootstrap.log" 2>&1; then
		tail -n 5 "$work/debootstrap.log" >&2
		remove_work || true
		vm_skip "debootstrap of trixie from $vm_mirror failed (registry unreachable?)"
	fi
	cp /etc/resolv.conf "$chr/etc/resolv.conf" 2>/dev/null || true
	mount -t proc proc "$chr/proc"
	vm_log "chroot ready in $((SECONDS - t0)) s"
}

# Installs the compiler, the headers and the kernel source in the chroot.
chroot_install() {
	local t0=$SECONDS hdr=linux-headers-amd64
	[ -n "${VFIOMIG_VM_KVER:-}" ] && hdr=linux-headers-$VFIOMIG_VM_KVER
	vm_log "installing $chroot_pkgs $hdr linux-source in the chroot"
	in_chroot "apt-get update -q && apt-get install -y -q \
	    --no-install-recommends $chroot_pkgs $hdr linux-source" \
	    >"$work/apt-chroot.log" 2>&1 || {
		tail -n 8 "$work/apt-chroot.log" >&2
		vm_log "apt-get in the trixie chroot failed"
		return 1
	}
	vm_log "chroot packages in $((SECONDS - t0)) s"
}

chroot_kver() {
	local k
	k=$(cd "$chr/usr/src" && ls -d linux-headers-*-amd64 | sed -n \
	    's/^linux-headers-//p' | sort -V | tail -n 1)
	[ -n "$k" ] || { vm_log "no linux-headers-*-amd64 in the chroot"; return 1; }
	echo "$k"
}

# mtty.c from the kernel source tarball, built out of tree.
build_mtty() {
	local kver=$1 t0=$SECONDS
	vm_log "building mtty.ko for $kver"
	in_chroot "
	    src=\$(ls /usr/src/linux-source-*.tar.xz | sort -V | tail -n 1)
	    top=\$(basename \$src .tar.xz)
	    rm -rf /mtty && mkdir /mtty && cd /mtty
	    tar -xJf \$src -O \$top/samples/vfio-mdev/mtty.c >mtty.c
	    test -s mtty.c
	    echo 'obj-m := mtty.o' >Kbuild
	    make -C /usr/src/linux-headers-$kver M=/mtty modules" \
	    >"$work/mtty-build.log" 2>&1 || {
		tail -n 15 "$work/mtty-build.log" >&2
		vm_log "building mtty.ko failed"
		return 1
	}
	vm_log "mtty.ko in $((SECONDS - t0)) s"
}

# The sources of our test device, as one checksum (cache_complete).
testdev_sum() {
	(cd "$vm_srcdir/kmod" && cat Kbuild ./*.c | sha256sum | cut -d' ' -f1)
}

# tests/vm/kmod (vfiomig_testdev.c), built out of tree like mtty.
build_testdev() {
	local kver=$1 t0=$SECONDS
	vm_log "building vfiomig_testdev.ko for $kver"
	rm -rf "$chr/testdev"
	mkdir -p "$chr/testdev"
	cp "$vm_srcdir"/kmod/Kbuild "$vm_srcdir"/kmod/*.c "$chr/testdev/"
	in_chroot "make -C /usr/src/linux-headers-$kver M=/testdev modules" \
	    >"$work/testdev-build.log" 2>&1 || {
		tail -n 25 "$work/testdev-build.log" >&2
		vm_log "building vfiomig_testdev.ko failed"
		return 1
	}
	if grep -q 'warning:' "$work/testdev-build.log"; then
		grep -A3 'warning:' "$work/testdev-build.log" >&2
		vm_log "vfiomig_testdev.ko: the compiler warned"
		return 1
	fi
	vm_log "vfiomig_testdev.ko in $((SECONDS - t0)) s"
}

# The kernel package, downloaded and unpacked inside the chroot.
fetch_kernel() {
	local kver=$1
	vm_log "downloading linux-image-$kver"
	in_chroot "rm -rf /kimg && mkdir -p /kimg/deb && cd /kimg/deb
	    apt-get download linux-image-$kver-unsigned ||
	        apt-get download linux-image-$kver
	    dpkg -x *.deb /kimg/root" >"$work/kernel.log" 2>&1 || {
		tail -n 5 "$work/kernel.log" >&2
		vm_log "downloading the kernel image failed"
		return 1
	}
}

# The names a module depends on, from its .modinfo section.
mod_depends() {
	xz -dcf "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 |
	    tr ',' ' '
}

# Depth first: each module after what it depends on.
resolve() {
	local name=${1//-/_} f d
	case " $resolved " in *" $name "*) return 0 ;; esac
	f=${modpath[$name]:-}
	[ -n "$f" ] || { vm_log "module $name not found"; return 1; }
	for d in $(mod_depends "$f"); do
		resolve "$d" || return 1
	done
	resolved="$resolved $name"
}

collect_modules() {
	local kver=$1 out=$2 f n
	declare -gA modpath=()
	while read -r f; do
		n=${f##*/}; n=${n%%.ko*}; n=${n//-/_}
		modpath[$n]=$f
	done < <(find "$chr/kimg/root" -name '*.ko*' -path "*/$kver/*")
	modpath[mtty]=$chr/mtty/mtty.ko
	modpath[vfiomig_testdev]=$chr/testdev/vfiomig_testdev.ko
	resolved=
	for n in $want_modules mtty vfiomig_testdev; do
		resolve "$n" || return 1
	done
	for n in $maybe_modules; do
		if [ -n "${modpath[$n]:-}" ]; then
			resolve "$n" || return 1
		else
			vm_log "module $n: not a module of $kver"
		fi
	done
	mkdir -p "$out"
	: >"$out/order"
	for n in $resolved; do
		xz -dcf "${modpath[$n]}" >"$out/$n.ko"
		echo "$n" >>"$out/order"
	done
	# What it looked for beyond the must-haves (cache_complete).
	echo "$maybe_modules" >"$out/maybe"
	vm_log "modules:$resolved"
}

# Everything cold: the chroot, mtty.ko, the kernel, the modules.
build_cache() {
	local kver f new=$vm_cache/new
	[ "$(id -u)" -eq 0 ] || vm_skip "building the guest needs root (chroot)"
	remove_work
	rm -rf "$new"
	make_chroot
	chroot_install
	kver=$(chroot_kver)
	build_mtty "$kver"
	build_testdev "$kver"
	fetch_kernel "$kver"
	f=$(ls "$chr/kimg/root/boot/vmlinuz-$kver")
	mkdir -p "$new"
	cp "$f" "$new/vmlinuz"
	collect_modules "$kver" "$new/modules"
	echo "$kver" >"$new/kver"
	testdev_sum >"$new/modules/testdev.sum"
	rm -rf "$vm_cache/modules"
	mv "$new/modules" "$vm_cache/modules"
	mv "$new/kver" "$vm_cache/kver"
	mv "$new/vmlinuz" "$vm_kernel"
	rm -rf "$new" "$vm_initrd" "$vm_cache/initramfs.sum"
	echo "kernel $kver built $(date -u +%FT%TZ)" >"$vm_stamp"
	if [ "${VFIOMIG_VM_KEEP_CHROOT:-0}" = 1 ]; then
		unmount_work
	else
		remove_work
	fi
}

cache_complete() {
	[ -f "$vm_stamp" ] && [ -s "$vm_kernel" ] &&
	    [ -s "$vm_cache/modules/order" ] &&
	    [ -s "$vm_cache/modules/mtty.ko" ] &&
	    [ "$(cat "$vm_cache/modules/maybe" 2>/dev/null)" = "$maybe_modules" ] ||
	    return 1
	testdev_fresh || return 1
	# A pinned kernel other than the cached one: build again.
	[ -z "${VFIOMIG_VM_KVER:-}" ] ||
	    [ "$(cat "$vm_cache/kver")" = "$VFIOMIG_VM_KVER" ]
}

# The cached vfiomig_testdev.ko was built from tests/vm/kmod as it is.
testdev_fresh() {
	[ -s "$vm_cache/modules/vfiomig_testdev.ko" ] &&
	    [ "$(cat "$vm_cache/modules/testdev.sum" 2>/dev/null)" = \
	    "$(testdev_sum)" ]
}

# Only the test device is stale and the chroot was kept: rebuild it there
# (its place in the load order is already there).
rebuild_testdev() {
	local kver
	[ -s "$vm_cache/modules/order" ] && [ -f "$vm_stamp" ] &&
	    grep -qx vfiomig_testdev "$vm_cache/modules/order" || return 1
	kver=$(cat "$vm_cache/kver") || return 1
	[ -d "$chr/usr/src/linux-headers-$kver" ] || return 1
	! testdev_fresh || return 1
	mountpoint -q "$chr/proc" || mount -t proc proc "$chr/proc"
	build_testdev "$kver" || return 1
	cp "$chr/testdev/vfiomig_testdev.ko" "$vm_cache/modules/"
	testdev_sum >"$vm_cache/modules/testdev.sum"
	unmount_work
}

main() {
	local t0=$SECONDS
	mkdir -p "$vm_cache"
	# The lock first: `make check` runs both guest tests at once, and a
	# second apt-get beside the first would fail on dpkg's lock (the
	# apt-get also takes a lock of its own, install_host_tools).
	exec 9>"$vm_cache/.lock"
	flock 9
	install_host_tools apt-host.log
	if ! cache_complete && rebuild_testdev && cache_complete; then
		vm_log "vfiomig_testdev.ko rebuilt in the kept chroot"
	fi
	if ! cache_complete; then
		trap 'unmount_work || true' EXIT
		build_cache
		trap - EXIT
		vm_log "guest built in $((SECONDS - t0)) s"
	fi
	build_initrd "$vm_cache"
	echo "${0##*/}: ready: kernel $(cat "$vm_cache/kver"), cache $vm_cache"
}

main "$@"
