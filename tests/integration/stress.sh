#!/bin/sh
# stress.sh: concurrency.  Two daemons A and B, each with 2K sets of 2
# simulated devices (dirtying, writing P2P); K sets migrate A -> B while
# K others migrate B -> A, all at once, for R rounds, each round sending
# back what the last one brought (A -> B -> A ...: a migrated set takes
# its VM back; every destination is prepared again with a new token).
# Meanwhile:
#   - both daemons run under fdstore-sup, so the fd store's record is
#     rewritten at every change of every set (store.c's locks);
#   - the status line walks every set every 20 ms
#     (VFIOMIG_TEST_STATUS_MS) while handshakes claim sets;
#   - two clients per daemon hammer the control socket (status, list,
#     info) and must each be answered within 10 s.
# Every round, every job must complete with the destination's digests
# equal to the source's and no P2P write lost; the sets end migrated on
# the source and idle on the destination.  A watchdog fails a round that
# does not end within its time, after printing every thread's stack of
# both daemons (gdb).  Run it under ThreadSanitizer too (scripts/test.sh:
# build-tsan): any report fails it (check_clean).
#   STRESS_SETS (K, 4), STRESS_ROUNDS (R, 5), STRESS_ROUND_S (120)
. "$(dirname "$0")/cli-lib.sh"

need_json
SUP=${FDSTORE_SUP:-$PWD/tests/integration/fdstore-sup}
[ -x "$SUP" ] || fail "no supervisor at $SUP"
K=${STRESS_SETS:-4}
R=${STRESS_ROUNDS:-5}
ROUND_S=$(( ${STRESS_ROUND_S:-120} * SLOW ))
N=$((2 * K))
export VFIOMIG_TEST_STATUS_MS=20

# mkconf NAME SEEDBASE: sets s1..sN of 2 devices each, a listener.
mkconf() {
	{
		printf '{"control_socket": "%s", "state_dir": "%s",\n' \
		    "$T/$1.sock" "$T/$1.state"
		printf ' "log_level": "info", "migration": {"listen": '
		printf '"@LISTEN@", "insecure": true, "connections": 2, '
		printf '"precopy_timeout_action": "%s"},\n' "$CONF_ACTION"
		printf ' "sets": ['
		mk_i=1
		while [ $mk_i -le $N ]; do
			[ $mk_i -gt 1 ] && printf ','
			printf '\n  {"name": "s%d", "token": "stress-%s-s%d-0000", ' \
			    $mk_i "$1" $mk_i
			printf '"devices": ['
			for mk_d in 0 1; do
				[ $mk_d = 1 ] && printf ', '
				printf '{"name": "sim%d", "backend": "sim", ' $mk_d
				printf '"state_size": "8M", "dirty_rate": 500, '
				printf '"p2p_rate": 2000, "seed": %d%02d%d}' "$2" \
				    $mk_i $mk_d
			done
			printf ']}'
			mk_i=$((mk_i + 1))
		done
		printf ']}\n'
	} >"$T/$1.tmpl"
}

# start NAME: the daemon under fdstore-sup, listening on a port of its own.
start() {
	st_port=$(pick_port)
	sed "s/@LISTEN@/127.0.0.1:$st_port/" "$T/$1.tmpl" >"$T/$1.json"
	: >"$T/$1.log"
	"$SUP" -s "$T/$1.notify" -n "$T/$1.names" -- \
	    $VFIOMIG_WRAP "$VFIOMIGD" --config "$T/$1.json" >"$T/$1.out" \
	    2>"$T/$1.log" &
	eval "$1_pid=$! $1_port=$st_port"
	it_pids="$it_pids $!"
	wait_ctl "$1" "$T/$1.sock"
}

# The pid of the daemon fdstore-sup runs for NAME.
dpid() {
	grep -E '^fdstore-sup: started pid ' "$(log_of "$1")" | tail -n 1 |
	    sed 's/.* pid \([0-9]*\).*/\1/'
}

# stacks: every thread's stack of both daemons (the watchdog's report).
stacks() {
	for sk_n in A B; do
		sk_p=$(dpid $sk_n)
		echo "==== $sk_n (pid $sk_p): every thread's stack" >&2
		if command -v gdb >/dev/null 2>&1; then
			timeout 60 gdb -p "$sk_p" -batch -nx \
			    -ex 'thread apply all bt' 2>&1 | grep -v '^\[' >&2
		else
			for sk_t in /proc/"$sk_p"/task/*; do
				echo "-- $sk_t: $(cat "$sk_t/comm")" >&2
				cat "$sk_t/stack" 2>/dev/null >&2
			done
		fi
	done
}

# hammer NAME: clients on NAME's control socket while $T/go exists (the
# migrations of a round), until $T/stop does; a request that takes more
# than 10 s, or fails, leaves $T/hang.NAME.
hammer() {
	hm_i=0
	while [ ! -e "$T/stop" ]; do
		if [ ! -e "$T/go" ]; then
			sleep 0.05
			continue
		fi
		hm_i=$((hm_i + 1))
		for hm_cmd in "status" "set list" "info s$(( hm_i % N + 1 ))"; do
			# shellcheck disable=SC2086 # the words of the command
			timeout 10 "$VFIOMIGCTL" -s "$T/$1.sock" -o json \
			    $hm_cmd >/dev/null 2>"$T/hammer.$1.err" ||
			    { [ -e "$T/stop" ] ||
			    echo "$hm_cmd: exit $? $(cat "$T/hammer.$1.err")" \
			    >>"$T/hang.$1"; }
		done
	done
}

# info NAME SET: `info SET -o json` into $T/i.NAME.SET.
info() {
	"$VFIOMIGCTL" -s "$T/$1.sock" -o json info "$2" >"$T/i.$1.$2" \
	    2>"$T/i.$1.$2.err" || fail "$1: info $2: $(cat "$T/i.$1.$2.err")"
}

# check ROUND SRC:DST:SET...: every set's last job, on both sides, and the
# sets' status: the job completed with the destination's digests equal
# to the source's, no P2P write lost, the devices STOP on the source and
# RUNNING on the destination; the set migrated on the source, idle on the
# destination.
check() {
	ck_r=$1
	shift
	for ck_n in A B; do
		"$VFIOMIGCTL" -s "$T/$ck_n.sock" -o json set list \
		    >"$T/sl.$ck_n" 2>&1 ||
		    fail "$ck_n: set list: $(cat "$T/sl.$ck_n")"
	done
	for ck_x in "$@"; do
		info A "${ck_x##*:}"
		info B "${ck_x##*:}"
	done
	python3 - "$T" "$ck_r" "$@" <<'EOF' || fail "round $ck_r: see above"
import json, sys
t, rnd = sys.argv[1], sys.argv[2]
status = {}
for n in ("A", "B"):
    for st in json.load(open("%s/sl.%s" % (t, n)))["sets"]:
        status[(n, st["name"])] = st["status"]
ok = True
def bad(name, msg):
    global ok
    print("round %s, set %s: %s" % (rnd, name, msg))
    ok = False
for x in sys.argv[3:]:
    src, dst, name = x.split(":")
    s, d = (json.load(open("%s/i.%s.%s" % (t, n, name))) for n in (src, dst))
    if s.get("status") != "MIGRATION_STATUS_COMPLETED" or \
            s.get("direction") != "MIGRATION_DIRECTION_OUTGOING":
        bad(name, "source: %s %s: %s" % (s.get("direction"), s.get("status"),
            s.get("errorMessage")))
        continue
    if d.get("status") != "MIGRATION_STATUS_COMPLETED" or \
            d.get("direction") != "MIGRATION_DIRECTION_INCOMING":
        bad(name, "destination: %s %s: %s" % (d.get("direction"),
            d.get("status"), d.get("errorMessage")))
        continue
    if s.get("jobId") != d.get("jobId"):
        bad(name, "job %s on the source, %s on the destination" %
            (s.get("jobId"), d.get("jobId")))
    for a, b in zip(s["devices"], d["devices"]):
        if not a["sim"].get("digest") or \
                a["sim"].get("digest") != b["sim"].get("digest"):
            bad(name, "%s: source digest %s, destination %s" % (a["name"],
                a["sim"].get("digest"), b["sim"].get("digest")))
        for side, y in (("source", a), ("destination", b)):
            if int(y["sim"].get("p2pLost", "0")) != 0:
                bad(name, "%s %s lost %d P2P writes" % (side, y["name"],
                    int(y["sim"]["p2pLost"])))
        if a.get("stateName") != "STOP" or b.get("stateName") != "RUNNING":
            bad(name, "%s: source %s, destination %s" % (a["name"],
                a.get("stateName"), b.get("stateName")))
    if status.get((src, name)) != "SET_STATUS_MIGRATED" or \
            status.get((dst, name)) != "SET_STATUS_IDLE":
        bad(name, "status %s on the source, %s on the destination" %
            (status.get((src, name)), status.get((dst, name))))
sys.exit(0 if ok else 1)
EOF
}

mkconf A 1
mkconf B 2
start A
start B
hammer A &
it_pids="$it_pids $!"
hammer B &
it_pids="$it_pids $!"

# Round r: the sets "on" A (1..K in odd rounds, K+1..N in even ones) go
# to B, the others come from B.
r=1
while [ $r -le "$R" ]; do
	if [ $((r % 2)) = 1 ]; then a_first=1 b_first=$((K + 1))
	else a_first=$((K + 1)) b_first=1; fi
	# Every destination prepared with this round's token.
	t_start=$(now_ms)
	i=1
	while [ $i -le $N ]; do
		if [ $i -ge $a_first ] && [ $i -lt $((a_first + K)) ]; then
			dst=B
		else
			dst=A
		fi
		ctl prep -s "$T/$dst.sock" incoming "s$i" \
		    --token "stress-round-$r-s$i-token"
		ctl_rc_is prep 0
		i=$((i + 1))
	done
	t_prep=$(now_ms)
	touch "$T/go"
	t0=$(now_ms)
	# Every migration of the round started at once, each watched to its
	# end by `migrate --wait` (exit 0: completed).
	i=1
	while [ $i -le $N ]; do
		if [ $i -ge $a_first ] && [ $i -lt $((a_first + K)) ]; then
			src=A dport=$B_port
		else
			src=B dport=$A_port
		fi
		"$VFIOMIGCTL" -s "$T/$src.sock" migrate "s$i" \
		    --to "127.0.0.1:$dport" --wait \
		    --token "stress-round-$r-s$i-token" >"$T/mig.s$i" 2>&1 &
		eval "mig_$i=$!"
		i=$((i + 1))
	done
	# The watchdog: every job done within ROUND_S, or the stacks and a
	# failure.
	deadline=$(( t0 + ROUND_S * 1000 ))
	i=1
	while [ $i -le $N ]; do
		p=$(eval "echo \$mig_$i")
		while alive "$p"; do
			if [ "$(now_ms)" -gt "$deadline" ]; then
				echo "stress: WATCHDOG: round $r: s$i not done \
after $ROUND_S s: $(tail -n 2 "$T/mig.s$i")" >&2
				stacks
				fail "round $r hangs (stacks above)"
			fi
			sleep 0.1
		done
		wait "$p" || fail "round $r: migrate s$i: exit $?: \
$(tail -n 5 "$T/mig.s$i")"
		i=$((i + 1))
	done
	t_mig=$(now_ms)
	rm -f "$T/go"
	pairs=
	i=1
	while [ $i -le $N ]; do
		if [ $i -ge $a_first ] && [ $i -lt $((a_first + K)) ]; then
			pairs="$pairs A:B:s$i"
		else
			pairs="$pairs B:A:s$i"
		fi
		i=$((i + 1))
	done
	# shellcheck disable=SC2086 # a word a set
	check $r $pairs
	for h in A B; do
		[ ! -e "$T/hang.$h" ] || fail "round $r: $h's control socket: \
$(head -n 3 "$T/hang.$h")"
	done
	note "round $r: $N sets, $K each way: prepared in \
$((t_prep - t_start)) ms, migrated in $((t_mig - t0)) ms, checked in \
$(( $(now_ms) - t_mig )) ms"
	r=$((r + 1))
done
touch "$T/stop"
# Store updates happened: the record was rewritten many times.
for h in A B; do
	[ "$(grep -c '' "$T/$h.names")" -gt 0 ] ||
	    fail "$h: nothing in the fd store"
done
kill -TERM "$A_pid" "$B_pid"
reap A 60
reap B 60
check_clean A
check_clean B
[ "$A_rc" = 0 ] && [ "$B_rc" = 0 ] || fail "exit codes: A $A_rc, B $B_rc"
note "pass: $R rounds of $N concurrent migrations ($K each way)"
