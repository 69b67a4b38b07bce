#!/bin/sh
# reload.sh: SIGHUP reloads the configuration's sets (vfiomigd(8),
# SIGNALS).  A set the new configuration adds is opened; a configured set
# it drops is closed if idle, kept while it migrates; a configuration that
# does not parse changes nothing; the migration in flight goes on and
# completes after the reloads; a migrated set it drops is removed (its
# fence stays in the ledger); the daemon serves throughout and exits 0.
. "$(dirname "$0")/cli-lib.sh"
need_json

DS=$T/dst.sock
SS=$T/src.sock
dev='"state_size": "4M", "dirty_rate": 2000, "arc_latency_us": 1000'
ctl_conf "$T/dst.tmpl" "$DS" @LISTEN@ 1 2 "$dev, \"seed\": 10@I@" ""
start_listener dst "$T/dst.tmpl"
wait_ctl dst "$DS"

# src_conf FILE SET...: the source's configuration with these sets, each
# of 2 sim devices.
src_conf() {
	sc_f=$1
	shift
	{
		printf '{"control_socket": "%s", "state_dir": "%s.state", ' \
		    "$SS" "$SS"
		printf '"log_level": "info",\n'
		printf ' "migration": {"insecure": true, '
		printf '"precopy_timeout_action": "switchover"}, "sets": ['
		sc_n=0
		for sc_s in "$@"; do
			[ $sc_n -gt 0 ] && printf ','
			printf '\n {"name": "%s", "devices": [' "$sc_s"
			printf '{"name": "sim0", "backend": "sim", %s},' "$dev"
			printf '{"name": "sim1", "backend": "sim", %s}]}' "$dev"
			sc_n=$((sc_n + 1))
		done
		printf ']}\n'
	} >"$sc_f"
}

# sets NAME: the source's set names, sorted, on one line.
sets() {
	ctl "$1" -s "$SS" -o json set list
	ctl_rc_is "$1" 0
	if [ "$json_tool" = python3 ]; then
		python3 -c 'import json,sys
print(" ".join(sorted(s["name"] for s in json.load(open(sys.argv[1]))["sets"])))' \
		    "$T/$1.ctlout"
	else
		jq -r '[.sets[].name] | sort | join(" ")' "$T/$1.ctlout"
	fi
}

# hup N: SIGHUP to the source, then until its Nth reload is over.
hup() {
	kill -HUP "$(pid_of src)"
	h_t=$(( 30 * SLOW * 20 ))
	until [ "$(grep -Ec 'reload: .*(in all|nothing changed)' \
	    "$(log_of src)")" -ge "$1" ]; do
		alive "$(pid_of src)" || fail "src exited in reload $1: \
$(tail -n 3 "$(log_of src)")"
		[ $h_t -gt 0 ] || fail "reload $1 did not end: $(tail -n 5 \
"$(log_of src)")"
		sleep 0.05
		h_t=$((h_t - 1))
	done
}

src_conf "$T/src.json" vm1 vm2
start_ctl_daemon src "$SS" "$T/src.json"
[ "$(sets s0)" = "vm1 vm2" ] || fail "at start: $(sets s0)"

# vm1 migrates, its switchover left to us.
ctl inc -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is inc 0
ctl mig -s "$SS" migrate vm1 --to "127.0.0.1:$dst_port" --token "$TOKEN" \
    --manual-switchover
ctl_rc_is mig 0
wait_info i1 "$SS" vm1 awaitingSwitchover true

# 1: vm1 and vm2 gone from the configuration, vm3 new: vm3 opened, vm2
# (idle) closed, vm1 (migrating) kept.
src_conf "$T/src.json" vm3
hup 1
[ "$(sets s1)" = "vm1 vm3" ] || fail "after reload 1: $(sets s1)"
grep -Eq 'reload: set vm1 stays' "$(log_of src)" ||
    fail "no 'set vm1 stays' line: $(grep reload "$(log_of src)")"
ctl d3 -s "$SS" -o json device list vm3
ctl_rc_is d3 0
[ "$(jget "$T/d3.ctlout" sets.0.devices.1.stateName)" = RUNNING ] ||
    fail "vm3 after reload: $(ctl_out d3)"
note "reload 1: vm3 added, idle vm2 removed, migrating vm1 kept"

# 2: a configuration that does not parse: nothing changes.
echo '{"sets": [' >"$T/src.json"
hup 2
# Reload 2's closing line, not just any, says so.
grep -E 'reload: .*(in all|nothing changed)' "$(log_of src)" | sed -n 2p |
    grep -q 'nothing changed' ||
    fail "bad configuration: $(grep reload "$(log_of src)")"
[ "$(sets s2)" = "vm1 vm3" ] || fail "after a bad reload: $(sets s2)"
note "reload 2: $(grep 'nothing changed' "$(log_of src)" | head -n 1)"

# The migration carried on through both reloads and completes.
ctl sw -s "$SS" switchover vm1
ctl_rc_is sw 0
wait_info i1 "$SS" vm1 status MIGRATION_STATUS_COMPLETED
ctl dd -s "$DS" -o json device list vm1
[ "$(jget "$T/dd.ctlout" sets.0.devices.0.stateName)" = RUNNING ] ||
    fail "destination vm1: $(ctl_out dd)"
note "vm1 migrated after two reloads"

# 3: vm2 back, vm3 kept; the migrated vm1 (no job: its devices stopped
# here, the VM runs at the destination) is removed, its fence kept in the
# ledger: a set of that name made again comes up migrated.
src_conf "$T/src.json" vm2 vm3
hup 3
[ "$(sets s3)" = "vm2 vm3" ] || fail "after reload 3: $(sets s3)"
grep -Eq 'reload: set vm1 removed' "$(log_of src)" ||
    fail "no 'vm1 removed' line: $(grep reload "$(log_of src)")"
grep -q '"fence"' "$SS.state/sets/vm1.json" ||
    fail "vm1's fence is not in the ledger"
ctl cs -s "$SS" set create vm1
ctl_rc_is cs 0
ctl l1 -s "$SS" -o json set list vm1
[ "$(jget "$T/l1.ctlout" sets.0.status)" = SET_STATUS_MIGRATED ] ||
    fail "vm1 made again: $(ctl_out l1)"
note "reload 3: vm2 added again, migrated vm1 removed; made again, it is \
migrated (the ledger's fence)"

stop_daemon src
stop_daemon dst
note "pass"
