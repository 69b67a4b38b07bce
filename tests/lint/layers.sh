#!/bin/sh
# layers.sh [SRCDIR]: the daemon's modules include only headers of their
# own layer or of a lower one (docs/design.md, "Modules"), and no two
# modules include each other, directly or around a circle: no module
# calls up.  The layers are listed here, once, lowest first; a module is
# a .c file and its .h, named without the extension, and the files a
# module is split into (its parts, below) count as the module.  Prints
# every include that points up and every circle, and exits 1 if there is
# one; a file in no module is an error too (a new file takes its place
# here).
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src/daemon"

layers='
0 compat log util scm fsm crc32c pbcheck predict sysid conf config chan workpool ledger frame vfio-uapi
1 device dev-vfio dev-sim
2 migset localmig vmm
3 daemon dset jobinfo
4 xfer xfer-src xfer-dst xfer-info xfer-check control control-cmd store notify listen metrics
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
[ "$bad" = 0 ] && echo "layers: every include points down or sideways, with no circle"
exit "$bad"
