# lib.sh: the common part of the integration tests, sourced by each
# tests/integration/*.sh.  Two (or more) vfiomigd daemons on loopback, each
# test in a temp dir of its own with ports of its own: the temp dir, the
# test PKI (tests/gen-certs.sh), configurations, starting a daemon and
# waiting for its "listening" line, stopping it with SIGTERM and checking
# that it exited 0 with no sanitizer or valgrind complaint, the report lines,
# peak RSS (VmHWM).
#
# Environment:
#   VFIOMIGD        the daemon (default: ./daemon/vfiomigd, make check's cwd)
#   VFIOMIG_WRAP    prepended to every daemon command, e.g.
#                   "valgrind --leak-check=full --error-exitcode=99
#                    --errors-for-leak-kinds=definite" (with a build
#                   without sanitizers); timeouts then grow VFIOMIG_SLOW
#                   times (default 20)
#   VFIOMIG_KEEP    keep the temp dir (its path is printed)
#
# Not here: what a test asserts (each script).  Exit codes: 0 pass, 1 fail,
# 77 skip (automake).

set -u

it_name=$(basename "$0" .sh)
it_dir=$(cd "$(dirname "$0")" && pwd)
srcdir=${VFIOMIG_SRCDIR:-$(cd "$it_dir/../.." && pwd)}
VFIOMIGD=${VFIOMIGD:-$PWD/daemon/vfiomigd}
VFIOMIG_WRAP=${VFIOMIG_WRAP:-}
if [ -n "$VFIOMIG_WRAP" ]; then
	SLOW=${VFIOMIG_SLOW:-20}
else
	SLOW=${VFIOMIG_SLOW:-1}
fi
TOKEN=0123456789abcdef-vm1-token

note() { echo "$it_name: $*"; }
fail() { echo "$it_name: FAIL: $*" >&2; exit 1; }
skip() { echo "$it_name: SKIP: $*"; exit 77; }

[ -x "$VFIOMIGD" ] || fail "no daemon at $VFIOMIGD (set VFIOMIGD)"
T=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-$it_name.XXXXXX") ||
    fail "mktemp failed"
# A daemon whose configuration names no state_dir would use the system's
# ledger (/var/lib/vfiomigd): here one shared in $T instead, so that two
# such daemons of one test fail loudly (its lock) and none touches the
# host's.
STATE_DIRECTORY=$T/default.state
export STATE_DIRECTORY
it_pids=""

# On any exit: every process started here killed, the logs' tails shown
# if the test failed, the temp dir removed.
it_cleanup() {
	it_rc=$?
	trap - EXIT
	for p in $it_pids; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$it_rc" -ne 0 ] && [ "$it_rc" -ne 77 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- tail of $(basename "$f")" >&2
			tail -n 25 "$f" >&2
		done
	fi
	if [ -n "${VFIOMIG_KEEP:-}" ]; then
		echo "$it_name: kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$it_rc"
}
trap it_cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- time ----

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- certificates ----

# The test PKI in $T/pki (skip without certtool).
gen_certs() {
	sh "$srcdir/tests/gen-certs.sh" "$T/pki" >"$T/gen-certs.out" 2>&1
	gc_rc=$?
	[ $gc_rc -eq 77 ] && skip "certtool not found (gnutls-bin)"
	[ $gc_rc -eq 0 ] || fail "gen-certs.sh: $(cat "$T/gen-certs.out")"
	# A client of the other CA, with the right CA to check the server.
	mkdir -p "$T/rogue"
	cp "$T/pki/ca-cert.pem" "$T/rogue/ca-cert.pem"
	cp "$T/pki/other-ca/client-cert.pem" "$T/pki/other-ca/client-key.pem" \
	    "$T/rogue/"
}

# ---- configurations ----

# conf FILE LISTEN SECURITY CONNS NDEV DEVKEYS [TOKEN]: a daemon's
# configuration (no control_socket: render adds one), one set "vm1" of
# NDEV sim devices sim0.. with the JSON keys DEVKEYS ("" for none; "@I@"
# is replaced by the device's index).  $CONF_SETS (default "vm1"): the
# sets' names, each with the same devices and token; in DEVKEYS "@S@" is
# replaced by the set's name and "@K@" by its rank (1, 2, ...).
# LISTEN "-" for no listener,
# "@LISTEN@" for start_listener to fill in.  SECURITY "insecure" or a
# tls_dir.  TOKEN "" for none.
# The tests check what a migration moves, under sanitizers on a loaded
# host where pre-copy may not converge: they switch over anyway
# (precopy_timeout_action "switchover", $CONF_ACTION; empty: the
# daemon's default, abort).  downtime.sh judges the downtime itself.
CONF_ACTION=${CONF_ACTION-switchover}
conf() {
	c_file=$1 c_listen=$2 c_sec=$3 c_conns=$4 c_ndev=$5 c_dev=$6
	c_tok=${7-$TOKEN}
	{
		printf '{"log_level": "info", "migration": {'
		if [ -n "$CONF_ACTION" ]; then
			printf '"precopy_timeout_action": "%s", ' "$CONF_ACTION"
		fi
		if [ "$c_listen" != - ]; then
			printf '"listen": "%s", ' "$c_listen"
		fi
		if [ "$c_sec" = insecure ]; then
			printf '"insecure": true'
		else
			printf '"tls_dir": "%s"' "$c_sec"
		fi
		printf ', "connections": %s, "max_frame": "1M"},\n' "$c_conns"
		printf ' "sets": ['
		c_k=0
		for c_set in ${CONF_SETS:-vm1}; do
			c_k=$((c_k + 1))
			[ $c_k -gt 1 ] && printf ',\n  '
			printf '{"name": "%s", ' "$c_set"
			if [ -n "$c_tok" ]; then
				printf '"token": "%s", ' "$c_tok"
			fi
			printf '"devices": ['
			c_i=0
			while [ $c_i -lt "$c_ndev" ]; do
				[ $c_i -gt 0 ] && printf ','
				printf '\n  {"name": "sim%d", "backend": "sim"' \
				    $c_i
				if [ -n "$c_dev" ]; then
					printf ', %s' "$(echo "$c_dev" | sed \
					    "s/@I@/$c_i/g; s/@S@/$c_set/g; s/@K@/$c_k/g")"
				fi
				printf '}'
				c_i=$((c_i + 1))
			done
			printf ']}'
		done
		printf ']}\n'
	} >"$c_file"
}

# render NAME CONF [PORT]: CONF for daemon NAME in $T/NAME.run.json:
# @LISTEN@ as 127.0.0.1:PORT, and unless CONF names them, the control
# socket $T/NAME.sock and the state directory $T/NAME.state (never the
# system's).
render() {
	rd_s="s/@LISTEN@/127.0.0.1:${3:-0}/"
	grep -q '"control_socket"' "$2" ||
	    rd_s="$rd_s;1s#^{#{\"control_socket\": \"$T/$1.sock\", #"
	grep -q '"state_dir"' "$2" ||
	    rd_s="$rd_s;1s#^{#{\"state_dir\": \"$T/$1.state\", #"
	sed -e "$rd_s" "$2" >"$T/$1.run.json"
}

# ---- ports ----

port_hex() { printf ':%04X' "$1"; }

# Whether anything listens on TCP port $1.
port_listening() {
	awk -v h="$(port_hex "$1")" 'FNR > 1 && $4 == "0A" &&
	    substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A port no socket uses now, below the ephemeral range.
pick_port() {
	while :; do
		pp=$(( $(od -An -N2 -tu2 /dev/urandom) % 12000 + 20000 ))
		if ! grep -qi "$(port_hex "$pp") " /proc/net/tcp \
		    /proc/net/tcp6 2>/dev/null; then
			echo "$pp"
			return
		fi
	done
}

# ---- processes ----

# alive PID: running (not a zombie).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	al_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$al_st" ] && [ "$al_st" != Z ]
}

# start_daemon NAME ARGS...: vfiomigd ARGS in the background; stderr in
# $T/NAME.log; its pid in ${NAME}_pid.
start_daemon() {
	sd_name=$1
	shift
	: >"$T/$sd_name.log"
	# shellcheck disable=SC2086 # VFIOMIG_WRAP is a command line
	$VFIOMIG_WRAP "$VFIOMIGD" "$@" >"$T/$sd_name.out" 2>"$T/$sd_name.log" &
	sd_pid=$!
	it_pids="$it_pids $sd_pid"
	eval "${sd_name}_pid=$sd_pid"
}

pid_of() { eval "echo \${$1_pid}"; }
log_of() { echo "$T/$1.log"; }

# reap NAME [SECONDS]: waits for NAME's exit (fails after SECONDS, 60 by
# default); its exit status in ${NAME}_rc.
reap() {
	rp_pid=$(pid_of "$1")
	rp_t=$(( ${2:-60} * SLOW * 20 ))
	while alive "$rp_pid"; do
		[ $rp_t -gt 0 ] || fail "$1 (pid $rp_pid) did not exit within \
$(( ${2:-60} * SLOW )) s"
		sleep 0.05
		rp_t=$((rp_t - 1))
	done
	wait "$rp_pid" 2>/dev/null
	eval "${1}_rc=$?"
	it_pids=$(echo "$it_pids" | sed "s/ $rp_pid\$//; s/ $rp_pid / /")
}

# No sanitizer or valgrind complaint in NAME's log.
check_clean() {
	cc_bad=$(grep -E 'LeakSanitizer|AddressSanitizer|ThreadSanitizer|runtime error|ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write|free)' \
	    "$(log_of "$1")")
	[ -z "$cc_bad" ] || fail "$1: sanitizer/valgrind errors:
$cc_bad"
}

# reap_clean NAME [SECONDS] [RC]: waits for NAME's exit, which must be RC
# (0 by default) with a clean log.
reap_clean() {
	reap "$1" "${2:-60}"
	check_clean "$1"
	rc_want=${3:-0}
	eval "rc_got=\${$1_rc}"
	[ "$rc_got" -eq "$rc_want" ] || fail "$1 exited $rc_got, not $rc_want"
}

# stop_daemon NAME: SIGTERM; it must exit 0 within 30 s, log "exit 0" and
# have no sanitizer complaint (LeakSanitizer runs at exit).
stop_daemon() {
	kill -TERM "$(pid_of "$1")" 2>/dev/null
	reap_clean "$1" 30 0
	grep -q 'vfiomigd: info: exit 0$' "$(log_of "$1")" ||
	    fail "$1: no \"exit 0\" line after SIGTERM"
}

# wait_log NAME ERE [SECONDS]: until NAME's log has a line matching ERE;
# fails after SECONDS (30) or if NAME exits without it.
wait_log() {
	wl_f=$(log_of "$1")
	wl_pid=$(pid_of "$1")
	wl_t=$(( ${3:-30} * SLOW * 50 ))
	while :; do
		grep -Eq -- "$2" "$wl_f" && return 0
		if ! alive "$wl_pid"; then
			grep -Eq -- "$2" "$wl_f" && return 0
			fail "$1 exited without logging /$2/"
		fi
		[ $wl_t -gt 0 ] || fail "$1: no /$2/ within \
$(( ${3:-30} * SLOW )) s"
		sleep 0.02
		wl_t=$((wl_t - 1))
	done
}

# wait_since NAME ERE1 ERE2 [SECONDS]: until NAME's log has a line
# matching ERE2 at or after its last line matching ERE1.
wait_since() {
	ws_f=$(log_of "$1")
	ws_t=$(( ${4:-30} * SLOW * 50 ))
	while :; do
		ws_n=$(grep -nE -- "$2" "$ws_f" | tail -n 1 | cut -d: -f1)
		[ -n "$ws_n" ] && tail -n "+$ws_n" "$ws_f" | grep -Eq -- "$3" &&
		    return 0
		[ $ws_t -gt 0 ] || fail "$1: no /$3/ after /$2/ within \
$(( ${4:-30} * SLOW )) s"
		sleep 0.02
		ws_t=$((ws_t - 1))
	done
}

# start_listener NAME TEMPLATE [PORT]: a daemon with TEMPLATE's @LISTEN@
# replaced by 127.0.0.1:PORT (a free port picked if none), its
# configuration in $T/NAME.run.json; waits for its "listening" line and checks
# the port it names.  ${NAME}_port is the port.  A port taken meanwhile:
# another one (or, for a given PORT, the same again a little later).
start_listener() {
	sl_tries=0
	while :; do
		sl_port=${3:-$(pick_port)}
		render "$1" "$2" "$sl_port"
		start_daemon "$1" --config "$T/$1.run.json"
		sl_re='listening for migrations on [^ ]*:[0-9]+ '
		sl_f=$(log_of "$1")
		sl_t=$(( 30 * SLOW * 50 ))
		while ! grep -Eq "$sl_re" "$sl_f" && alive "$(pid_of "$1")" &&
		    [ $sl_t -gt 0 ]; do
			sleep 0.02
			sl_t=$((sl_t - 1))
		done
		if grep -Eq "$sl_re" "$sl_f"; then
			sl_got=$(sed -n 's/.*listening for migrations on .*:\([0-9]*\) (.*/\1/p' \
			    "$sl_f")
			# (Port 0, once migration.listen allows it: the
			# port the kernel chose, as the line says.)
			[ "$sl_port" = 0 ] || [ "$sl_got" = "$sl_port" ] ||
			    fail "$1 says it listens on port $sl_got, \
configured $sl_port"
			port_listening "$sl_got" ||
			    fail "$1: nothing listens on $sl_got"
			eval "${1}_port=$sl_got"
			return 0
		fi
		[ $sl_t -gt 0 ] || fail "$1: no \"listening\" line"
		reap "$1" 5
		sl_tries=$((sl_tries + 1))
		if ! grep -q "cannot listen" "$sl_f" || [ $sl_tries -ge 10 ]; then
			fail "$1 did not start: $(tail -n 3 "$sl_f")"
		fi
		[ -n "${3:-}" ] && sleep 0.5
	done
}

# migrate NAME CONF PORT [ARGS...]: a source daemon migrating set vm1 to
# 127.0.0.1:PORT with the right token and --exit-after (ARGS may add or
# override).  Returns at once; reap it.
migrate() {
	mg_name=$1 mg_conf=$2 mg_port=$3
	shift 3
	render "$mg_name" "$mg_conf"
	start_daemon "$mg_name" --config "$T/$mg_name.run.json" --migrate vm1 \
	    --to "127.0.0.1:$mg_port" --token "$TOKEN" --exit-after "$@"
}

# prepare NAME [TOKEN [SET]]: `vfiomigctl incoming SET` (vm1 by default)
# on daemon NAME's control socket: a token admits one incoming job, so a destination that served
# one (committed or failed) takes the next only once prepared again.
prepare() {
	pr_ctl=${VFIOMIGCTL:-$PWD/cli/vfiomigctl}
	"$pr_ctl" -s "$T/$1.sock" incoming "${3:-vm1}" --token "${2:-$TOKEN}" \
	    >"$T/$1.prepare" 2>&1 ||
	    fail "$1: vfiomigctl incoming: $(cat "$T/$1.prepare")"
}

# ---- log lines ----

# fld KEY LINE: the word after "KEY " in LINE.
fld() { echo "$2" | sed -n "s/.* $1 \([^ ]*\).*/\1/p"; }

# lastline NAME FIXED-STRING [FIXED-STRING2]: the last line of NAME's log
# holding the first string (and the second).
lastline() {
	if [ $# -ge 3 ]; then
		grep -F -- "$2" "$(log_of "$1")" | grep -F -- "$3" | tail -n 1
	else
		grep -F -- "$2" "$(log_of "$1")" | tail -n 1
	fi
}

count() { grep -cE -- "$2" "$(log_of "$1")"; }

# has NAME ERE / hasnt NAME ERE: assert a line (or none) matches.
has() { grep -Eq -- "$2" "$(log_of "$1")" || fail "$1: no line /$2/"; }
hasnt() {
	hn_l=$(grep -E -- "$2" "$(log_of "$1")" | head -n 3)
	[ -z "$hn_l" ] || fail "$1: unexpected line(s): $hn_l"
}

# The device's digest at start ("set vm1: device simI state ...").
start_digest() {
	fld digest "$(lastline "$1" "info: set vm1: device sim$2 state ")"
}

# p2p_lost_before_job DST DEV [SET]: DEV's (of SET, vm1 by default)
# p2p_lost on its last line before DST's last job for SET began (the last
# "devices RESUMING" line).
p2p_lost_before_job() {
	pb_set=${3:-vm1}
	pb_n=$(grep -n "incoming $pb_set: job .*devices RESUMING\$" \
	    "$(log_of "$1")" | tail -n 1 | cut -d: -f1)
	[ -n "$pb_n" ] || fail "$1: no job began"
	fld p2p_lost "$(head -n "$pb_n" "$(log_of "$1")" |
	    grep -F "$pb_set: device $2 state " | tail -n 1)"
}

# check_migrated SRC DST NDEV [SET]: the source's last migration of SET
# (vm1 by default) succeeded and the destination's last incoming job for
# it loaded what the source sent: per device, digests and stream lengths
# equal, no P2P write lost on either side, source devices STOP and the
# set migrated, destination devices RUNNING.
check_migrated() {
	cm_set=${4:-vm1}
	has "$1" "migrate $cm_set: report: result success\$"
	# The destination logs its devices just after it sent COMMITTED.
	wait_since "$2" "incoming $cm_set: job .*devices RESUMING\$" \
	    "incoming $cm_set: device sim$(($3 - 1)) state .* stream_bytes " 30
	[ "$(lastline "$1" "migrate $cm_set: done: ")" != "" ] &&
	    [ "$(fld done: "$(lastline "$1" "migrate $cm_set: done: ")")" = \
	    success ] || fail "$1: the last migration of $cm_set is not \
\"done: success\""
	[ "$(lastline "$1" "info: set $cm_set: status ")" != "" ] ||
	    fail "$1: no status of $cm_set"
	cm_st=$(fld status "$(lastline "$1" "info: set $cm_set: status ")")
	[ "$cm_st" = migrated ] || fail "$1: set $cm_set is $cm_st, not migrated"
	has "$2" "incoming $cm_set: job [0-9]+: committed in [0-9.]+ ms, every device RUNNING\$"
	cm_i=0
	while [ $cm_i -lt "$3" ]; do
		cm_s=$(lastline "$1" "migrate $cm_set: report: device sim$cm_i state ")
		cm_d=$(lastline "$2" "incoming $cm_set: device sim$cm_i state " \
		    stream_bytes)
		[ -n "$cm_s" ] || fail "$1: no report line for sim$cm_i"
		[ -n "$cm_d" ] || fail "$2: no incoming line for sim$cm_i"
		[ "$(fld state "$cm_s")" = STOP ] ||
		    fail "source sim$cm_i: $cm_s (not STOP)"
		[ "$(fld state "$cm_d")" = RUNNING ] ||
		    fail "destination sim$cm_i: $cm_d (not RUNNING)"
		[ "$(fld digest_check "$cm_s")" = verified ] ||
		    fail "source sim$cm_i: digest not verified: $cm_s"
		cm_a=$(fld digest "$cm_s")
		cm_b=$(fld digest "$cm_d")
		[ -n "$cm_a" ] && [ "$cm_a" = "$cm_b" ] ||
		    fail "sim$cm_i: source digest $cm_a, destination $cm_b"
		[ "$(fld stream_bytes "$cm_s")" = "$(fld stream_bytes "$cm_d")" ] ||
		    fail "sim$cm_i: stream_bytes differ: $cm_s / $cm_d"
		[ "$(fld p2p_lost "$cm_s")" = 0 ] ||
		    fail "source sim$cm_i lost P2P writes: $cm_s"
		# The destination's counters count since its start: what it
		# lost before this job (a reset of a failed job resets the
		# devices one by one, each RUNNING again at once) is not the
		# migrated VM's.
		cm_b=$(p2p_lost_before_job "$2" "sim$cm_i" "$cm_set")
		[ "$(fld p2p_lost "$cm_d")" = "$cm_b" ] ||
		    fail "destination sim$cm_i lost P2P writes: $cm_d \
(before the job: p2p_lost $cm_b)"
		cm_i=$((cm_i + 1))
	done
}

# check_final NAME STATUS STATE NDEV: the "at exit" lines of a stopped
# daemon: set vm1's status, every device in STATE with no P2P write lost
# since the last migration's report (or since the start).
check_final() {
	cf_l=$(lastline "$1" 'set vm1: at exit: status ')
	[ "$(fld status "$cf_l")" = "$2" ] ||
	    fail "$1: at exit, set vm1: \"$cf_l\", expected status $2"
	cf_i=0
	while [ $cf_i -lt "$4" ]; do
		cf_l=$(lastline "$1" "set vm1: at exit: device sim$cf_i state ")
		[ "$(fld state "$cf_l")" = "$3" ] ||
		    fail "$1: at exit: \"$cf_l\", expected $3"
		cf_b=$(fld p2p_lost "$(lastline "$1" ": device sim$cf_i state " \
		    stream_bytes)")
		[ "$(fld p2p_lost "$cf_l")" = "${cf_b:-0}" ] ||
		    fail "$1: at exit: \"$cf_l\": P2P writes lost \
(${cf_b:-0} at the last migration)"
		cf_i=$((cf_i + 1))
	done
}

# ---- traffic ----

# io_read NAME: the bytes NAME's process has read so far (rchar: sockets,
# pipes and files alike).
io_read() {
	sed -n 's/^rchar: //p' "/proc/$(pid_of "$1")/io" 2>/dev/null
}

# wait_read NAME BYTES [SECONDS]: until NAME has read BYTES more than now:
# migration data flows into it.
wait_read() {
	wr_base=$(io_read "$1")
	[ -n "$wr_base" ] || fail "$1: cannot read /proc/$(pid_of "$1")/io"
	wr_t=$(( ${3:-30} * SLOW * 100 ))
	while :; do
		wr_now=$(io_read "$1")
		[ -n "$wr_now" ] || fail "$1 exited while waiting for data"
		[ $((wr_now - wr_base)) -ge "$2" ] && return 0
		[ $wr_t -gt 0 ] || fail "$1: fewer than $2 bytes read in \
$(( ${3:-30} * SLOW )) s"
		sleep 0.01
		wr_t=$((wr_t - 1))
	done
}

# ---- memory ----

# rss_watch NAME: polls VmHWM (peak RSS, KiB) of NAME into $T/NAME.hwm
# while it lives.
rss_watch() {
	rw_pid=$(pid_of "$1")
	rw_out="$T/$1.hwm"
	(
		while [ -r "/proc/$rw_pid/status" ]; do
			rw_v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' \
			    "/proc/$rw_pid/status" 2>/dev/null)
			[ -n "$rw_v" ] && echo "$rw_v" >"$rw_out"
			alive "$rw_pid" || break
			sleep 0.1
		done
	) &
	it_pids="$it_pids $!"
}

hwm_kib() { cat "$T/$1.hwm" 2>/dev/null || echo 0; }
