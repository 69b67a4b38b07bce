#!/bin/sh
# bench_xfer.sh [BUILDDIR [SRCDIR]]: what a migration between two vfiomigd
# daemons on loopback costs, against baselines of the same bytes, all
# measured in this run, interleaved, so that load from elsewhere on the
# machine weighs on all of them alike.  For each count of connections
# (BENCH_CONNECTIONS, "1 4"):
#
#   raw TCP        tests/bench/tcp_copy: the byte count the daemon moved,
#                  between two processes, no device
#   pipeline       tests/bench/pipe_copy: the same sim devices moved over
#                  TCP by a minimal pipeline (a thread per connection, an
#                  8-byte chunk header, nothing else)
#   devices alone  pipe_copy --local: the same sim devices' save and load
#                  in one process, no TCP: what the simulator costs
#   plaintext      two daemons, "insecure": true
#   TLS            two daemons, mutual TLS (tests/gen-certs.sh)
#
# The devices are simulated with dirty_rate 0 and p2p_rate 0, so the bytes
# moved are the state (one pre-copy pass for the daemon, stop-copy for
# pipe_copy: the same stream).  Rates: the daemon's is its report's (bytes
# over the source's pre-copy and stop-copy pumps: no start-up, handshake,
# arcs or commit); pipe_copy's over the same window (its source's pump,
# first read to last write); tcp_copy's from its go to the last byte
# received.  CPU: user + system seconds per GiB moved of every process of
# a measurement over its whole life, from the shell's `times` (start-up
# included: the daemons' as pipe_copy's device creation, both small);
# other load on the machine skews it less than the rates.  Best rate and
# least CPU over BENCH_REPEAT runs.
#
# Net CPU: a measurement's CPU less the devices alone on as many
# connections: what the transport costs beyond the simulator.  Goals:
# daemon plaintext net CPU <= 1.25x the pipeline's, TLS net CPU <= 2x the
# pipeline's, plaintext throughput >= 0.9x the pipeline's; against raw
# TCP, plaintext >= 0.9x, TLS >= 0.6x (which the simulated devices alone
# can make out of reach on a small machine).
#
# Then the scaling: daemon throughput (plaintext and TLS, the pipeline for
# reference) on BENCH_SCALE_CONNECTIONS ("1 2 4 8") connections with
# BENCH_SCALE_DEVICES (8) devices of BENCH_SCALE_SIZE (256M), so that every
# connection carries a device.
#
# Run by `make bench`; it reports, it fails only if a migration (or a
# baseline's copy and its digest check) fails.
#
# Environment: BENCH_DEVICES (4), BENCH_STATE_SIZE (1G), BENCH_CONNECTIONS
# ("1 4"), BENCH_MAX_FRAME (1M), BENCH_REPEAT (2), BENCH_SCALE_DEVICES (8),
# BENCH_SCALE_SIZE (256M), BENCH_SCALE_CONNECTIONS ("1 2 4 8"),
# BENCH_SCALE_REPEAT (1); BENCH_SCALE_CONNECTIONS="" skips the scaling.
set -eu

bdir=$(cd "${1:-.}" && pwd)
sdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
vfiomigd=$bdir/daemon/vfiomigd
tcp_copy=$bdir/tests/bench/tcp_copy
pipe_copy=$bdir/tests/bench/pipe_copy
bench_devices=${BENCH_DEVICES:-4}
bench_size=${BENCH_STATE_SIZE:-1G}
conn_list=${BENCH_CONNECTIONS:-1 4}
frame=${BENCH_MAX_FRAME:-1M}
repeat=${BENCH_REPEAT:-2}
scale_devices=${BENCH_SCALE_DEVICES:-8}
scale_size=${BENCH_SCALE_SIZE:-256M}
scale_list=${BENCH_SCALE_CONNECTIONS-1 2 4 8}
scale_repeat=${BENCH_SCALE_REPEAT:-1}
token=bench-token-0123456789abcdef
start=$(date +%s)

for f in "$vfiomigd" "$tcp_copy" "$pipe_copy"; do
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

# The setup of the next measurement: $devices x $size on $conns.
devices=$bench_devices size=$bench_size conns=1

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

# migrate LINK: one migration; sets $bytes, $rate (bytes/s) and $tot.
# Fresh state directories each time: the source's ledger fences a set that
# migrated away, the destination's remembers its token as used.
migrate() {
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

# raw_tcp BYTES: tcp_copy of BYTES; sets $bytes and $rate.
raw_tcp() {
	out=$("$tcp_copy" "$1" "$conns")
	bytes=$1
	rate=$(echo "$out" | sed -n 's/.* throughput \([0-9]*\) bytes.*/\1/p')
}

# pipe tcp|local: pipe_copy of the devices; sets $bytes, $rate, $setup.
pipe() {
	mode=
	[ "$1" = local ] && mode=--local
	"$pipe_copy" $mode --devices "$devices" --state-size "$size" \
	    --connections "$conns" >"$tmp/pipe.log" 2>&1 || {
		cat "$tmp/pipe.log" >&2
		echo "bench_xfer: pipe_copy $mode failed" >&2
		exit 1
	}
	bytes=$(sed -n 's/^pipe_copy: .* bytes \([0-9]*\) .*/\1/p' "$tmp/pipe.log")
	rate=$(sed -n 's/.* throughput \([0-9]*\) bytes.*/\1/p' "$tmp/pipe.log")
	setup=$(sed -n 's/.* setup_cpu \([0-9.]*\).*/\1/p' "$tmp/pipe.log")
}

gib() {
	awk -v r="$1" 'BEGIN { printf "%.2f", r / 1073741824 }'
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

# spent T0: $spent = CPU seconds per GiB of $bytes since $cpu was T0.
spent() {
	t0=$1
	cpu
	spent=$(awk -v a="$t0" -v b="$cpu" -v n="$bytes" \
	    'BEGIN { printf "%.3f", (b - a) / (n / 1073741824) }')
}

# keep NAME RATE CPU: rate_NAME = max, cpu_NAME = min over the runs.
keep() {
	kr=0 kc=
	eval "kr=\${rate_$1:-0} kc=\${cpu_$1:-}"
	[ "$2" -gt "$kr" ] && eval "rate_$1=\$2"
	if [ -z "$kc" ] || awk -v a="$3" -v b="$kc" 'BEGIN { exit !(a < b) }'
	then
		eval "cpu_$1=\$3"
	fi
}

# get rate|cpu NAME: prints the kept value ("" if none).
get() {
	eval "printf '%s' \"\${$1_$2:-}\""
}

# measure NAME LABEL CMD...: one measurement, CPU around it, a line.
measure() {
	name=$1 label=$2
	shift 2
	cpu; c0=$cpu
	"$@"
	spent "$c0"
	keep "$name" "$rate" "$spent"
	line=$(printf '  run %d, %d conn: %-13s %5s GiB/s, %5.2f CPU s/GiB' \
	    "$r" "$conns" "$label" "$(gib "$rate")" "$spent")
	case $name in
	plain*|tls*)	line="$line ($bytes bytes, total_ms $tot)" ;;
	pipe*|dev*)	line="$line (setup before the go: $setup CPU s)" ;;
	esac
	echo "$line"
}

# ratio A B: A / B, "n/a" if B is not above 0 or either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b + 0 <= 0) print "n/a"
		else printf "%.2fx\n", a / b }'
}

# goal VALUE OP LIMIT: "VALUE (goal OP LIMIT: met|missed)".
goal() {
	if [ "$1" = n/a ]; then
		printf '%s (goal %s %s)' "$1" "$2" "$3"
		return
	fi
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = op == "<=" ? v + 0 <= l : v + 0 >= l
		printf "%s (goal %s %s: %s)", v, op, l, ok ? "met" : "missed" }'
}

net() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "") print ""; else printf "%.3f\n", a - b }'
}

have_tls=false
if "$sdir/tests/gen-certs.sh" "$tmp/pki" >/dev/null 2>&1; then
	have_tls=true
fi
echo "bench_xfer: $bench_devices sim devices x $bench_size (dirty_rate 0," \
    "p2p_rate 0), connections: $conn_list, max_frame $frame, 127.0.0.1," \
    "$(nproc) CPUs, best of $repeat"
echo "  CPU s/GiB: user + system of every process of a measurement, whole" \
    "life (daemons' start-up, pipe_copy's device set-up included)"
$have_tls ||
	echo "  TLS: skipped (tests/gen-certs.sh needs certtool, Debian gnutls-bin)"
# What a daemon's start-up and exit cost, with no migration: the part of
# a migration's CPU figure that is not the copy (twice: two daemons).
devices=$bench_devices size=$bench_size conns=1
rm -rf "$tmp/dst.state"
cpu; c0=$cpu
start_dst '"insecure": true'
kill -TERM "$dst_pid"
wait "$dst_pid" || :
dst_pid=
cpu
echo "  a daemon's start-up and exit without a migration: $(awk -v a="$c0" \
    -v b="$cpu" 'BEGIN { printf "%.3f", b - a }') CPU s (2 in each migration)"
r=1
while [ "$r" -le "$repeat" ]; do
	for conns in $conn_list; do
		devices=$bench_devices size=$bench_size
		measure "plain$conns" plaintext migrate '"insecure": true'
		moved=$bytes
		measure "raw$conns" "raw TCP" raw_tcp "$moved"
		measure "pipe$conns" pipeline pipe tcp
		measure "dev$conns" "devices alone" pipe local
		if $have_tls; then
			measure "tls$conns" TLS migrate "\"tls_dir\": \"$tmp/pki\""
		fi
	done
	r=$((r + 1))
done

for conns in $conn_list; do
	echo "$conns connection(s), best of $repeat:"
	line="  GiB/s:     raw TCP $(gib "$(get rate "raw$conns")"),"
	line="$line pipeline $(gib "$(get rate "pipe$conns")"),"
	line="$line devices alone $(gib "$(get rate "dev$conns")"),"
	line="$line plaintext $(gib "$(get rate "plain$conns")")"
	$have_tls && line="$line, TLS $(gib "$(get rate "tls$conns")")"
	echo "$line"
	dev=$(get cpu "dev$conns")
	line="  CPU s/GiB: raw TCP $(get cpu "raw$conns"),"
	line="$line pipeline $(get cpu "pipe$conns"), devices alone $dev,"
	line="$line plaintext $(get cpu "plain$conns")"
	$have_tls && line="$line, TLS $(get cpu "tls$conns")"
	echo "$line"
	np=$(net "$(get cpu "pipe$conns")" "$dev")
	nd=$(net "$(get cpu "plain$conns")" "$dev")
	nt=$(net "$(get cpu "tls$conns")" "$dev")
	line="  net CPU s/GiB (less the devices alone): pipeline $np,"
	line="$line plaintext $nd"
	$have_tls && line="$line, TLS $nt"
	echo "$line"
	echo "  plaintext net CPU / pipeline net CPU = $(goal "$(ratio "$nd" "$np")" '<=' 1.25)"
	$have_tls &&
		echo "  TLS net CPU / pipeline net CPU = $(goal "$(ratio "$nt" "$np")" '<=' 2)"
	line="  plaintext throughput / pipeline = $(goal "$(ratio \
	    "$(get rate "plain$conns")" "$(get rate "pipe$conns")")" '>=' 0.9)"
	$have_tls && line="$line; TLS / pipeline = $(ratio \
	    "$(get rate "tls$conns")" "$(get rate "pipe$conns")")"
	echo "$line"
	line="  against raw TCP: pipeline $(ratio "$(get rate "pipe$conns")" \
	    "$(get rate "raw$conns")"), plaintext $(goal "$(ratio \
	    "$(get rate "plain$conns")" "$(get rate "raw$conns")")" '>=' 0.9)"
	$have_tls && line="$line, TLS $(goal "$(ratio "$(get rate "tls$conns")" \
	    "$(get rate "raw$conns")")" '>=' 0.6)"
	echo "$line"
done

if [ -n "$scale_list" ]; then
	echo "scaling: $scale_devices sim devices x $scale_size, best of" \
	    "$scale_repeat; GiB/s (CPU s/GiB) by connections"
	devices=$scale_devices size=$scale_size
	r=1
	while [ "$r" -le "$scale_repeat" ]; do
		for conns in $scale_list; do
			cpu; c0=$cpu
			pipe tcp
			spent "$c0"
			keep "spipe$conns" "$rate" "$spent"
			cpu; c0=$cpu
			migrate '"insecure": true'
			spent "$c0"
			keep "splain$conns" "$rate" "$spent"
			if $have_tls; then
				cpu; c0=$cpu
				migrate "\"tls_dir\": \"$tmp/pki\""
				spent "$c0"
				keep "stls$conns" "$rate" "$spent"
			fi
		done
		r=$((r + 1))
	done
	kinds="pipe plain"
	$have_tls && kinds="$kinds tls"
	for k in $kinds; do
		case $k in
		pipe)	line=$(printf '  %-10s' pipeline) ;;
		plain)	line=$(printf '  %-10s' plaintext) ;;
		tls)	line=$(printf '  %-10s' TLS) ;;
		esac
		for conns in $scale_list; do
			line="$line $(printf '%d: %s (%.2f)' "$conns" \
			    "$(gib "$(get rate "s$k$conns")")" \
			    "$(get cpu "s$k$conns")")"
		done
		echo "$line"
	done
fi
echo "bench_xfer: $(($(date +%s) - start)) s"
