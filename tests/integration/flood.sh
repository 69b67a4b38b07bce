#!/bin/sh
# flood.sh: hostile and merely busy peers and clients.
#   1. While a real TLS migration runs, 2000 bogus connections arrive at
#      the destination's migration port (idle after connect, junk bytes,
#      a client certificate of another CA, the right CA and a wrong
#      token): the migration completes with equal digests; the
#      destination logs a bounded number of lines about them (and their
#      count); its fd count is back to its start once they are gone.
#   2. A destination started with 64 fds at most (ulimit -n) is flooded
#      with 300 idle connections: accepting pauses instead of spinning
#      (its CPU time over the flood stays small), it logs one line per
#      10 s about it, and once the flood is gone it serves: a migration
#      into it completes and its control socket answers.
#   3. 1000 sets created (with a device) and removed, and 200
#      PrepareIncoming cycles each on a listener of its own (a new
#      address each time) then on the configured one: the daemon's fd
#      count is back to its start.  (The build before this test: 300 set
#      cycles left 600 more fds, every such listener one more.)
. "$(dirname "$0")/cli-lib.sh"

need_json
python3 -c 'import ssl, selectors' 2>/dev/null || skip "python3 ssl"
FLOOD="python3 $srcdir/tests/integration/flood.py"
CYCLE="python3 $srcdir/tests/integration/ctlcycle.py"
gen_certs

fds() { ls "/proc/$(pid_of "$1")/fd" | wc -l; }
# cpu_ticks NAME: utime + stime of NAME's process, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$(pid_of "$1")/stat"
}
# wait_fds NAME N SECONDS: until NAME has N fds (or fail).
wait_fds() {
	wf_t=$(( $3 * SLOW * 10 ))
	while [ "$(fds "$1")" -ne "$2" ]; do
		[ $wf_t -gt 0 ] || fail "$1: $(fds "$1") fds, not $2, after $3 s"
		sleep 0.1
		wf_t=$((wf_t - 1))
	done
}

# ---- 1. 2000 bogus connections during a real migration ----
dev='"state_size": "32M", "dirty_rate": 0, "p2p_rate": 0'
conf "$T/dst.tmpl" @LISTEN@ "$T/pki" 2 4 "$dev, \"seed\": 70@I@"
sed -i 's/"connections": 2,/"connections": 2, "handshake_timeout_ms": 2000,/' \
    "$T/dst.tmpl"
start_listener dst "$T/dst.tmpl"
conf "$T/src.tmpl" - "$T/pki" 2 4 "$dev"
render src "$T/src.tmpl"
start_ctl_daemon src "$T/src.sock" "$T/src.run.json"
base=$(fds dst)
"$VFIOMIGCTL" -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$dst_port" \
    --token "$TOKEN" --bandwidth 12M --wait >"$T/mig.out" 2>&1 &
mig=$!
it_pids="$it_pids $mig"
wait_log dst 'accepted, 2 connections, devices RESUMING'
t_flood=$(now_ms)
$FLOOD 127.0.0.1 "$dst_port" 2000 --kinds idle,junk,badca,badtoken \
    --pki "$T/pki" --rogue "$T/rogue" --rate 500 --hold 1 >"$T/flood1.out" \
    2>&1 || fail "flood.py: $(cat "$T/flood1.out")"
note "flood during the migration: $(cat "$T/flood1.out")"
wait "$mig" || fail "the migration under the flood: $(tail -n 5 "$T/mig.out")"
for n in src dst; do
	"$VFIOMIGCTL" -s "$T/$n.sock" -o json info vm1 >"$T/$n.info" ||
	    fail "$n: info"
done
python3 - "$T/src.info" "$T/dst.info" <<'EOF' || fail "digests differ"
import json, sys
s, d = (json.load(open(p)) for p in sys.argv[1:])
assert s["status"] == d["status"] == "MIGRATION_STATUS_COMPLETED", (s, d)
for a, b in zip(s["devices"], d["devices"]):
    assert a["sim"]["digest"] and a["sim"]["digest"] == b["sim"]["digest"], \
        (a, b)
EOF
# 10 lines per 10 s window at most, over the windows the flood and the
# connections it left in their handshake spanned (a loaded host stretches
# them: the bound follows the time, not a fixed count).
n=$(count dst 'incoming from .*: (dropped|refused): ')
nmax=$(( 10 * (($(now_ms) - t_flood) / 10000 + 2) ))
[ "$n" -ge 1 ] && [ "$n" -le "$nmax" ] ||
    fail "dst logged $n lines about the bogus connections (1..$nmax wanted)"
wait_log dst 'incoming: [0-9]+ more connections refused or dropped, not logged one by one' 15
note "the destination logged $n lines, then: $(lastline dst 'more connections refused' | sed 's/^vfiomigd: warning: //')"
# Its fds: the job's connections gone, every bogus one closed.
wait_fds dst "$((base))" 20
note "destination fds back to $base"
stop_daemon src
stop_daemon dst

# ---- 2. Out of fds: no spin, bounded logging, service resumes ----
conf "$T/lim.tmpl" @LISTEN@ insecure 1 2 \
    '"state_size": "1M", "dirty_rate": 0, "p2p_rate": 0, "seed": 80@I@'
render lim "$T/lim.tmpl" "$(pick_port)"
port=$(sed -n 's/.*"listen": "127.0.0.1:\([0-9]*\)".*/\1/p' "$T/lim.run.json")
: >"$T/lim.log"
(ulimit -n 64 && exec $VFIOMIG_WRAP "$VFIOMIGD" --config "$T/lim.run.json") \
    >"$T/lim.out" 2>"$T/lim.log" &
lim_pid=$!
it_pids="$it_pids $lim_pid"
wait_log lim 'listening for migrations on'
wait_ctl lim "$T/lim.sock"
c0=$(cpu_ticks lim)
$FLOOD 127.0.0.1 "$port" 300 --kinds idle --hold 4 >"$T/flood2.out" 2>&1 ||
    fail "flood.py: $(cat "$T/flood2.out")"
c1=$(cpu_ticks lim)
hz=$(getconf CLK_TCK)
note "fd flood of a daemon with 64 fds: $(cat "$T/flood2.out"); its CPU: \
$(( (c1 - c0) * 1000 / hz )) ms over the flood"
[ $(( (c1 - c0) * 1000 / hz )) -le $((800 * SLOW)) ] ||
    fail "lim used $(( (c1 - c0) * 1000 / hz )) ms of CPU during 4 s (spinning?)"
n=$(count lim 'migration listener .*: accept: ')
[ "$n" -ge 1 ] && [ "$n" -le 2 ] ||
    fail "lim: $n accept lines during the flood (1..2 wanted)"
note "lim: $(lastline lim 'accept: ' | sed 's/^vfiomigd: warning: //')"
# Service again: a migration into it, and its control socket.
conf "$T/src2.json" - insecure 1 2 '"state_size": "1M"'
migrate src2 "$T/src2.json" "$port"
reap_clean src2 60 0
has lim 'committed in'
ctl st -s "$T/lim.sock" status
ctl_rc_is st 0
kill -TERM "$lim_pid"
reap_clean lim 30 0

# ---- 3. Create/remove and prepare cycles: no fd kept ----
ctl_conf "$T/cyc.tmpl" "$T/cyc.sock" @LISTEN@ 1 1 '"state_size": "1M"'
start_listener cyc "$T/cyc.tmpl"
wait_ctl cyc "$T/cyc.sock"
base=$(fds cyc)
$CYCLE "$T/cyc.sock" sets 1000 >"$T/cyc1.out" 2>&1 ||
    fail "1000 set cycles: $(cat "$T/cyc1.out")"
[ "$(fds cyc)" -eq "$base" ] ||
    fail "after 1000 set create/remove cycles: $(fds cyc) fds, not $base"
$CYCLE "$T/cyc.sock" prepare 200 vm1 "$TOKEN" "$(pick_port)" \
    >"$T/cyc2.out" 2>&1 ||
    fail "200 prepare cycles: $(cat "$T/cyc2.out")"
[ "$(fds cyc)" -eq "$base" ] ||
    fail "after 200 prepare cycles: $(fds cyc) fds, not $base"
note "1000 set create/remove cycles, 200 prepare cycles: $base fds before \
and after"
stop_daemon cyc
note "pass"
