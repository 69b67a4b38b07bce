#!/bin/sh
# layers.sh [SRCDIR [BUILDDIR]]: the daemon's modules include only headers
# of their own layer or of a lower one (docs/design.md, "Modules"), and no
# two modules include each other, directly or around a circle; nor, in
# the object files the build made, does a module call a function defined
# in a module of a higher layer, or modules call each other around a
# circle (a declaration in a lower header does not hide a call up).  The
# layers are listed here, once, lowest first; a module is a .c file and
# its .h, named without the extension, and the files a module is split
# into (its parts, below) count as the module.  Prints every include and
# call that points up and every circle, and exits 1 if there is one; a
# file in no module is an error too (a new file takes its place here).
# BUILDDIR (default: the current directory, where `make check` runs it)
# must hold the daemon's objects: without them the test is a hard error,
# not a pass.
set -eu
src=${1:-${VFIOMIG_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}}
build=$(cd "${2:-.}" && pwd)
cd "$src/daemon"

layers='
0 compat log util scm fsm crc32c pbcheck predict sysid conf config chan workpool ledger frame vfio-uapi
1 device dev-vfio dev-sim
2 migset localmig vmm
3 daemon dset jobinfo
4 xfer xfer-src xfer-dst xfer-info xfer-check control store notify listen metrics
5 vfiomigd vfiomig-local
'
# part module: the files one module is split into.
parts='
sim-internal dev-sim
sim-content dev-sim
sim-fabric dev-sim
sim-stream dev-sim
sim-mmio dev-sim
xfer-src-conn xfer-src
xfer-src-data xfer-src
xfer-src-precopy xfer-src
xfer-src-report xfer-src
control-cmd control
dset-vmm dset
'

module_of() {
	echo "$parts" | awk -v f="$1" '
	    $1 == f { print $2; found = 1; exit }
	    END { if (!found) print f }'
}
layer_of() {
	echo "$layers" | awk -v m="$1" 'NF { for (i = 2; i <= NF; i++) if ($i == m) { print $1; exit } }'
}

bad=0
edges=$(mktemp)
trap 'rm -f "$edges" "$edges.err"' EXIT
for f in *.c *.h; do
	m=$(module_of "${f%.*}")
	lm=$(layer_of "$m")
	if [ -z "$lm" ]; then
		echo "layers: $f: module $m is in no layer (tests/lint/layers.sh)"
		bad=1
		continue
	fi
	for h in $(sed -n 's/^#include "\([a-z0-9_-]*\)\.h".*/\1/p' "$f"); do
		# config.h is autoconf's; config.c's header is conf.h.
		[ "$h" = config ] && continue
		mh=$(module_of "$h")
		lh=$(layer_of "$mh")
		if [ -z "$lh" ]; then
			echo "layers: $f includes $h.h, in no layer"
			bad=1
		elif [ "$lh" -gt "$lm" ]; then
			echo "layers: $f (layer $lm) includes $h.h (layer $lh): up"
			bad=1
		fi
		[ "$mh" != "$m" ] && echo "$mh $m" >>"$edges"
	done
done
# tsort(1) names each circle it finds among the modules.
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
	# "tsort: -: input contains a loop:", then a line a module
	awk '/input contains a loop/ { if (c != "") print "layers: a circle of includes: " c; c = ""; next }
	    { sub(/^tsort: /, ""); c = c (c == "" ? "" : " -> ") $0 }
	    END { if (c != "") print "layers: a circle of includes: " c }' "$edges.err"
	bad=1
fi

# The calls: in each object, the functions it defines (T) and those it
# uses (U); a use of another module's function is a call to that module.
# The library objects first: a stale object of another name for the same
# file is not read.
objs=$(ls "$build"/daemon/libvfiomig_a-*.o "$build"/daemon/libvfiomigd_a-*.o \
    "$build"/daemon/vfiomigd-vfiomigd.o "$build"/daemon/vfiomig-local.o \
    2>/dev/null || true)
if [ -z "$objs" ]; then
	echo "layers: no daemon objects under $build/daemon: build first"
	exit 99
fi
syms=$(mktemp)
trap 'rm -f "$edges" "$edges.err" "$syms"' EXIT
for o in $objs; do
	f=$(basename "$o" .o)
	f=${f#libvfiomig_a-}; f=${f#libvfiomigd_a-}; f=${f#vfiomigd-}
	nm "$o" | awk -v f="$(module_of "$f")" '
	    NF == 3 && $2 ~ /^[TDBR]$/ { print "D", $3, f }
	    NF == 2 && $1 == "U" { print "U", $2, f }'
done >"$syms"
: >"$edges"
layer_list=$(echo "$layers" | tr '\n' ';')
awk -v layers="$layer_list" -v edges="$edges" '
    BEGIN {
	n = split(layers, row, ";")
	for (i = 1; i <= n; i++) {
		k = split(row[i], w, " ")
		for (j = 2; j <= k; j++)
			lay[w[j]] = w[1]
	}
    }
    $1 == "D" && !($2 in def) { def[$2] = $3 }
    $1 == "U" { use[++nu] = $3 " " $2 }
    END {
	for (i = 1; i <= nu; i++) {
		split(use[i], u, " ")
		if (!(u[2] in def) || def[u[2]] == u[1])
			continue
		m = u[1]; d = def[u[2]]
		print d, m >> edges
		if (!(m in lay) || !(d in lay))
			continue
		if (lay[d] > lay[m]) {
			printf "layers: %s (layer %s) calls %s() of %s (layer %s): up\n",
			    m, lay[m], u[2], d, lay[d]
			bad = 1
		}
	}
	exit bad
    }' "$syms" || bad=1
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
	awk '/input contains a loop/ { if (c != "") print "layers: a circle of calls: " c; c = ""; next }
	    { sub(/^tsort: /, ""); c = c (c == "" ? "" : " -> ") $0 }
	    END { if (c != "") print "layers: a circle of calls: " c }' "$edges.err"
	bad=1
fi
[ "$bad" = 0 ] && echo "layers: every include and every call points down or sideways, with no circle"
exit "$bad"
