#!/bin/sh
# adopt.sh: restarts without the fd store, as a plain `systemctl stop` and
# `start` (or a reboot) does them.  The simulated devices keep their state
# in files ("state_file"), so that, like a real device under the kernel,
# they outlive the daemon that held them.
#   1. Devices a dead process left in PRE_COPY, STOP_COPY, RUNNING_P2P and
#      PRE_COPY_P2P (a source: the barrier walk back to RUNNING, digests
#      kept), RESUMING (a destination: reset) and STOP (fenced: status
#      migrated, never run) are each handled by that rule when a set is
#      opened from the configuration; at `device add` the same, a device
#      in STOP refused unless --reset.
#   2. The destination is SIGKILLed in mid-stream and started again
#      without a store: its devices are found in RESUMING and reset; the
#      source's first retry succeeds, digests equal.
#   3. The source is stopped after the completed migration and started
#      again: the set is migrated (the ledger's fence), `migrate` is
#      refused and the destination untouched; with the ledger gone the
#      devices found in STOP fence it all the same; `release` resets
#      the devices and makes it idle; the VM can come back (B -> A).
#   4. A used token: a replayed migration into the set that runs the VM
#      is refused on every connection, and its digests do not change;
#      the same after the destination's restart.
. "$(dirname "$0")/cli-lib.sh"

need_json
SIMSTATE=${SIMSTATE:-$PWD/tests/integration/simstate}
[ -x "$SIMSTATE" ] || fail "no helper at $SIMSTATE"
TOK2=0123456789abcdef-second-token
S=$T/states
mkdir -p "$S"

# mkconf NAME LISTEN DEVS...: set vm1 of sim devices, DEV given as
# "sim0:FILE": no dirtying, no P2P (so a digest is the state), each in its
# state file, control socket and state_dir in $T.
mkconf() {
	mk_n=$1 mk_l=$2
	shift 2
	{
		printf '{"log_level": "info", "migration": {'
		printf '"precopy_timeout_action": "switchover", '
		[ "$mk_l" != - ] && printf '"listen": "%s", ' "$mk_l"
		printf '"insecure": true, "connections": 2},\n'
		printf ' "sets": [{"name": "vm1", "token": "%s", "devices": [' \
		    "$TOKEN"
		mk_i=0
		for mk_d in "$@"; do
			[ $mk_i -gt 0 ] && printf ','
			printf '\n  {"name": "%s", "backend": "sim", ' "${mk_d%%:*}"
			printf '"state_size": "4M", "dirty_rate": 0, '
			printf '"p2p_rate": 0, "seed": %d, "state_file": "%s"}' \
			    $((mk_i + 1)) "${mk_d#*:}"
			mk_i=$((mk_i + 1))
		done
		printf ']}]}\n'
	} >"$T/$mk_n.tmpl"
}

# dev_json NAME: `device list -o json` of daemon NAME into $T/NAME.dl.
dev_json() {
	"$VFIOMIGCTL" -s "$T/$1.sock" -o json device list vm1 >"$T/$1.dl" ||
	    fail "$1: device list"
}
# dev_field NAME I KEY: device I's KEY (stateName, sim.digest: a decimal
# string, as simstate and the logs print it), or the set's status (without
# its SET_STATUS_ prefix, lower case) or reason.
dev_field() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["sets"][0]
if sys.argv[3] == "status":
    print(d["status"].replace("SET_STATUS_", "").lower()); sys.exit(0)
if sys.argv[3] == "reason":
    print(d.get("reason", "")); sys.exit(0)
x = d["devices"][int(sys.argv[2])]
for k in sys.argv[3].split("."):
    x = x.get(k, {}) if isinstance(x, dict) else x
print(x)' "$T/$1.dl" "$2" "$3"
}

# ---- 1. The adoption rule. ----
for st in PRE_COPY STOP_COPY RUNNING_P2P PRE_COPY_P2P RESUMING STOP; do
	"$SIMSTATE" "$S/a-$st" "$st" 4194304 >"$T/a-$st.out" ||
	    fail "simstate $st: $(cat "$T/a-$st.out")"
done
# A source's leftovers: every device walked back to RUNNING, state kept.
mkconf src1 - "sim0:$S/a-PRE_COPY" "sim1:$S/a-STOP_COPY" \
    "sim2:$S/a-RUNNING_P2P" "sim3:$S/a-PRE_COPY_P2P"
render src1 "$T/src1.tmpl"
start_ctl_daemon src1 "$T/src1.sock" "$T/src1.run.json"
has src1 'set vm1: found an abandoned source \(sim0=PRE_COPY sim1=STOP_COPY sim2=RUNNING_P2P sim3=PRE_COPY_P2P\): rolled back, every device RUNNING'
dev_json src1
[ "$(dev_field src1 0 status)" = idle ] || fail "src1: $(cat "$T/src1.dl")"
i=0
for st in PRE_COPY STOP_COPY RUNNING_P2P PRE_COPY_P2P; do
	[ "$(dev_field src1 $i stateName)" = RUNNING ] ||
	    fail "src1 sim$i (was $st): $(cat "$T/src1.dl")"
	[ "$(dev_field src1 $i sim.digest)" = \
	    "$(fld digest "$(cat "$T/a-$st.out")")" ] ||
	    fail "sim$i (was $st): the state changed: $(cat "$T/src1.dl")"
	i=$((i + 1))
done
note "PRE_COPY, STOP_COPY, RUNNING_P2P, PRE_COPY_P2P: rolled back, \
digests kept"
stop_daemon src1

# A destination's leftovers: reset (fresh state), idle.
mkconf dst1 - "sim0:$S/a-RESUMING"
render dst1 "$T/dst1.tmpl"
start_ctl_daemon dst1 "$T/dst1.sock" "$T/dst1.run.json"
has dst1 'set vm1: found an abandoned destination \(sim0=RESUMING\): every device reset'
dev_json dst1
[ "$(dev_field dst1 0 status)" = idle ] &&
    [ "$(dev_field dst1 0 stateName)" = RUNNING ] ||
    fail "dst1: $(cat "$T/dst1.dl")"
note "RESUMING: reset, idle"
stop_daemon dst1

# STOP: never run; the set is fenced (migrated) and refuses to migrate.
mkconf stop1 - "sim0:$S/a-STOP" "sim1:$S/a-PRE_COPY"
render stop1 "$T/stop1.tmpl"
start_ctl_daemon stop1 "$T/stop1.sock" "$T/stop1.run.json"
has stop1 'set vm1: found stopped \(sim0=STOP sim1=RUNNING\): a device in STOP may hold the state of a VM that runs elsewhere now; status migrated'
dev_json stop1
[ "$(dev_field stop1 0 status)" = migrated ] &&
    [ "$(dev_field stop1 0 stateName)" = STOP ] ||
    fail "stop1: $(cat "$T/stop1.dl")"
ctl m1 -s "$T/stop1.sock" migrate vm1 --to 127.0.0.1:1 --token "$TOKEN"
ctl_rc_is m1 1
err_has m1 'set vm1 is migrated \(fenced: devices found stopped'
# At run time: a device in STOP refused, accepted with --reset (reset).
ctl cs -s "$T/stop1.sock" set create rt --token "$TOKEN"
ctl_rc_is cs 0
"$SIMSTATE" "$S/b-STOP" STOP 4194304 >/dev/null || fail "simstate"
"$SIMSTATE" "$S/b-PRE_COPY" PRE_COPY 4194304 >"$T/b-PRE_COPY.out" ||
    fail "simstate"
ctl da -s "$T/stop1.sock" device add rt d0 --state-size 4M \
    --dirty-rate 0 --p2p-rate 0 --state-file "$S/b-STOP"
ctl_rc_is da 1
err_has da 'd0: in STOP: it may hold the state of a VM that runs elsewhere'
ctl da2 -s "$T/stop1.sock" device add rt d0 --state-size 4M \
    --dirty-rate 0 --p2p-rate 0 --state-file "$S/b-STOP" --reset
ctl_rc_is da2 0
ctl da3 -s "$T/stop1.sock" device add rt d1 --state-size 4M \
    --dirty-rate 0 --p2p-rate 0 --state-file "$S/b-PRE_COPY"
ctl_rc_is da3 0
has stop1 'set rt: device d0 was found in STOP \(stopped\): reset, now RUNNING'
has stop1 'set rt: device d1 was found in PRE_COPY \(an abandoned source\): rolled back, now RUNNING'
note "STOP: fenced (migrated), migrate refused; device add: STOP refused, \
--reset resets it, PRE_COPY rolled back"
stop_daemon stop1

# ---- 2. The destination killed mid-stream, started without a store. ----
mkconf dst @LISTEN@ "sim0:$S/d0" "sim1:$S/d1"
mkconf src - "sim0:$S/s0" "sim1:$S/s1"
render src "$T/src.tmpl"
start_listener dst "$T/dst.tmpl"
start_ctl_daemon src "$T/src.sock" "$T/src.run.json"
dev_json src
s0=$(dev_field src 0 sim.digest)
s1=$(dev_field src 1 sim.digest)
ctl mig -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$dst_port" \
    --token "$TOKEN" --bandwidth 1M
ctl_rc_is mig 0
wait_log dst 'accepted, 2 connections, devices RESUMING'
wait_read dst 1048576
kill -KILL "$dst_pid"
reap dst 10
wait_log src 'migrate vm1: rolled back: every device RUNNING' 30
start_listener dst "$T/dst.tmpl" "$dst_port"
has dst 'set vm1: found an abandoned destination \(sim0=RESUMING sim1=RESUMING\): every device reset'
ctl mig2 -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$dst_port" \
    --token "$TOKEN" --wait
ctl_rc_is mig2 0
dev_json dst
[ "$(dev_field dst 0 sim.digest)" = "$s0" ] &&
    [ "$(dev_field dst 1 sim.digest)" = "$s1" ] ||
    fail "dst after the retry: $(cat "$T/dst.dl") (source had $s0 $s1)"
note "destination killed mid-stream, restarted: reset; the first retry \
succeeded, digests equal"

# ---- 3. The source stopped and started again after it migrated. ----
stop_daemon src
has src 'set vm1: at exit: status migrated'
start_ctl_daemon src "$T/src.sock" "$T/src.run.json"
has src 'set vm1: migrated away by job [0-9]+ to 127\.0\.0\.1:[0-9]+ \(.*\) \(ledger .*\): status migrated'
dev_json src
[ "$(dev_field src 0 status)" = migrated ] &&
    [ "$(dev_field src 0 stateName)" = STOP ] ||
    fail "src after the restart: $(cat "$T/src.dl")"
note "restarted source: $(dev_field src 0 reason)"
# The destination is even prepared again (an orchestrator's mistake):
# the source refuses on its own and nothing reaches the destination.
prepare dst "$TOK2"
n_acc=$(count dst 'accepted, 2 connections')
ctl m2 -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$dst_port" \
    --token "$TOK2"
ctl_rc_is m2 1
err_has m2 'set vm1 is migrated \(migrated away by job'
sleep 0.5
[ "$(count dst 'accepted, 2 connections')" = "$n_acc" ] ||
    fail "dst: a job was accepted"
dev_json dst
[ "$(dev_field dst 0 sim.digest)" = "$s0" ] &&
    [ "$(dev_field dst 0 stateName)" = RUNNING ] ||
    fail "dst changed: $(cat "$T/dst.dl")"
note "migrate refused: $(sed 's/^vfiomigctl: //' "$T/m2.ctlerr")"
# Without the ledger, the devices found in STOP fence it all the same.
stop_daemon src
rm -rf "$T/src.state"
start_ctl_daemon src "$T/src.sock" "$T/src.run.json"
has src 'set vm1: found stopped \(sim0=STOP sim1=STOP\)'
dev_json src
[ "$(dev_field src 0 status)" = migrated ] || fail "src: $(cat "$T/src.dl")"
# The VM comes back B -> A: the fence is lifted by its arrival.
stop_daemon src
mkconf src @LISTEN@ "sim0:$S/s0" "sim1:$S/s1"
start_listener src "$T/src.tmpl"
prepare src "$TOK2"
ctl back2 -s "$T/dst.sock" migrate vm1 --to "127.0.0.1:$src_port" \
    --token "$TOK2" --wait
ctl_rc_is back2 0
dev_json src
[ "$(dev_field src 0 status)" = idle ] &&
    [ "$(dev_field src 0 sim.digest)" = "$s0" ] ||
    fail "src after the VM came back: $(cat "$T/src.dl")"
[ ! -e "$T/src.state/sets/vm1.json" ] ||
    [ "$(python3 -c 'import json,sys; print("fence" in json.load(open(sys.argv[1])))' \
    "$T/src.state/sets/vm1.json")" = False ] ||
    fail "the fence is still in the ledger: $(cat "$T/src.state/sets/vm1.json")"
note "the VM came back (B -> A): the set is idle, the fence gone"
# Release: A -> B again, then A released (its devices reset, idle).
prepare dst "$TOKEN"
ctl m3 -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$dst_port" \
    --token "$TOKEN" --wait
ctl_rc_is m3 0
ctl rel -s "$T/src.sock" release vm1
ctl_rc_is rel 0
dev_json src
[ "$(dev_field src 0 status)" = idle ] &&
    [ "$(dev_field src 0 stateName)" = RUNNING ] &&
    [ "$(dev_field src 0 sim.digest)" != "$s0" ] ||
    fail "src after release: $(cat "$T/src.dl")"
has src 'set vm1: released: every device reset'
ctl rel2 -s "$T/src.sock" release vm1
ctl_rc_is rel2 1
err_has rel2 'only a migrated or failed set is released'
note "release: devices reset, idle; a second release refused"

# ---- 4. A used token. ----
dev_json dst
d0=$(dev_field dst 0 sim.digest)
d1=$(dev_field dst 1 sim.digest)
n_acc=$(count dst 'accepted, 2 connections')
# A second source (a fresh set of the same shape) with the used token,
# over 1 and 2 connections.
mkconf rep - "sim0:$S/r0" "sim1:$S/r1"
for c in 1 2; do
	sed "s/\"connections\": 2/\"connections\": $c/" "$T/rep.tmpl" \
	    >"$T/rep$c.json"
	migrate "rep$c" "$T/rep$c.json" "$dst_port"
	reap_clean "rep$c" 60 4
	has "rep$c" 'its token was used by job [0-9]+; a token admits one job'
done
[ "$(count dst 'accepted, 2 connections')" = "$n_acc" ] ||
    fail "dst accepted a replayed job"
stop_daemon dst
start_listener dst "$T/dst.tmpl" "$dst_port"
has dst 'set vm1: its token was used by job [0-9]+ \(committed\): incoming migrations are refused'
migrate rep3 "$T/rep1.json" "$dst_port"
reap_clean rep3 60 4
has rep3 'its token was used by job'
dev_json dst
[ "$(dev_field dst 0 sim.digest)" = "$d0" ] &&
    [ "$(dev_field dst 1 sim.digest)" = "$d1" ] &&
    [ "$(dev_field dst 0 stateName)" = RUNNING ] ||
    fail "dst changed by a replay: $(cat "$T/dst.dl") (was $d0 $d1)"
[ "$(count dst 'accepted, 2 connections')" = 0 ] ||
    fail "dst accepted a job after its restart"
hasnt dst 'devices reset'
note "a used token: refused over 1 and 2 connections, and after a restart; \
the running set's digests unchanged"
stop_daemon dst
stop_daemon src
note "pass"
