#!/bin/sh
# demo.sh [options]: the main job.  Builds vfiomigd (scripts/build.sh), makes
# a throw-away TLS PKI (tests/gen-certs.sh), starts a destination and a source
# daemon on 127.0.0.1, each with a set of simulated devices (P2P writes among
# them, state dirtied while they run), migrates the set over mutual TLS,
# shows the source's progress, and ends with a report and a digest check per
# device.  A reference VMM (tests/vmm/refvmm) is attached to the set on each
# side, its vCPU threads writing into the devices' BARs; the source daemon
# asks it to pause before the devices stop, the destination's to resume
# once they run (--vcpu-policy).  Exits 0 only if the migration succeeded,
# every destination digest equals its source digest and no P2P write and
# no vCPU write was lost on either side.  With
# --stay both daemons keep running afterwards, for vfiomigctl to try.
#
# Not here: real devices (docs/vfiomigd.conf.5, backend "vfio"), the
# in-process demo (build/daemon/vfiomig-local, see README.md).
set -eu

usage() {
	cat <<EOF
usage: $0 [options]
Migrates a set of simulated VFIO devices between two vfiomigd daemons on
127.0.0.1 (mutual TLS by default) and checks the result.

  --devices N         devices per set, 1 to 64 (default 4)
  --state-size SIZE   state per device: 256M, 1.5G (sizes: vfiomigd.conf(5);
                      default 256M)
  --dirty-rate N      pages dirtied per second per running device (default 2000)
  --p2p-rate N        P2P writes per second per running device (default 5000)
  --connections N     TCP connections of the migration, 1 to 16 (default 4)
  --vcpu-policy P     how the VMM's vCPUs and the devices take turns:
                      cooperative (default: the devices drain with the vCPUs
                      running, then the vCPUs pause), pause-first, or none
                      (no VMM attached)
  --insecure          plaintext instead of mutual TLS (no PKI)
  --keep              keep the temporary directory (configs, logs, PKI)
  --stay              leave both daemons running at the end (implies --keep)
                      and print the vfiomigctl commands to try on them
  --help              this text

Exit status: 0 every digest matches and no P2P or vCPU write was lost; 1 the
migration failed or the check did not pass; 2 bad arguments.
EOF
}

bad() {
	echo "demo.sh: $*" >&2
	echo "(see $0 --help)" >&2
	exit 2
}

# num OPT VALUE MIN MAX
num() {
	case $2 in '' | *[!0-9]*) bad "$1 '$2': not a number" ;; esac
	if [ "${#2}" -gt 9 ] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		bad "$1 '$2': must be $3 to $4"
	fi
}

devices=4 size=256M dirty=2000 p2p=5000 conns=4 insecure=false keep=false
stay=false policy=cooperative
while [ $# -gt 0 ]; do
	case $1 in
	--devices | --state-size | --dirty-rate | --p2p-rate | --connections | \
	--vcpu-policy)
		[ $# -ge 2 ] || bad "$1 needs a value" ;;
	esac
	case $1 in
	--devices) num "$1" "$2" 1 64; devices=$2; shift ;;
	--state-size)
		# The daemon checks it (size_parse(), vfiomigd.conf(5)):
		# this is only its shape, for an early word.
		# (Not expr: with groups it prints the first, empty for
		# "256M", and fails.)
		printf '%s\n' "$2" |
		    grep -Eqx '[0-9]+(\.[0-9]*)?([KkMmGgTt](iB)?)?' ||
		    bad "--state-size '$2': a size like 256M or 1.5G"
		size=$2; shift ;;
	--dirty-rate) num "$1" "$2" 0 10000000; dirty=$2; shift ;;
	--p2p-rate) num "$1" "$2" 0 10000000; p2p=$2; shift ;;
	--connections) num "$1" "$2" 1 16; conns=$2; shift ;;
	--vcpu-policy)
		case $2 in
		none | pause-first | cooperative) policy=$2 ;;
		*) bad "--vcpu-policy '$2': none, pause-first or cooperative" ;;
		esac
		shift ;;
	--insecure) insecure=true ;;
	--keep) keep=true ;;
	--stay) stay=true keep=true ;;
	--help | -h) usage; exit 0 ;;
	*) bad "unknown option '$1'" ;;
	esac
	shift
done

tmp='' dst_pid='' src_pid='' detach='' vmm_pids=''
# --stay: the daemons in sessions of their own, so that neither the end of
# this script nor a later Ctrl-C in the terminal stops them.
$stay && detach=setsid
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	for p in $vmm_pids $src_pid $dst_pid; do
		kill -TERM "$p" 2>/dev/null || :
	done
	for p in $vmm_pids $src_pid $dst_pid; do
		wait "$p" 2>/dev/null || :
	done
	if [ -n "$tmp" ]; then
		if $keep; then
			echo "demo.sh: kept $tmp"
		else
			rm -rf "$tmp"
		fi
	fi
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: interrupted" >&2; exit 130' INT TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vfiomigd-demo.XXXXXX")

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
echo "== building vfiomigd in $top/build (scripts/build.sh)"
if ! "$top/scripts/build.sh" "$top/build" >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log" >&2
	echo "demo.sh: the build failed" >&2
	exit 1
fi
vfiomigd=$top/build/daemon/vfiomigd
vfiomigctl=$top/build/cli/vfiomigctl
refvmm=$top/build/tests/vmm/refvmm
if [ "$policy" != none ] &&
    ! make -s -C "$top/build" tests/vmm/refvmm >>"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log" >&2
	echo "demo.sh: building the reference VMM failed" >&2
	exit 1
fi

# --- The configurations. ---

if $insecure; then
	link='"insecure": true'
	mode="plaintext (--insecure)"
else
	echo "== making a test PKI (tests/gen-certs.sh)"
	"$top/tests/gen-certs.sh" "$tmp/pki"
	link="\"tls_dir\": \"$tmp/pki\""
	mode="mutual TLS (X.509, test CA)"
fi
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export VFIOMIG_TOKEN="demo-$token"

# devices SEEDBASE SIDE: the set's devices; the two sides get different
# seeds, so a destination digest can only match if the source's state
# arrived.  Each device's state in a file of its own, which the VMM's
# vCPUs map (as a real VMM maps a device's BAR).
devices_json() {
	i=0
	while [ "$i" -lt "$devices" ]; do
		[ "$i" -gt 0 ] && printf ',\n'
		printf '    { "name": "sim%d", "backend": "sim", ' "$i"
		printf '"state_size": "%s", "dirty_rate": %d, ' "$size" "$dirty"
		printf '"p2p_rate": %d, "seed": %d, ' "$p2p" $(($1 + i))
		printf '"state_file": "%s/%s.sim%d" }' "$tmp" "$2" "$i"
		i=$((i + 1))
	done
}

# vmm SIDE [--incoming]: the reference VMM attached to SIDE's set, 2 vCPUs
# writing into every device; waits until it attached.
vmm() {
	[ "$policy" != none ] || return 0
	vd='' i=0
	while [ "$i" -lt "$devices" ]; do
		vd="$vd --device sim$i=$tmp/$1.sim$i"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086 # the --device list
	"$refvmm" --socket "$tmp/$1.sock" --set vm1 --policy "$policy" \
	    --vcpus 2 --rate 2000 $vd ${2:-} >"$tmp/vmm-$1.out" 2>&1 &
	vmm_pids="$vmm_pids $!"
	i=0
	until grep -q 'attached' "$tmp/vmm-$1.out"; do
		if [ $i -ge 300 ]; then
			cat "$tmp/vmm-$1.out" >&2
			echo "demo.sh: the $1 VMM did not attach" >&2
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	sed 's/^/   [vmm-'"$1"'] /' "$tmp/vmm-$1.out"
}

# conf FILE SIDE LISTEN-LINE TOKEN-LINE SEEDBASE
conf() {
	cat >"$1" <<EOF
{
  "control_socket": "$tmp/$2.sock",
  "state_dir": "$tmp/$2.state",
  "log_level": "info",
  "migration": {
    $3$link,
    "connections": $conns,
    "max_frame": "1M",
    "downtime_limit_ms": 300,
    "max_iterations": 10
  },
  "sets": [ {
    "name": "vm1",$4
    "devices": [
$(devices_json "$5" "$2")
    ]
  } ]
}
EOF
}

conf "$tmp/src.json" src "" "" 1
echo "== source config: $devices devices x $size (dirty_rate $dirty pages/s," \
    "p2p_rate $p2p writes/s), $mode; vCPU policy $policy"

# --- The destination, on a free port (a port taken is tried again). ---

start_dst() {
	tries=0
	while :; do
		tries=$((tries + 1))
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		conf "$tmp/dst.json" dst "\"listen\": \"127.0.0.1:$port\", " \
		    " \"token\": \"$VFIOMIG_TOKEN\"," 1001
		: >"$tmp/dst.log"
		$detach "$vfiomigd" --config "$tmp/dst.json" \
		    </dev/null >/dev/null 2>"$tmp/dst.log" &
		dst_pid=$!
		while kill -0 "$dst_pid" 2>/dev/null; do
			grep -q 'listening for migrations' "$tmp/dst.log" &&
				return 0
			sleep 0.1
		done
		wait "$dst_pid" || :
		dst_pid=
		if grep -q 'cannot listen' "$tmp/dst.log" && [ $tries -lt 20 ]; then
			continue
		fi
		echo "demo.sh: the destination daemon did not start:" >&2
		cat "$tmp/dst.log" >&2
		exit 1
	done
}
echo "== starting the destination daemon"
start_dst
grep -E 'listening for|device sim' "$tmp/dst.log" | sed 's/^vfiomigd: [a-z]*: /   [dst] /'
[ "$policy" = none ] ||
	echo "== the destination's VMM (its vCPUs run only once the daemon says every device is RUNNING)"
vmm dst --incoming

# --- The migration: the source daemon, until its report. ---

echo "== starting the source daemon"
: >"$tmp/src.log"
$detach "$vfiomigd" --config "$tmp/src.json" </dev/null >/dev/null \
    2>"$tmp/src.log" &
src_pid=$!
i=0
until "$vfiomigctl" -s "$tmp/src.sock" version >/dev/null 2>&1; do
	if ! kill -0 "$src_pid" 2>/dev/null || [ $i -ge 300 ]; then
		echo "demo.sh: the source daemon did not start:" >&2
		cat "$tmp/src.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done
grep -E 'device sim' "$tmp/src.log" | sed 's/^vfiomigd: [a-z]*: /   [src] /'
[ "$policy" = none ] || echo "== the source's VMM (the VM runs)"
vmm src

# --- The migration, driven through the source's control socket. ---

# --wait prints the progress, then the job's figures (as `info vm1`).
echo "== vfiomigctl -s $tmp/src.sock migrate vm1 --to 127.0.0.1:$port --token ... --wait"
t0=$(date +%s.%N)
src_rc=0
"$vfiomigctl" -s "$tmp/src.sock" migrate vm1 --to "127.0.0.1:$port" \
    --token "$VFIOMIG_TOKEN" --wait || src_rc=$?
t1=$(date +%s.%N)
# The VMMs end with their jobs: the handshake as they saw it, what their
# vCPUs wrote and lost.
for p in $vmm_pids; do
	wait "$p" || echo "demo.sh: a VMM failed" >&2
done
vmm_pids=''
for side in src dst; do
	[ -f "$tmp/vmm-$side.out" ] &&
	    grep -E 'paused|resumed|total writes' "$tmp/vmm-$side.out" |
	    sed 's/^/   [vmm-'"$side"'] /'
done

# The source's report and per-device lines are logged before the job ends.
i=0
while [ "$(grep -c 'migrate vm1: report: device ' "$tmp/src.log")" -lt "$devices" ] &&
    [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

# The destination's per-device lines follow its commit line; wait for them.
i=0
while [ "$(grep -c 'incoming vm1: device .* RUNNING digest' "$tmp/dst.log")" -lt "$devices" ] &&
    grep -q 'committed in' "$tmp/dst.log" && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -E 'incoming vm1: job|incoming from' "$tmp/dst.log" | sed 's/^vfiomigd: [a-z]*: /   [dst] /'

# --- The report. ---

echo
rc=0
touch "$tmp/vmm-src.out" "$tmp/vmm-dst.out"
awk -v devices="$devices" -v rc="$src_rc" -v mode="$mode" -v policy="$policy" -v wall="$(echo "$t1 - $t0" | awk '{print $1 - $3}')" '
function human(b,   u, i) {
	split("B KiB MiB GiB TiB", u, " ")
	for (i = 1; b >= 1024 && i < 5; i++)
		b /= 1024
	return sprintf(i == 1 ? "%d %s" : "%.1f %s", b, u[i])
}
function field(name,   i) {
	for (i = 1; i < NF; i++)
		if ($i == name)
			return $(i + 1)
	return ""
}
FNR == 1 {
	side = FILENAME ~ /src\.log$/ ? 1 : FILENAME ~ /dst\.log$/ ? 2 : \
	    FILENAME ~ /vmm-src\.out$/ ? 3 : 4
}
side == 1 && /migrate vm1: to .* connections/ {
	for (i = 1; i < NF; i++)
		if ($(i + 1) ~ /^connections/)
			nconn = $i
}
side == 1 && /migrate vm1: report: result / {
	sub(/.*report: result /, ""); result = $0
}
side == 1 && /report: bytes total/ {
	total = field("total"); pre = field("precopy"); stop = field("stopcopy")
}
side == 1 && /report: iterations/ { iters = field("iterations") }
side == 1 && /report: throughput/ { tput = field("throughput") }
side == 1 && /report: downtime_ms/ { down = field("downtime_ms") }
side == 1 && /report: predicted_downtime_ms/ {
	pred = field("predicted_downtime_ms"); limit = field("limit_ms")
}
side == 1 && /report: total_ms/ { tot = field("total_ms") }
side == 1 && /report: vm_downtime_ms/ { vmdown = field("vm_downtime_ms") }
side == 1 && /report: drain_ms/ { drain = field("drain_ms") }
side == 3 && /refvmm: total writes/ {
	swrites = field("writes"); slostv = field("lost")
}
side == 4 && /refvmm: total writes/ {
	dwrites = field("writes"); dlostv = field("lost"); dearly = field("early")
}
side == 1 && /report: device / {
	d = field("device"); order[++n] = d
	sdig[d] = field("digest"); slost[d] = field("p2p_lost")
	ssent[d] = field("p2p_sent"); sstream[d] = field("stream_bytes")
	check[d] = field("digest_check")
}
side == 2 && /incoming vm1: job .*: committed in/ { committed = 1 }
side == 2 && committed && /incoming vm1: device .* digest/ {
	d = field("device"); ddig[d] = field("digest"); dlost[d] = field("p2p_lost")
}
END {
	ok = (result == "success" && rc == 0 && n == devices)
	printf "== report (%s, %s TCP connections)\n", mode, nconn == "" ? "?" : nconn
	printf "   result           %s (source exit %d)\n", result == "" ? "none" : result, rc
	printf "   bytes moved      %s: pre-copy %s, stop-copy %s\n", human(total), human(pre), human(stop)
	printf "   pre-copy         %d iterations\n", iters
	printf "   throughput       %s/s (bytes over the pre-copy and stop-copy phases)\n", human(tput)
	printf "   downtime         %.1f ms (first device leaves RUNNING/PRE_COPY until the\n", down
	printf "                    destination, every device RUNNING, answered COMMITTED)\n"
	if (pred != "")
		printf "                    predicted at the switchover %s ms, limit %s ms\n", pred, limit
	if (policy != "none") {
		printf "   vm downtime      %s ms (vCPU policy %s: the source VMM paused until the\n", vmdown == "" ? "?" : sprintf("%.1f", vmdown), policy
		printf "                    destination VMM resumed, every device RUNNING)%s\n", drain == "" ? "" : sprintf(";\n                    drained %.1f ms with the vCPUs running", drain)
		printf "   vCPU writes      source %s (lost %s), destination %s (lost %s, before RUNNING %s)\n", swrites, slostv, dwrites, dlostv, dearly
		if (vmdown == "" || swrites == "" || dwrites == "" || slostv != "0" || dlostv != "0" || dearly != "0")
			ok = 0
	}
	printf "   total            %d ms (connect to COMMITTED); vfiomigctl migrate --wait %.1f s\n", int(tot), wall
	printf "                    wall clock (request to the end of the wait)\n"
	printf "\n   %-8s %-20s %-20s %-9s %-10s %-10s %s\n", "device", "source digest",
	    "dest digest", "check", "lost src", "lost dst", "stream"
	for (i = 1; i <= n; i++) {
		d = order[i]
		match_ = (sdig[d] != "" && sdig[d] == ddig[d])
		lost = (slost[d] != "0" || dlost[d] != "0")
		if (!match_ || lost)
			ok = 0
		printf "   %-8s %-20s %-20s %-9s %-10s %-10s %s, %s\n", d, sdig[d],
		    ddig[d] == "" ? "(none)" : ddig[d],
		    match_ ? "match" : ddig[d] == "" ? "no digest" : "MISMATCH",
		    slost[d], dlost[d] == "" ? "?" : dlost[d], human(sstream[d]), check[d]
	}
	print ""
	if (ok)
		printf "   PASS: %d devices, every destination digest equals its source digest, no P2P write lost%s\n", n, policy == "none" ? "" : ", no vCPU write lost"
	else
		printf "   FAIL: the migration failed, a digest differs or a P2P or vCPU write was lost\n"
	exit ok ? 0 : 1
}' "$tmp/src.log" "$tmp/dst.log" "$tmp/vmm-src.out" "$tmp/vmm-dst.out" || rc=$?

# --- --stay: the daemons stay up for vfiomigctl. ---

if $stay; then
	ctl=$vfiomigctl
	cat <<EOF

== both daemons keep running (--stay); everything is in $tmp
   source       pid $src_pid, control socket $tmp/src.sock, log $tmp/src.log
   destination  pid $dst_pid, control socket $tmp/dst.sock, log $tmp/dst.log,
                migrations on 127.0.0.1:$port

   Try (vfiomigctl(8); -s is the socket, or export VFIOMIG_SOCKET):
     $ctl -s $tmp/src.sock status
     $ctl -s $tmp/src.sock set list
     $ctl -s $tmp/src.sock info vm1
     $ctl -s $tmp/dst.sock info vm1
     $ctl -s $tmp/dst.sock -o json info vm1
     $ctl -s $tmp/dst.sock watch        (events as they come; Ctrl-C ends it)
     $ctl help

   Stop them and remove the directory:
     kill $src_pid $dst_pid; rm -rf $tmp
EOF
	# Not ours to stop any more.
	src_pid='' dst_pid=''
fi
exit $rc
