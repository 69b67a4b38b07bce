#!/bin/sh
# deps.sh: installs the Debian 12 packages vfiomigd needs to build and test,
# when any is missing.  Run as root (or it uses sudo when it can).
set -eu

PKGS="autoconf automake libtool pkg-config make gcc
libevent-dev libjson-c-dev libsystemd-dev libprotobuf-c-dev protobuf-c-compiler
libgnutls28-dev gnutls-bin libcmocka-dev valgrind jq
protobuf-compiler python3-protobuf python3-prometheus-client systemd gdb"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps.sh: missing packages:$missing; run as root to install them" >&2
		exit 1
	}
	SUDO=sudo
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
