#!/bin/sh
# bench_ctl.sh [BUILDDIR [SRCDIR]]: the control socket under load.  The
# latency of `list` (what `vfiomigctl status` asks: every set, every
# device, the simulators' digests) and `info` with 1 and 200 clients in a
# closed loop (tests/bench/ctl_load), on a source with 4 simulated devices
# of BENCH_STATE_SIZE (1G): idle, and during a TLS migration of them;
# and that migration's throughput and downtime with and without those 200
# clients, all measured in this run.  Goals: p99 < 5 ms at 200 clients
# during the migration; throughput and downtime within 10 % of the
# unloaded run.  Run by `make bench`; it reports, it fails only if a
# migration fails.
#   BENCH_STATE_SIZE (1G), BENCH_SECONDS (3: each latency measurement)
set -eu

bdir=$(cd "${1:-.}" && pwd)
sdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
vfiomigd=$bdir/daemon/vfiomigd
load=$bdir/tests/bench/ctl_load
size=${BENCH_STATE_SIZE:-1G}
secs=${BENCH_SECONDS:-3}
token=bench-token-0123456789abcdef

for f in "$vfiomigd" "$load"; do
	[ -x "$f" ] || { echo "bench_ctl: $f: not built" >&2; exit 1; }
done
tmp='' dst_pid='' src_pid=''
cleanup() {
	trap - EXIT INT TERM
	for p in $src_pid $dst_pid; do
		kill -TERM "$p" 2>/dev/null || :
	done
	for p in $src_pid $dst_pid; do
		wait "$p" 2>/dev/null || :
	done
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-ctl.XXXXXX")
"$sdir/tests/gen-certs.sh" "$tmp/pki" >/dev/null 2>&1 || {
	echo "bench_ctl: tests/gen-certs.sh failed (certtool: gnutls-bin)" >&2
	exit 1
}

# conf NAME LISTEN-LINE: a daemon with set vm1 of 4 devices.
conf() {
	{
		printf '{ "control_socket": "%s/%s.sock", ' "$tmp" "$1"
		printf '"state_dir": "%s/%s.state",\n' "$tmp" "$1"
		printf '  "migration": { %s "tls_dir": "%s/pki", ' "$2" "$tmp"
		printf '"connections": 4 },\n'
		printf '  "sets": [ { "name": "vm1", "token": "%s", ' "$token"
		printf '"devices": ['
		for i in 0 1 2 3; do
			[ "$i" -gt 0 ] && printf ','
			printf '\n    { "name": "sim%d", "backend": "sim", ' "$i"
			printf '"state_size": "%s", "dirty_rate": 0, ' "$size"
			printf '"p2p_rate": 0 }'
		done
		printf ' ] } ] }\n'
	} >"$tmp/$1.json"
}

# start NAME LISTEN-LINE: a daemon; waits for its control socket.
start() {
	conf "$1" "$2"
	# A fresh host each time: a source whose set left stays fenced.
	rm -rf "$tmp/$1.state"
	# Emptied first: the redirection below happens in the child, after
	# the wait loop may have read the last start's log.
	: >"$tmp/$1.log"
	"$vfiomigd" --config "$tmp/$1.json" 2>"$tmp/$1.log" &
	eval "$1_pid=$!"
	while ! grep -q 'control socket ' "$tmp/$1.log"; do
		eval "kill -0 \$$1_pid" 2>/dev/null || {
			cat "$tmp/$1.log" >&2
			echo "bench_ctl: $1 did not start" >&2
			exit 1
		}
		sleep 0.1
	done
}

stop() {
	eval "kill -TERM \$$1_pid; wait \$$1_pid || :; $1_pid="
}

# both: a destination on a free port ($port) and a source.
both() {
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
	start dst "\"listen\": \"127.0.0.1:$port\","
	start src ""
}

# migrate: one migration from src to dst; $rate (bytes/s), $down (ms).
migrate() {
	"$bdir/cli/vfiomigctl" -s "$tmp/src.sock" migrate vm1 \
	    --to "127.0.0.1:$port" --token "$token" --wait >"$tmp/mig.out" 2>&1 ||
	    { cat "$tmp/mig.out" >&2; echo "bench_ctl: migration failed" >&2;
	    exit 1; }
	rate=$(sed -n 's/.*report: throughput \([0-9]*\) bytes.*/\1/p' \
	    "$tmp/src.log" | tail -n 1)
	down=$(sed -n 's/.*report: downtime_ms \([0-9.]*\).*/\1/p' \
	    "$tmp/src.log" | tail -n 1)
}

# lat N KIND: ctl_load on the source for $secs s; prints its line.
lat() {
	"$load" "$tmp/src.sock" "$1" "$secs" "$2" vm1
}

echo "bench_ctl: a source with 4 sim devices x $size; TLS, 4 connections;" \
    "$(nproc) CPUs; each latency over $secs s, closed loop"
both
for n in 1 200; do
	for k in list info; do
		printf '  idle, %3d clients, %-4s: %s\n' "$n" "$k" "$(lat "$n" "$k")"
	done
done
migrate
rate0=$rate down0=$down
printf '  migration alone: %s, downtime %s ms\n' \
    "$(awk -v r="$rate" 'BEGIN { printf "%.2f GiB/s", r / 1073741824 }')" "$down"
stop src
stop dst
both
# 200 clients asking list and info in turn while it migrates; the
# migration starts once they run.
lat 200 mix >"$tmp/load.out" &
lpid=$!
sleep 0.5
migrate
wait "$lpid" || :
load_line=$(cat "$tmp/load.out")
printf '  migration, 200 clients on the control socket: %s, downtime %s ms\n' \
    "$(awk -v r="$rate" 'BEGIN { printf "%.2f GiB/s", r / 1073741824 }')" "$down"
printf '  during it, 200 clients, list+info: %s\n' "$load_line"
p99=$(echo "$load_line" | sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p')
awk -v p="$p99" -v r0="$rate0" -v r="$rate" -v d0="$down0" -v d="$down" '
BEGIN {
	printf "  p99 at 200 clients during the migration: %.2f ms (goal < 5: %s)\n",
	    p, (p < 5) ? "met" : "missed"
	printf "  throughput under load: %.2fx the unloaded run (goal >= 0.9: %s)\n",
	    r / r0, (r / r0 >= 0.9) ? "met" : "missed"
	printf "  downtime under load: %.2fx the unloaded run (goal <= 1.1: %s)\n",
	    d / d0, (d / d0 <= 1.1) ? "met" : "missed"
}'
