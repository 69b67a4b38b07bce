#!/bin/sh
# layers-neg.sh: the negative controls of layers.sh.  On a copy of the
# daemon's sources, it must fail on an include that points up, on a
# circle of includes and on a file in no layer; on objects made here, on a call up that a lower
# header's declaration would hide and on a circle of calls; and pass on
# the tree as it is.  Run by `make check` from the build directory.
set -eu
src=${VFIOMIG_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=$(pwd)
cc=${CC:-cc}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/daemon" "$t/tests/lint" "$t/obj/daemon"
cp "$src"/daemon/*.c "$src"/daemon/*.h "$t/daemon/"
cp "$src/tests/lint/layers.sh" "$t/tests/lint/"
lint="$t/tests/lint/layers.sh"

fail() { echo "FAIL: $*"; exit 1; }
# objects: the objects made in $t/obj into the libraries layers.sh reads
# (the stale object there must not count), beside main's two, empty.
objects() {
	rm -f "$t"/obj/*.a "$t"/obj/daemon/*.o
	: >"$t/empty.c"
	"$cc" -c -o "$t/obj/daemon/vfiomigd-vfiomigd.o" "$t/empty.c"
	"$cc" -c -o "$t/obj/daemon/vfiomig-local.o" "$t/empty.c"
	# A stale object beside them, calling up: not in a library.
	"$cc" -c -o "$t/obj/daemon/libvfiomig_a-fsm.o" "$t/m.c"
	ar rc "$t/obj/libvfiomig.a" $(ls "$t"/obj/libvfiomig_a-*.o 2>/dev/null)
	ar rc "$t/obj/libvfiomigd.a" $(ls "$t"/obj/libvfiomigd_a-*.o 2>/dev/null)
	rm -f "$t"/obj/lib*_a-*.o
}
# expect NAME PATTERN BUILDDIR: layers.sh fails, saying PATTERN.
expect() {
	if sh "$lint" "$t" "$3" >"$t/out" 2>&1; then
		cat "$t/out"
		fail "$1: layers.sh passed"
	fi
	grep -q "$2" "$t/out" || { cat "$t/out"; fail "$1: no \"$2\""; }
	echo "ok: $1: $(grep "$2" "$t/out" | head -1)"
}

sh "$lint" "$t" "$build" >"$t/out" 2>&1 || { cat "$t/out"; fail "the copy as it is"; }
echo "ok: the tree as it is passes"

# An include up: migset (layer 2) includes the set's header (layer 3).
cp "$t/daemon/migset.c" "$t/migset.c"
echo '#include "dset.h"' >>"$t/daemon/migset.c"
expect "include up" "migset.c (layer 2) includes dset.h (layer 3): up" "$build"
cp "$t/migset.c" "$t/daemon/migset.c"

# A circle within a layer: log includes util, which includes log.
cp "$t/daemon/log.c" "$t/log.c"
echo '#include "util.h"' >>"$t/daemon/log.c"
expect "circle of includes" "a circle of includes: .*log" "$build"
cp "$t/log.c" "$t/daemon/log.c"

# A new file that no layer lists.
echo 'int stray;' >"$t/daemon/stray.c"
expect "file in no layer" "stray.c: module stray is in no layer" "$build"
rm -f "$t/daemon/stray.c"

# A call up that no include shows: migset calls a function of dset's,
# declared where migset may look.
printf 'void dset_neg(void);\nvoid migset_neg(void) { dset_neg(); }\n' \
    >"$t/m.c"
printf 'void dset_neg(void) { }\n' >"$t/d.c"
"$cc" -c -o "$t/obj/libvfiomig_a-migset.o" "$t/m.c"
"$cc" -c -o "$t/obj/libvfiomigd_a-dset.o" "$t/d.c"
objects
expect "call up" "migset (layer 2) calls dset_neg() of dset (layer 3): up" \
    "$t/obj"

# ... but the same call in a stale object, in no library, is not read.
rm -f "$t/obj/libvfiomig_a-migset.o"
"$cc" -c -o "$t/obj/libvfiomigd_a-dset.o" "$t/d.c"
objects
sh "$lint" "$t" "$t/obj" >"$t/out" 2>&1 || { cat "$t/out"; fail "a stale object was read"; }
echo "ok: a stale object (daemon/libvfiomig_a-fsm.o, calling up) is not read"

# A circle of calls within a layer: listen and control call each other.
printf 'void ctl_neg(void);\nvoid listen_neg(void) { ctl_neg(); }\n' \
    >"$t/l.c"
printf 'void listen_neg(void);\nvoid ctl_neg(void) { listen_neg(); }\n' \
    >"$t/c.c"
"$cc" -c -o "$t/obj/libvfiomigd_a-listen.o" "$t/l.c"
"$cc" -c -o "$t/obj/libvfiomigd_a-control.o" "$t/c.c"
objects
expect "circle of calls" "a circle of calls: .*listen" "$t/obj"

# No objects at all: a hard error, not a pass.
rm -rf "$t/obj"
mkdir -p "$t/obj/daemon"
set +e
sh "$lint" "$t" "$t/obj" >"$t/out" 2>&1
rc=$?
set -e
[ "$rc" = 99 ] || { cat "$t/out"; fail "no objects: exit $rc, not 99"; }
echo "ok: no objects: hard error"
