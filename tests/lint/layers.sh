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
# must hold the daemon's libraries and main's objects: without them the
# test is a hard error, not a pass.
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

# The map, for awk: lay[module] = layer, mod(file stem) = its module.
map='
    BEGIN {
	n = split(layers, row, "\n")
	for (i = 1; i <= n; i++) {
		k = split(row[i], w, " ")
		for (j = 2; j <= k; j++)
			lay[w[j]] = w[1]
	}
	n = split(parts, row, "\n")
	for (i = 1; i <= n; i++)
		if (split(row[i], w, " ") == 2)
			part[w[1]] = w[2]
    }
    function mod(f) { return f in part ? part[f] : f }
'

# circles KIND: reads tsort's complaints ("tsort: -: input contains a
# loop:", then a line a module) and names each circle.
circles() {
	awk -v kind="$1" '
	    /input contains a loop/ { if (c != "") print "layers: a circle of " kind ": " c; c = ""; next }
	    { sub(/^tsort: /, ""); c = c (c == "" ? "" : " -> ") $0 }
	    END { if (c != "") print "layers: a circle of " kind ": " c }'
}

bad=0
edges=$(mktemp)
trap 'rm -f "$edges" "$edges.err" "$edges.inc"' EXIT
# Each file ("F -") and each of its includes ("F H"), in one pass; config.h
# is autoconf's (config.c's header is conf.h).
for f in *.c *.h; do echo "$f -"; done >"$edges.inc"
grep -H '^#include "[a-z0-9_-]*\.h"' *.c *.h |
    sed 's/^\([^:]*\):#include "\([a-z0-9_-]*\)\.h".*/\1 \2/' |
    grep -v ' config$' >>"$edges.inc"
awk -v layers="$layers" -v parts="$parts" -v edges="$edges" "$map"'
    {
	f = $1; stem = f; sub(/\.[ch]$/, "", stem); m = mod(stem)
	if (!(m in lay)) {
		if (!(f in told))
			printf "layers: %s: module %s is in no layer (tests/lint/layers.sh)\n", f, m
		told[f] = bad = 1
		next
	}
	if ($2 == "-")
		next
	h = mod($2)
	if (!(h in lay)) {
		printf "layers: %s includes %s.h, in no layer\n", f, $2
		bad = 1
	} else if (lay[h] > lay[m]) {
		printf "layers: %s (layer %s) includes %s.h (layer %s): up\n", f, lay[m], $2, lay[h]
		bad = 1
	}
	if (h != m)
		print h, m >> edges
    }
    END { exit bad }' "$edges.inc" || bad=1
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
	circles includes <"$edges.err"
	bad=1
fi

# The calls: in each object, the functions it defines (T, D, B, R) and
# those it uses (U); a use of another module's function is a call to that
# module.  The objects are read from the libraries the build links (make
# rebuilds them whole, so an object left over from a renamed or moved file
# is not among them) and main's two objects.
objs=
for o in libvfiomig.a libvfiomigd.a daemon/vfiomigd-vfiomigd.o \
    daemon/vfiomig-local.o; do
	if [ ! -f "$build/$o" ]; then
		echo "layers: no $o under $build: build first"
		exit 99
	fi
	objs="$objs $build/$o"
done
syms=$(mktemp)
trap 'rm -f "$edges" "$edges.err" "$edges.inc" "$syms"' EXIT
# nm -A: "LIB.a:MEMBER.o:ADDR T sym", "LIB.a:MEMBER.o: U sym", "X.o:...".
# shellcheck disable=SC2086 # the list of files
nm -A $objs | awk '
    NF == 3 {
	n = split($1, p, ":"); f = ""
	for (i = 1; i <= n; i++)
		if (p[i] ~ /\.o$/)
			f = p[i]
	sub(/.*\//, "", f); sub(/\.o$/, "", f)
	sub(/^(libvfiomigd?_a|vfiomigd)-/, "", f)
	if ($2 ~ /^[TDBR]$/)
		print "D", $3, f
	else if ($2 == "U")
		print "U", $3, f
    }' >"$syms"
: >"$edges"
awk -v layers="$layers" -v parts="$parts" -v edges="$edges" "$map"'
    $1 == "D" && !($2 in def) { def[$2] = mod($3) }
    $1 == "U" { use[++nu] = mod($3) " " $2 }
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
	circles calls <"$edges.err"
	bad=1
fi
[ "$bad" = 0 ] && echo "layers: every include and every call points down or sideways, with no circle"
exit "$bad"
