#!/bin/sh
# guest-systemd-test.sh: runs inside the test guest under systemd as PID 1
# (run-guest.sh with VFIOMIG_VM_INIT=systemd, through check-systemd.sh):
# vfiomigd installed as an operator installs it and driven by systemd.
# The checks, in order:
#   install   the tree `make install DESTDIR` staged on the host
#             (check-systemd.sh) copied into the guest's root; then
#             systemd-sysusers and systemd-tmpfiles --create on its files:
#             the group and the directories exist; the unit's ExecStart=
#             binary and configuration are the installed ones, and the
#             installed default configuration passes --check-config
#   default   the service as installed, with the default configuration:
#             started by a client on vfiomigd.socket, 0 sets, the control
#             socket's group the sysusers.d group; then the test's
#             configuration written over it, as an operator would
#   units     systemd-analyze verify on the three units (clean but for the
#             lines in $harmless, printed) and systemd-analyze security
#             (its exposure line printed; fails only if it cannot evaluate)
#   activation  only vfiomigd.socket started; `vfiomigctl status` starts
#             the service, which logs that it took "control" from systemd;
#             ActiveState goes activating -> active/running, and systemd's
#             "Started" line comes after the daemon's last start-up line
#             (Type=notify: READY=1)
#   status    StatusText "2 sets, 0 migrating"
#   devices   the set "mt" of one mtty device opened by its legacy group
#             under DevicePolicy=closed + DeviceAllow (the unit as shipped);
#             negative control at the end: a drop-in with DeviceAllow=
#             emptied, and the daemon cannot open /dev/vfio/N
#   watchdog  WatchdogSec=2s (drop-in): 6 s up, NRestarts 0; then SIGSTOP:
#             systemd kills it for the watchdog and restarts it
#   reload    a bad edit: `systemctl reload` fails (ExecReload='s
#             --check-config, its message in the journal), no SIGHUP
#             reaches the daemon, same pid, same sets; then a configuration
#             that adds a set: the set is listed; the journal's
#             Reloading/Reloaded lines
#   migrate   vm1 (4 sim devices) into a second daemon, vfiomigd-dst.service
#             (a copy of the units: its own configuration, control socket
#             and runtime directory), started by the first connection to
#             vfiomigd-dst-migration.socket (vfiomigd-migration.socket with
#             Service= changed), which passes "migration"; StatusText says
#             migrating meanwhile; digests equal; journalctl finds the
#             migration-completed MESSAGE_ID with VFIOMIG_SET=vm1
#   crash     SIGKILL of the source service (systemctl kill -s KILL) while
#             vm1's migration is in pre-copy (4 devices with pre-copy,
#             --bandwidth), then, each time with fresh daemons, while vm3's
#             is in stop-copy (4 devices without pre-copy: all their state
#             moves in stop-copy; manual switchover, --bandwidth: it lasts
#             seconds), early and late (the two small devices' streams have
#             ended, the two big ones' not): NRestarts grows, the restarted
#             daemon recovers the set from its fd store (the "recovery:"
#             lines of daemon/store.c), the source devices are RUNNING with
#             the digests they had, the destination's set is idle again
#             with its devices RUNNING and its journal has a
#             migration-failed entry (no migration-completed one), and a
#             retried migration completes with equal digests
# Sim devices run with dirty_rate 0 and p2p_rate 0: a running device's
# digest does not change, so equal digests mean the state is intact.
# Prints each check as "ok:" or "FAIL:", the journal of a failing part,
# and the time each part took.
#   VFIOMIG_VM_STAGE  the staged `make install DESTDIR` tree (required)
#   VFIOMIG_VM_PKI    a test PKI (tests/gen-certs.sh) made on the host;
#                     without it the daemons run insecure
# Exit: 0 every check passed; 1 a check failed; 77 not under systemd.
set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
stage=${VFIOMIG_VM_STAGE:-}
# The administrator's units: the destination's copies, the drop-ins.
unitdir=/etc/systemd/system
ssock=/run/vfiomigd/control.sock
dsock=/run/vfiomigd-dst/control.sock
port=4444
token=0123456789abcdef-vm1-token
# MESSAGE_IDs of daemon/log.c.
id_completed=da81ff21e9f04107ad37f91bdbbb4b06
id_failed=efd48a6fcfc74c3d888abecd9059e9d2

say() { echo "guest-systemd-test: $*"; }
. "$srcdir/tests/vm/guest-lib.sh"

[ "$(cat /proc/1/comm)" = systemd ] || { say "SKIP: PID 1 is not systemd"; exit 77; }
[ -n "$stage" ] && [ -d "$stage" ] ||
    { say "no VFIOMIG_VM_STAGE (check-systemd.sh stages make install)"; exit 99; }
command -v jq >/dev/null || { say "SKIP: no jq"; exit 77; }

t_start=$(now_ms)
part_t=$t_start
laps=

# begin NAME: a new part (its time goes to the summary).
begin() {
	t=$(now_ms)
	[ -n "${part:-}" ] && laps="$laps${laps:+, }$part $(( (t - part_t) / 100 ))"
	part=$1
	part_t=$t
	say "---- $1"
}

# show UNIT PROP: the property's value.
show() {
	systemctl show -P "$2" "$1" 2>/dev/null
}

# jnl UNIT: the unit's journal of this boot (messages only), from
# $jnl_since on if set.
jnl_since=
jnl() {
	journalctl -b --no-pager -o cat ${jnl_since:+--since "$jnl_since"} \
	    -u "$1" 2>/dev/null
}

# jnl_has UNIT PATTERN MESSAGE...: the unit's journal holds PATTERN (grep -E).
jnl_has() {
	jnl "$1" | grep -Eq -- "$2"
	st=$?
	shift 2
	check "$st" "$@"
}

# upto TENTHS CMD...: runs CMD every 0.2 s until it succeeds, at most
# TENTHS tenths of a second; fails if it never did.
upto() {
	u_end=$(( $(now_ms) + $1 * 100 ))
	shift
	while ! "$@"; do
		[ "$(now_ms)" -lt "$u_end" ] || return 1
		sleep 0.2
	done
}

# sctl SOCK ARGS...: vfiomigctl on SOCK, JSON out.
sctl() {
	s=$1
	shift
	"$ctl" -s "$s" -o json "$@"
}

# digests SOCK SET: "name=digest state ..." of every device of SET.
digests() {
	sctl "$1" device list "$2" 2>/dev/null | jq -r '.sets[0].devices[] |
	    "\(.name)=\(.sim.digest // "-"):\(.stateName)"' | tr '\n' ' '
}

# set_status SOCK SET: the set's status ("idle", "incoming", ...: the
# JSON's SET_STATUS_IDLE ... in lower case, without the prefix).
set_status() {
	sctl "$1" set list "$2" 2>/dev/null |
	    jq -r '.sets[0].status | sub("^SET_STATUS_"; "") | ascii_downcase'
}

# mig_status SOCK SET: the status of the set's running or last migration
# ("precopy": MIGRATION_STATUS_PRECOPY).
mig_status() {
	sctl "$1" info "$2" 2>/dev/null |
	    jq -r '.status | sub("^MIGRATION_STATUS_"; "") | ascii_downcase'
}

is_mig() { [ "$(mig_status "$1" "$2")" = "$3" ]; }
is_set() { [ "$(set_status "$1" "$2")" = "$3" ]; }
is_active() { [ "$(systemctl is-active "$1" 2>/dev/null)" = active ]; }
status_has() { show "$1" StatusText | grep -q -- "$2"; }

# part_failed NAME: a check of part NAME failed.
part_failed() {
	case " $failed_parts " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

dump() {
	for u in "$@"; do
		echo "---- journal of $u"
		journalctl -b --no-pager -o short-monotonic -u "$u" | tail -n 40
	done
}

# ---- the installation ----

ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
begin install

# The tree of `make install DESTDIR` (check-systemd.sh staged it on the
# host) into this root, as a package puts it; then what a package's
# scripts run: systemd-sysusers and systemd-tmpfiles on its files.
cp -a "$stage/." / || { say "cannot copy $stage into /"; exit 99; }
# installed ERE: the installed file whose path matches ERE.
installed() {
	(cd "$stage" && find . -type f | sed 's/^\.//' | grep -E -- "$1" |
	    head -n 1)
}
unit=$(installed '/systemd/system/vfiomigd\.service$')
sysusers=$(installed '/sysusers\.d/vfiomigd\.conf$')
tmpfiles=$(installed '/tmpfiles\.d/vfiomigd\.conf$')
ctl=$(installed '/bin/vfiomigctl$')
for f in "$unit" "$sysusers" "$tmpfiles" "$ctl"; do
	[ -n "$f" ] || { say "the staged install lacks a file: $(cd "$stage" && find . -type f)"; exit 99; }
done
sysunitdir=$(dirname "$unit")
exe=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
conf=$(sed -n 's/^ExecStart=.* --config \([^ ]*\) .*/\1/p' "$unit")
confdir=$(dirname "$conf")
say "installed: $unit (ExecStart=$exe, --config $conf), $ctl, $sysusers, $tmpfiles"
[ -x "$exe" ]
check $? "the unit's ExecStart= binary $exe is installed"
[ -f "$conf" ] && cmp -s "$conf" "$srcdir/etc/vfiomigd.json"
check $? "the default configuration is installed where the unit reads it: $conf"
grep -q "^ExecReload=$exe --check-config $conf\$" "$unit"
check $? "ExecReload= runs $exe --check-config $conf"
[ ! -d /run/vfiomigd ]
check $? "no /run/vfiomigd before systemd-tmpfiles"
systemd-sysusers "$sysusers"
check $? "systemd-sysusers $sysusers"
group=$(sed -n 's/^g \([^ ]*\).*/\1/p' "$sysusers")
getent group "$group" >/dev/null
check $? "group $group made ($(getent group "$group"))"
systemd-tmpfiles --create "$tmpfiles"
check $? "systemd-tmpfiles --create $tmpfiles"
[ -d /run/vfiomigd ] && [ -d "$confdir" ] &&
    [ "$(stat -c %a /var/lib/vfiomigd)" = 700 ]
check $? "directories: /run/vfiomigd, $confdir, /var/lib/vfiomigd (0700)"
"$exe" --check-config "$conf"
check $? "vfiomigd --check-config $conf (the default)"
systemctl daemon-reload

# ---- the default configuration ----

begin default
systemctl start vfiomigd.socket
"$ctl" -s "$ssock" status >/run/vfiomig-tmp/default.out 2>&1
check $? "vfiomigctl status: the installed service with the default configuration"
sed 's/^/  /' /run/vfiomig-tmp/default.out
is_active vfiomigd.service
check $? "vfiomigd.service active"
same "$(show vfiomigd.service StatusText)" "0 sets, 0 migrating" \
    "StatusText: $(show vfiomigd.service StatusText)"
same "$(stat -c %G:%a "$ssock")" "$group:660" \
    "the control socket: group $group (control_group), mode 0660"
systemctl stop vfiomigd.service vfiomigd.socket
part_failed default && dump vfiomigd.service
# The journal's checks below look past this run.
sleep 1
jnl_since=$(date '+%Y-%m-%d %H:%M:%S')

# The destination: the same units under other names, paths and config.
sed -e 's/vfiomigd\.socket/vfiomigd-dst.socket/g' \
    -e 's/vfiomigd-migration\.socket/vfiomigd-dst-migration.socket/g' \
    -e "s|$conf|$confdir/dst.json|g" \
    -e 's|^RuntimeDirectory=vfiomigd$|RuntimeDirectory=vfiomigd-dst|' \
    -e 's|^StateDirectory=vfiomigd$|StateDirectory=vfiomigd-dst|' \
    -e 's|^ReadWritePaths=/run/vfiomigd$|ReadWritePaths=/run/vfiomigd-dst|' \
    "$unit" >"$unitdir/vfiomigd-dst.service"
sed -e "s|/run/vfiomigd/|/run/vfiomigd-dst/|" \
    -e 's/^Service=vfiomigd\.service/Service=vfiomigd-dst.service/' \
    "$sysunitdir/vfiomigd.socket" >"$unitdir/vfiomigd-dst.socket"
sed -e 's/^Service=vfiomigd\.service/Service=vfiomigd-dst.service/' \
    "$sysunitdir/vfiomigd-migration.socket" \
    >"$unitdir/vfiomigd-dst-migration.socket"

# The sanitizers' settings of the host go to the daemons; LeakSanitizer
# cannot run under SystemCallFilter=@system-service (it needs ptrace):
# leaks are the other tests' business.
asan=${ASAN_OPTIONS:-}
for u in vfiomigd vfiomigd-dst; do
	mkdir -p "$unitdir/$u.service.d"
	{
		echo "[Service]"
		echo "Environment=\"ASAN_OPTIONS=${asan:+$asan:}detect_leaks=0\""
		[ -n "${UBSAN_OPTIONS:-}" ] &&
		    echo "Environment=\"UBSAN_OPTIONS=$UBSAN_OPTIONS\""
	} >"$unitdir/$u.service.d/sanitizers.conf"
done

if [ -n "${VFIOMIG_VM_PKI:-}" ] && [ -f "$VFIOMIG_VM_PKI/ca-cert.pem" ]; then
	cp -r "$VFIOMIG_VM_PKI" "$confdir/pki"
	sec="\"tls_dir\": \"$confdir/pki\""
	say "TLS with the PKI of $VFIOMIG_VM_PKI"
else
	sec='"insecure": true'
	say "no PKI: insecure"
fi

# sim DEV SEED [FLAGS]: a sim device of the test set.
sim() {
	printf '   {"name": "%s", "backend": "sim", "state_size": "%s", ' \
	    "$1" "$3"
	printf '"dirty_rate": 0, "p2p_rate": 0, "seed": %s, "flags": [%s]}' \
	    "$2" "$4"
}

pre='"STOP_COPY", "P2P", "PRE_COPY"'
nopre='"STOP_COPY", "P2P"'
# vm1: 4 devices of 2 MiB with pre-copy.  vm3: 4 devices without
# pre-copy (their whole state moves in stop-copy), sim0 and sim1 of 1 MiB,
# sim2 and sim3 of 4 MiB: the small ones' streams end (DEV_END) while the
# big ones still send.  A set has pre-copy only if every device has it.
sets() {
	echo '  {"name": "vm1", "token": "'"$token"'", "devices": ['
	sim sim0 "${1}1" 2M "$pre"; echo ,
	sim sim1 "${1}2" 2M "$pre"; echo ,
	sim sim2 "${1}3" 2M "$pre"; echo ,
	sim sim3 "${1}4" 2M "$pre"; echo
	echo '  ]},'
	echo '  {"name": "vm3", "token": "'"$token"'", "devices": ['
	sim sim0 "${1}5" 1M "$nopre"; echo ,
	sim sim1 "${1}6" 1M "$nopre"; echo ,
	sim sim2 "${1}7" 4M "$nopre"; echo ,
	sim sim3 "${1}8" 4M "$nopre"; echo
	echo '  ]}'
}

# The mtty set, by group: DeviceAllow= must let the daemon open it.
mt_set=
if [ -n "${VFIOMIG_GROUP_0:-}" ] && [ -c "${VFIOMIG_GROUP_0:-}" ]; then
	mt_set=$(printf ',\n  {"name": "mt", "devices": [{"name": "mtty0", "backend": "vfio", "group": "%s", "device": "%s"}]}' \
	    "$VFIOMIG_GROUP_0" "$VFIOMIG_UUID_0")
fi

# src_conf EXTRA: the source's configuration, with EXTRA (sets) at the
# end, over the installed default.
src_conf() {
	cat >"$conf" <<EOF
{
 "log_level": "info",
 "control_socket": "$ssock",
 "migration": { $sec, "connections": 2,
   "precopy_timeout_action": "switchover" },
 "sets": [
$(sets 1)$mt_set$1
 ]
}
EOF
}
src_conf ""
cat >"$confdir/dst.json" <<EOF
{
 "log_level": "info",
 "control_socket": "$dsock",
 "migration": { $sec, "connections": 2,
   "precopy_timeout_action": "switchover" },
 "sets": [
$(sets 2)
 ]
}
EOF
nsets=2
[ -n "$mt_set" ] && nsets=3
systemctl daemon-reload

# ---- the units: verify, security ----

begin units
# Lines systemd-analyze verify may print here that are not about our
# units: the host's own units and this guest's setup (masked units).
# --man=no: the man pages of Documentation= are not installed here.
harmless='(^$|is masked|proc-sys-fs-binfmt_misc|systemd-journald-audit|getty|autofs)'
cd "$sysunitdir" || exit 99
v_out=$(systemd-analyze verify --man=no vfiomigd.service vfiomigd.socket \
    vfiomigd-migration.socket 2>&1)
v_rc=$?
cd - >/dev/null || exit 99
echo "$v_out" | sed 's/^/  verify: /'
v_bad=$(echo "$v_out" | grep -Ev "$harmless")
[ -z "$v_bad" ] && [ $v_rc = 0 ]
check $? "systemd-analyze verify: exit $v_rc${v_bad:+: $v_bad}"
s_out=$(systemd-analyze security --no-pager vfiomigd.service 2>&1)
s_rc=$?
echo "$s_out" | grep -E 'Overall exposure level' | sed 's/^/  security: /'
echo "$s_out" | grep -E '^✗' | sed 's/^/  security: /' | head -n 40
echo "$s_out" | grep -q 'Overall exposure level'
check $? "systemd-analyze security evaluates vfiomigd.service (exit $s_rc)"

# ---- socket activation, readiness ----

begin activation
systemctl start vfiomigd.socket
check $? "systemctl start vfiomigd.socket"
is_active vfiomigd.socket
check $? "vfiomigd.socket active"
! is_active vfiomigd.service
check $? "vfiomigd.service not started by the socket alone ($(show vfiomigd.service ActiveState))"
[ -S "$ssock" ]
check $? "$ssock made by systemd"
# States while the first client's connection starts the service.
: >/run/vfiomig-tmp/states
(
	i=0
	while [ $i -lt 60 ]; do
		s=$(systemctl show -p ActiveState,SubState --value vfiomigd |
		    tr '\n' /)
		echo "$s" >>/run/vfiomig-tmp/states
		[ "$s" = active/running/ ] && break
		i=$((i + 1))
	done
) &
sampler=$!
"$ctl" -s "$ssock" status >/run/vfiomig-tmp/status.out 2>&1
check $? "vfiomigctl status through the socket"
wait $sampler
sed 's/^/  /' /run/vfiomig-tmp/status.out
say "states seen: $(uniq /run/vfiomig-tmp/states | tr '\n' ' ')"
is_active vfiomigd.service
check $? "vfiomigd.service started by the connection"
jnl_has vfiomigd.service 'socket activation: "control" on fd [0-9]+' \
    "the daemon took \"control\" from systemd"
grep -q '^activating/start/' /run/vfiomig-tmp/states
check $? "activating/start seen before active/running (Type=notify)"
same "$(show vfiomigd.service ActiveState)/$(show vfiomigd.service SubState)" \
    active/running "ActiveState/SubState"
# READY=1: systemd's "Started" comes after the daemon's start-up lines.
last_sets=$(jnl vfiomigd.service | grep -n 'set vm1: .*status idle' |
    head -n 1 | cut -d: -f1)
started=$(jnl vfiomigd.service | grep -n '^Started ' | head -n 1 |
    cut -d: -f1)
[ -n "$last_sets" ] && [ -n "$started" ] && [ "$started" -gt "$last_sets" ]
check $? "\"Started\" (line ${started:-none}) after the daemon opened its sets (line ${last_sets:-none})"
# A client right after `systemctl restart` returns is served at once.
systemctl restart vfiomigd.service
same "$(set_status "$ssock" vm1)" idle "right after systemctl restart returns, vm1 is there (READY after the sets)"
begin status
sets_txt="$nsets sets"
[ "$nsets" = 1 ] && sets_txt="1 set"
same "$(show vfiomigd.service StatusText)" "$sets_txt, 0 migrating" \
    "StatusText: $(show vfiomigd.service StatusText)"
d0=$(digests "$ssock" vm1)
say "vm1 at start: $d0"
d3=$(digests "$ssock" vm3)
say "vm3 at start: $d3"
if [ -n "$mt_set" ]; then
	begin devices
	same "$(sctl "$ssock" device list mt | jq -r '.sets[0].devices[0].stateName')" \
	    RUNNING "mtty0 ($VFIOMIG_GROUP_0) open under DevicePolicy=closed"
fi
[ -z "$failed_parts" ] || dump vfiomigd.service

# ---- watchdog ----

begin watchdog
mkdir -p "$unitdir/vfiomigd.service.d"
printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=5s\n' \
    >"$unitdir/vfiomigd.service.d/watchdog.conf"
systemctl daemon-reload
systemctl restart vfiomigd.service
n0=$(show vfiomigd.service NRestarts)
jnl_has vfiomigd.service 'watchdog: every 1000 ms' "the daemon pings every 1 s"
sleep 6
is_active vfiomigd.service && [ "$(show vfiomigd.service NRestarts)" = "$n0" ]
check $? "up 6 s with WatchdogSec=2s: NRestarts $(show vfiomigd.service NRestarts) (was $n0)"
pid=$(show vfiomigd.service MainPID)
kill -STOP "$pid"
upto 150 eval '[ "$(show vfiomigd.service NRestarts)" -gt "$n0" ]'
check $? "SIGSTOP: restarted (NRestarts $(show vfiomigd.service NRestarts))"
jnl_has vfiomigd.service 'Watchdog timeout' "systemd: watchdog timeout"
jnl_has vfiomigd.service "Failed with result 'watchdog'" \
    "systemd: Failed with result 'watchdog'"
upto 100 is_active vfiomigd.service
check $? "active again (MainPID $(show vfiomigd.service MainPID), was $pid)"
rm "$unitdir/vfiomigd.service.d/watchdog.conf"
systemctl daemon-reload
# The ping interval came with the start: 1 s still, well inside 30 s.
part_failed "watchdog" && dump vfiomigd.service

# ---- reload ----

begin reload
# A bad edit: ExecReload='s --check-config refuses it, no SIGHUP is sent,
# the daemon keeps its configuration.
cp "$conf" /run/vfiomig-tmp/good.json
sed 's/"connections": 2/"connectons": 2/' /run/vfiomig-tmp/good.json >"$conf"
pid=$(show vfiomigd.service MainPID)
nhup=$(jnl vfiomigd.service | grep -c 'SIGHUP: reloading')
sets0=$(sctl "$ssock" set list | jq -r '[.sets[].name] | join(" ")')
! systemctl reload vfiomigd.service 2>/run/vfiomig-tmp/reload.err
check $? "systemctl reload refuses a bad configuration: $(head -n 1 /run/vfiomig-tmp/reload.err)"
jnl_has vfiomigd.service "^vfiomigd: error: $conf: migration\.connectons: unknown key" \
    "the journal has --check-config's message"
same "$(jnl vfiomigd.service | grep -c 'SIGHUP: reloading')" "$nhup" \
    "no SIGHUP reached the daemon ($nhup before)"
is_active vfiomigd.service && [ "$(show vfiomigd.service MainPID)" = "$pid" ]
check $? "still active, same MainPID $pid"
same "$(sctl "$ssock" set list | jq -r '[.sets[].name] | join(" ")')" "$sets0" \
    "the same sets: $sets0"
# A good one: reloaded.
src_conf ',
  {"name": "vm2", "devices": [{"name": "sim0", "backend": "sim", "state_size": "64K"}]}'
systemctl reload vfiomigd.service
check $? "systemctl reload vfiomigd"
same "$(sctl "$ssock" set list | jq -r '.sets[].name' | grep -c '^vm2$')" 1 \
    "vm2 listed after the reload"
jnl_has vfiomigd.service '^Reloading ' "systemd: Reloading"
jnl_has vfiomigd.service '^Reloaded ' "systemd: Reloaded"
jnl_has vfiomigd.service 'SIGHUP: reloading' "the daemon: SIGHUP: reloading"
jnl_has vfiomigd.service 'reload: set vm2 added' "the daemon: set vm2 added"
same "$(show vfiomigd.service ActiveState)" active "active after the reload"
say "StatusText: $(show vfiomigd.service StatusText)"

# ---- migration to a socket-activated destination ----

begin migrate
systemctl start vfiomigd-dst.socket vfiomigd-dst-migration.socket
check $? "the destination's sockets"
! is_active vfiomigd-dst.service
check $? "vfiomigd-dst.service not started yet"
"$ctl" -s "$ssock" migrate vm1 --to "127.0.0.1:$port" --token "$token" \
    --manual-switchover >/dev/null
check $? "migrate vm1 (manual switchover)"
upto 100 status_has vfiomigd.service '1 migrating'
check $? "StatusText while migrating: $(show vfiomigd.service StatusText)"
upto 100 is_active vfiomigd-dst.service
check $? "vfiomigd-dst.service started by the migration's connection"
jnl_has vfiomigd-dst.service 'socket activation: "migration" on fd [0-9]+' \
    "the destination took \"migration\" from systemd"
upto 100 is_mig "$ssock" vm1 precopy
"$ctl" -s "$ssock" switchover vm1 >/dev/null
check $? "switchover vm1"
upto 300 is_mig "$ssock" vm1 completed
check $? "vm1 migrated: $(mig_status "$ssock" vm1)"
ds=$(digests "$ssock" vm1 | sed 's/:[A-Z_]*//g')
dd=$(digests "$dsock" vm1 | sed 's/:[A-Z_]*//g')
same "$ds" "$dd" "digests: source $ds, destination $dd"
[ "$ds" = "$(echo "$d0" | sed 's/:[A-Z_]*//g')" ]
check $? "the source's digests are those it started with"
n=$(journalctl -b -o json --no-pager MESSAGE_ID=$id_completed VFIOMIG_SET=vm1 \
    _SYSTEMD_UNIT=vfiomigd.service | jq -r .MESSAGE | tee /dev/stderr | wc -l)
[ "$n" -ge 1 ]
check $? "journalctl MESSAGE_ID=$id_completed VFIOMIG_SET=vm1: $n entry on the source"
n=$(journalctl -b -o json --no-pager MESSAGE_ID=$id_completed VFIOMIG_SET=vm1 \
    _SYSTEMD_UNIT=vfiomigd-dst.service | wc -l)
[ "$n" -ge 1 ]
check $? "the same on the destination: $n entry"
journalctl -b -o json --no-pager MESSAGE_ID=$id_completed VFIOMIG_SET=vm1 \
    _SYSTEMD_UNIT=vfiomigd.service | head -n 1 |
    jq -c '{MESSAGE, MESSAGE_ID, VFIOMIG_SET, PRIORITY, SYSLOG_IDENTIFIER}'
part_failed "migrate" &&
    dump vfiomigd.service vfiomigd-dst.service

# ---- crashes ----

# fresh: both daemons restarted (an explicit stop empties the fd store),
# their sets idle and RUNNING with the digests of their configuration.
# Their ledgers are emptied too: a clean slate, as two new hosts (else the
# source's vm1, migrated away before, comes up fenced, and the
# destination's token stays used).
fresh() {
	systemctl stop vfiomigd.service vfiomigd-dst.service 2>/dev/null
	rm -rf /var/lib/vfiomigd/sets /var/lib/vfiomigd-dst/sets
	systemctl start vfiomigd.service
	"$ctl" -s "$dsock" status >/dev/null 2>&1
	same "$(digests "$ssock" "$cs")" "$c0" "fresh source: $cs $c0"
	same "$(set_status "$dsock" "$cs")" idle "fresh destination: $cs idle"
}

# crash NAME SET PHASE MINBYTES EXTRA...: migrate SET with EXTRA, SIGKILL
# the source once SET's migration is in PHASE with MINBYTES sent, check
# the aftermath, retry.
crash() {
	begin "crash-$1"
	cs=$2
	ph=$3
	minb=$4
	shift 4
	c0=$d0
	[ "$cs" = vm3 ] && c0=$d3
	fresh
	n0=$(show vfiomigd.service NRestarts)
	pid0=$(show vfiomigd.service MainPID)
	since=$(date '+%Y-%m-%d %H:%M:%S')
	"$ctl" -s "$ssock" migrate "$cs" --to "127.0.0.1:$port" \
	    --token "$token" "$@" >/dev/null
	check $? "migrate $cs $*"
	if [ "$ph" = stopcopy ]; then
		upto 100 is_mig "$ssock" "$cs" precopy
		"$ctl" -s "$ssock" switchover "$cs" >/dev/null
	fi
	upto 150 eval 'sctl "$ssock" info "$cs" | jq -e --arg p "$ph" \
	    --argjson b "$minb" \
	    "(.status | sub(\"^MIGRATION_STATUS_\"; \"\") | ascii_downcase) == \$p and
	    ((.bytesProcessed // \"0\") | tonumber) >= \$b" >/dev/null'
	check $? "$cs's migration in $ph, at least $minb bytes sent ($(sctl "$ssock" info "$cs" | jq -c '{status, bytesProcessed, bytesTotal}'))"
	dst_before=$(set_status "$dsock" "$cs")
	# At least the record ("state") and the set's 4 sim memfds.
	nfd=$(show vfiomigd.service NFileDescriptorStore)
	[ "${nfd:-0}" -ge 5 ]
	check $? "systemd holds $nfd fds of the daemon (NFileDescriptorStore)"
	systemctl kill -s KILL vfiomigd.service
	say "SIGKILL to $pid0 in $ph; the destination's $cs was $dst_before"
	upto 150 eval '[ "$(show vfiomigd.service NRestarts)" -gt "$n0" ]'
	check $? "restarted: NRestarts $(show vfiomigd.service NRestarts) (was $n0)"
	upto 100 is_active vfiomigd.service
	check $? "active again: MainPID $(show vfiomigd.service MainPID) (was $pid0)"
	journalctl --no-pager -o cat -u vfiomigd.service --since "$since" |
	    grep -E "recovery: (set $cs|state)" | sed 's/^/  /'
	journalctl --no-pager -o cat -u vfiomigd.service --since "$since" |
	    grep -Eq "recovery: set $cs: was outgoing: rolled back"
	check $? "recovery: set $cs: was outgoing: rolled back"
	if [ -n "$mt_set" ]; then
		# The mtty's device, group and container fds came back from
		# the store (its group cannot be opened twice): adopted.
		journalctl --no-pager -o cat -u vfiomigd.service --since "$since" |
		    grep -Eq "recovery: set mt: was idle: managed again"
		check $? "recovery: set mt (an mtty by group, its fds from the store): managed again"
		same "$(sctl "$ssock" device list mt | jq -r '.sets[0].devices[0].stateName')" \
		    RUNNING "mt's mtty0 RUNNING after the restart"
	fi
	same "$(digests "$ssock" "$cs")" "$c0" \
	    "source $cs RUNNING, digests intact: $(digests "$ssock" "$cs")"
	same "$(set_status "$ssock" "$cs")" idle "source $cs idle"
	upto 150 eval '[ "$(set_status "$dsock" "$cs")" = idle ]'
	check $? "destination $cs no longer incoming: $(set_status "$dsock" "$cs") (info: $(mig_status "$dsock" "$cs"))"
	sctl "$dsock" device list "$cs" | jq -e '[.sets[0].devices[] |
	    select(.stateName != "RUNNING")] | length == 0' >/dev/null
	check $? "destination $cs's devices RUNNING (reset): $(digests "$dsock" "$cs")"
	# The destination's journal says the job failed, not "completed".
	n=$(journalctl -o json --no-pager --since "$since" \
	    _SYSTEMD_UNIT=vfiomigd-dst.service VFIOMIG_SET="$cs" \
	    MESSAGE_ID=$id_completed | jq -r .MESSAGE)
	[ -z "$n" ]
	check $? "destination: no migration-completed entry for the killed job${n:+: $n}"
	n=$(journalctl -o json --no-pager --since "$since" \
	    _SYSTEMD_UNIT=vfiomigd-dst.service VFIOMIG_SET="$cs" \
	    MESSAGE_ID=$id_failed | wc -l)
	[ "$n" -ge 1 ]
	check $? "destination: a migration-failed entry ($n)"
	# The failed job used the destination's token up: prepared again.
	"$ctl" -s "$dsock" incoming "$cs" --token "$token" >/dev/null
	check $? "incoming $cs on the destination (a token admits one job)"
	"$ctl" -s "$ssock" migrate "$cs" --to "127.0.0.1:$port" \
	    --token "$token" --wait >/dev/null 2>&1
	check $? "the retried migration completes"
	ds=$(digests "$ssock" "$cs" | sed 's/:[A-Z_]*//g')
	dd=$(digests "$dsock" "$cs" | sed 's/:[A-Z_]*//g')
	same "$ds" "$(echo "$c0" | sed 's/:[A-Z_]*//g')" "retry: source digests those of the start"
	same "$ds" "$dd" "retry: destination digests equal: $dd"
	part_failed "crash-$1" && dump vfiomigd.service vfiomigd-dst.service
}

# Pre-copy: vm1 (8 MiB at 2 MiB/s), once 1 MiB is sent.  Stop-copy: vm3
# (10 MiB) early, at 256 KiB/s as soon as some data is sent (no stream has
# ended yet), and late, at 256 KiB/s once 3 MiB are sent (the 1 MiB devices'
# streams have ended: DEV_END sent for them, not for the 4 MiB ones, so
# the destination cannot have committed).
crash precopy vm1 precopy 1048576 --manual-switchover --bandwidth 2M
crash stopcopy vm3 stopcopy 1 --manual-switchover --bandwidth 256K
crash stopcopy-late vm3 stopcopy 3145728 --manual-switchover --bandwidth 256K

# ---- DeviceAllow, the negative control ----

if [ -n "$mt_set" ]; then
	begin deviceallow
	# Restart=no: the failed start is not tried again and again.
	printf '[Service]\nDeviceAllow=\nRestart=no\n' \
	    >"$unitdir/vfiomigd.service.d/nodev.conf"
	systemctl daemon-reload
	since=$(date '+%Y-%m-%d %H:%M:%S')
	systemctl restart vfiomigd.service 2>/dev/null
	journalctl --no-pager -o cat -u vfiomigd.service --since "$since" |
	    grep -E "$VFIOMIG_GROUP_0|mtty0" | head -n 3 | sed 's/^/  /'
	journalctl --no-pager -o cat -u vfiomigd.service --since "$since" |
	    grep -Eq "(mtty0|$VFIOMIG_GROUP_0).*(not permitted|EPERM|denied)"
	check $? "without DeviceAllow the daemon cannot open $VFIOMIG_GROUP_0"
	rm "$unitdir/vfiomigd.service.d/nodev.conf"
	systemctl daemon-reload
fi

begin end
say "times (tenths of s): $laps"
say "$npass passed, $nfail failed${failed_parts:+ (in:$failed_parts)}; $(( ($(now_ms) - t_start) / 1000 )) s"
[ "$nfail" = 0 ]
