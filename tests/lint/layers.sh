#!/bin/sh
# layers.sh [SRCDIR]: the daemon's modules include only headers of their
# own layer or of a lower one (docs/design.md, "Modules"): no module calls
# up.  The layers are listed here, once, lowest first; a module is a .c
# file and its .h, named without the extension.  Prints every include
# that points up and exits 1 if there is one; a module missing from the
# list is an error too (a new file takes its place here).
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src/daemon"

layers='
0 compat util log scm fsm crc32c pbcheck predict sysid conf config chan workpool ledger frame vfio-uapi
1 device dev-vfio dev-sim sim-internal sim-content sim-fabric sim-stream sim-mmio
2 migset localmig
3 daemon dset vmm jobinfo
4 xfer xfer-src xfer-src-conn xfer-src-data xfer-src-precopy xfer-src-report xfer-dst xfer-info xfer-check control control-cmd store notify listen metrics
5 vfiomigd vfiomig-local
'

layer_of() {
	echo "$layers" | awk -v m="$1" 'NF { for (i = 2; i <= NF; i++) if ($i == m) { print $1; exit } }'
}

bad=0
for f in *.c *.h; do
	m=${f%.*}
	lm=$(layer_of "$m")
	if [ -z "$lm" ]; then
		echo "layers: $f: module $m is in no layer (tests/lint/layers.sh)"
		bad=1
		continue
	fi
	for h in $(sed -n 's/^#include "\([a-z0-9_-]*\)\.h".*/\1/p' "$f"); do
		[ "$h" = config ] && [ "$f" != config.c ] && continue	# autoconf's
		lh=$(layer_of "$h")
		if [ -z "$lh" ]; then
			echo "layers: $f includes $h.h, in no layer"
			bad=1
		elif [ "$lh" -gt "$lm" ]; then
			echo "layers: $f (layer $lm) includes $h.h (layer $lh): up"
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "layers: every include points down or sideways"
exit "$bad"
