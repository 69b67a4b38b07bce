#!/bin/sh
# bench_xfer.sh [BUILDDIR [SRCDIR]]: migration throughput between two
# vfiomigd daemons on loopback, plaintext and mutual TLS, each as a ratio to
# a raw TCP copy of the same byte count on as many connections
# (tests/bench/tcp_copy), all measured in this run.  The devices are
# simulated with dirty_rate 0 and p2p_rate 0, so the bytes moved are the
# state (one pre-copy pass); the daemon's rate is its report's (bytes over
# the pre-copy and stop-copy phases: no start-up, no handshake).  Goals:
# plaintext >= 0.9x raw, TLS >= 0.6x raw.  Run by `make bench`; it reports,
# it fails only if a migration fails.
#
# Also measured, to tell the daemon's cost from the simulator's: the same
# devices migrated inside one process (daemon/vfiomig-local), the ceiling
# the sims' own save and load put on any transport on this machine; and
# for each measurement the CPU seconds (user + system, every process) per
# GiB moved, which other load on the machine skews less than the rates.
#
# Environment: BENCH_DEVICES (4), BENCH_STATE_SIZE (1G), BENCH_CONNECTIONS
# (4), BENCH_MAX_FRAME (1M), BENCH_REPEAT (2; the best run counts).
set -eu

bdir=$(cd "${1:-.}" && pwd)
sdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
vfiomigd=$bdir/daemon/vfiomigd
tcp_copy=$bdir/tests/bench/tcp_copy
devices=${BENCH_DEVICES:-4}
size=${BENCH_STATE_SIZE:-1G}
conns=${BENCH_CONNECTIONS:-4}
frame=${BENCH_MAX_FRAME:-1M}
repeat=${BENCH_REPEAT:-2}
token=bench-token-0123456789abcdef

for f in "$vfiomigd" "$tcp_copy" "$bdir/daemon/vfiomig-local"; do
	[ -x "$f" ] || { echo "bench_xfer: $f: not built" >&2; exit 1; }
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
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-xfer.XXXXXX")

# conf FILE LINK LISTEN-LINE TOKEN-LINE
conf() {
	{
		printf '{ "control_socket": "%s.sock", "state_dir": "%s.state", ' \
		    "${1%.json}" "${1%.json}"
		printf '"migration": { %s %s, "connections": %d, ' "$3" "$2" "$conns"
		printf '"max_frame": "%s" },\n  "sets": [ { "name": "vm1", %s' "$frame" "$4"
		printf '"devices": [\n'
		i=0
		while [ "$i" -lt "$devices" ]; do
			[ "$i" -gt 0 ] && printf ',\n'
			printf '    { "name": "sim%d", "backend": "sim", ' "$i"
			printf '"state_size": "%s", "dirty_rate": 0, "p2p_rate": 0 }' "$size"
			i=$((i + 1))
		done
		printf ' ] } ] }\n'
	} >"$1"
}

# start_dst LINK: the destination on a free port ($port), every device open.
start_dst() {
	tries=0
	while :; do
		tries=$((tries + 1))
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		conf "$tmp/dst.json" "$1" "\"listen\": \"127.0.0.1:$port\"," \
		    "\"token\": \"$token\", "
		: >"$tmp/dst.log"
		"$vfiomigd" --config "$tmp/dst.json" 2>"$tmp/dst.log" &
		dst_pid=$!
		while kill -0 "$dst_pid" 2>/dev/null; do
			grep -q 'listening for migrations' "$tmp/dst.log" && return 0
			sleep 0.1
		done
		wait "$dst_pid" || :
		dst_pid=
		grep -q 'cannot listen' "$tmp/dst.log" && [ $tries -lt 20 ] && continue
		cat "$tmp/dst.log" >&2
		echo "bench_xfer: the destination daemon did not start" >&2
		exit 1
	done
}

# migrate LINK: one migration; sets $bytes and $rate (bytes/s).
migrate() {
	# Each migration afresh: a source's ledger fences a migrated set.
	rm -rf "$tmp/src.state" "$tmp/dst.state"
	start_dst "$1"
	conf "$tmp/src.json" "$1" "" ""
	if ! VFIOMIG_TOKEN=$token "$vfiomigd" --config "$tmp/src.json" \
	    --migrate vm1 --to "127.0.0.1:$port" --exit-after 2>"$tmp/src.log"; then
		cat "$tmp/src.log" >&2
		echo "bench_xfer: the migration failed" >&2
		exit 1
	fi
	kill -TERM "$dst_pid"
	wait "$dst_pid" || :
	dst_pid=
	bytes=$(sed -n 's/.*report: bytes total \([0-9]*\) .*/\1/p' "$tmp/src.log")
	rate=$(sed -n 's/.*report: throughput \([0-9]*\) bytes.*/\1/p' "$tmp/src.log")
	tot=$(sed -n 's/.*report: total_ms \([0-9.]*\).*/\1/p' "$tmp/src.log")
	if [ -z "$bytes" ] || [ -z "$rate" ]; then
		cat "$tmp/src.log" >&2
		echo "bench_xfer: no report in the source's log" >&2
		exit 1
	fi
}

gib() {
	awk -v r="$1" 'BEGIN { printf "%.2f GiB/s", r / 1073741824 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# cpu: $cpu = CPU seconds (user + system) of every child waited for so
# far.  `times` runs in this shell: in a subshell it would see none.
cpu() {
	times >"$tmp/times"
	cpu=$(awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) {
			split($i, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2]
		}
		printf "%.3f", t }' "$tmp/times")
}

# spent T0: $spent = CPU seconds per GiB moved since $cpu was T0.
spent() {
	t0=$1
	cpu
	spent=$(awk -v a="$t0" -v b="$cpu" -v n="$moved" \
	    'BEGIN { printf "%.2f", (b - a) / (n / 1073741824) }')
}

# keep NAME RATE: $NAME = max($NAME, RATE).
keep() {
	eval "[ \"\$2\" -gt \"\${$1:-0}\" ] && $1=\$2 || :"
}

# raw_tcp: tcp_copy of $moved bytes; sets $rate.
raw_tcp() {
	out=$("$tcp_copy" "$moved" "$conns")
	rate=$(echo "$out" | sed -n 's/.* throughput \([0-9]*\) bytes.*/\1/p')
}

# sim_alone: the same devices migrated inside one process (vfiomig-local:
# the sims' save and load, no daemon, no network); sets $rate.
sim_alone() {
	"$bdir/daemon/vfiomig-local" --devices "$devices" --state-size "$size" \
	    --dirty-rate 0 --p2p-rate 0 >"$tmp/local.log" 2>&1 || {
		cat "$tmp/local.log" >&2
		echo "bench_xfer: vfiomig-local failed" >&2
		exit 1
	}
	rate=$(awk '/^throughput / {
		v = $2; u = $3
		m = u ~ /^KiB/ ? 1024 : u ~ /^MiB/ ? 1048576 : u ~ /^GiB/ ? 1073741824 : 1
		printf "%.0f", v * m }' "$tmp/local.log")
}

echo "bench_xfer: $devices sim devices x $size (dirty_rate 0, p2p_rate 0)," \
    "$conns connections, max_frame $frame, 127.0.0.1, $(nproc) CPUs," \
    "best of $repeat"
have_tls=false
if "$sdir/tests/gen-certs.sh" "$tmp/pki" >/dev/null 2>&1; then
	have_tls=true
else
	echo "  TLS: skipped (tests/gen-certs.sh needs certtool, Debian gnutls-bin)"
fi
plain=0 raw=0 sim=0 tls=0
# The four measurements interleave, so that load from elsewhere on the
# machine weighs on all of them alike.
# CPU seconds per GiB (both processes, start-up included) tell the costs
# apart even when other load on the machine skews the rates.
r=1
while [ "$r" -le "$repeat" ]; do
	cpu; c0=$cpu
	migrate '"insecure": true'
	moved=$bytes
	spent "$c0"; cpu_plain=$spent
	printf '  run %d: plaintext %s, %s CPU s/GiB (%s bytes, total_ms %s)\n' \
	    "$r" "$(gib "$rate")" "$spent" "$bytes" "$tot"
	keep plain "$rate"
	cpu; c0=$cpu
	raw_tcp
	spent "$c0"; cpu_raw=$spent
	printf '  run %d: raw TCP   %s, %s CPU s/GiB\n' "$r" "$(gib "$rate")" "$spent"
	keep raw "$rate"
	cpu; c0=$cpu
	sim_alone
	spent "$c0"; cpu_sim=$spent
	printf '  run %d: sim alone %s, %s CPU s/GiB (vfiomig-local: the sims, no daemon, no network)\n' \
	    "$r" "$(gib "$rate")" "$spent"
	keep sim "$rate"
	if $have_tls; then
		cpu; c0=$cpu
		migrate "\"tls_dir\": \"$tmp/pki\""
		spent "$c0"; cpu_tls=$spent
		printf '  run %d: TLS       %s, %s CPU s/GiB (%s bytes, total_ms %s)\n' \
		    "$r" "$(gib "$rate")" "$spent" "$bytes" "$tot"
		keep tls "$rate"
	fi
	r=$((r + 1))
done

line="raw TCP $(gib "$raw"); vfiomigd plaintext $(gib "$plain") ="
line="$line $(ratio "$plain" "$raw")x raw (goal >= 0.9)"
$have_tls &&
	line="$line; TLS $(gib "$tls") = $(ratio "$tls" "$raw")x raw (goal >= 0.6)"
echo "$line"
line="  the sims alone, without daemon or network: $(gib "$sim"); plaintext ="
line="$line $(ratio "$plain" "$sim")x of that"
$have_tls && line="$line, TLS = $(ratio "$tls" "$sim")x"
echo "$line"
line="  CPU s/GiB (last run): raw TCP $cpu_raw, sims alone $cpu_sim,"
line="$line plaintext $cpu_plain"
$have_tls && line="$line, TLS $cpu_tls"
echo "$line"
over() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'
}
line="  the daemons' own CPU s/GiB (migration less sims alone): plaintext"
line="$line $(over "$cpu_plain" "$cpu_sim")"
$have_tls && line="$line, TLS $(over "$cpu_tls" "$cpu_sim")"
echo "$line (raw TCP $cpu_raw)"
