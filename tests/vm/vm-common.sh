# vm-common.sh: settings shared by the guest scripts (sourced, not run).
# Holds the paths of the cache and its files; builds nothing.
#   VFIOMIG_VM_CACHE   the cache directory (default: tests/vm/cache in the
#                      source tree)
#   VFIOMIG_VM_KVER    the trixie kernel to use, e.g. 6.12.117+deb13-amd64
#                      (default: the one trixie's linux-headers-amd64 names
#                      when the cache is built)

vm_srcdir=$(cd "$(dirname "$0")" && pwd)
vm_cache=${VFIOMIG_VM_CACHE:-$vm_srcdir/cache}
vm_mirror=${VFIOMIG_VM_MIRROR:-http://deb.debian.org/debian}

# Files of a complete cache.
vm_kernel=$vm_cache/vmlinuz
vm_initrd=$vm_cache/initramfs.cpio.gz
vm_stamp=$vm_cache/ready

vm_log() {
	echo "${0##*/}: $*" >&2
}

vm_skip() {
	echo "${0##*/}: SKIP: $*" >&2
	exit 77
}
