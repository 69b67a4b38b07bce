#!/bin/sh
# bad-config.sh: a daemon given a bad configuration or bad arguments exits
# 1 (2 is also fine for a usage error) with a message that names the file
# and the key (or the option), before it listens: nothing listens on the
# configured port afterwards (nor a control socket), and it leaks nothing
# on the way out.  Among them: a state_dir another daemon holds or that
# cannot be made, a string with a NUL or invalid UTF-8.
# Each bad configuration file is also refused by `vfiomigd --check-config
# FILE` (the unit's ExecReload=) with the same message and exit 1, which
# starts nothing either; but for what only a start finds (a device that
# does not open, the state_dir's lock another daemon holds: the very
# daemon a reload is for), which --check-config passes.  A good file
# passes, and makes neither its control socket nor its state_dir.
. "$(dirname "$0")/lib.sh"

port=$(pick_port)
good() {	# good FILE: a valid configuration listening on $port
	conf "$1" "127.0.0.1:$port" insecure 1 2 '"state_size": "1M"'
}

# bad NAME RCS ERE ARGS...: vfiomigd ARGS must exit with one of RCS and
# say ERE (on a line of its own: "vfiomigd: error: ..." or usage).
bad() {
	b_name=$1 b_rcs=$2 b_re=$3
	shift 3
	start_daemon "$b_name" "$@"
	reap "$b_name" 20
	check_clean "$b_name"
	eval "b_rc=\${${b_name}_rc}"
	case " $b_rcs " in
	*" $b_rc "*) ;;
	*) fail "$b_name: exit $b_rc, expected one of $b_rcs: $(cat "$(log_of "$b_name")")" ;;
	esac
	grep -Eq -- "$b_re" "$(log_of "$b_name")" ||
	    fail "$b_name: no /$b_re/ in: $(cat "$(log_of "$b_name")")"
	hasnt "$b_name" 'listening for migrations'
	! port_listening "$port" || fail "$b_name: port $port listens"
	for b_s in "$T"/*.sock; do
		[ ! -e "$b_s" ] || fail "$b_name: left a socket: $b_s"
	done
	note "$b_name: exit $b_rc: $(grep -E -- "$b_re" \
	    "$(log_of "$b_name")" | head -n 1)"
	# A bad file alone: --check-config says the same.
	[ $# -eq 2 ] && [ "$1" = --config ] || return 0
	case " $start_only " in
	*" $b_name "*) check_ok "$b_name" "$2"; return ;;
	esac
	start_daemon "chk_$b_name" --check-config "$2"
	reap "chk_$b_name" 20
	check_clean "chk_$b_name"
	eval "b_rc=\${chk_${b_name}_rc}"
	[ "$b_rc" = 1 ] || fail "--check-config $2: exit $b_rc, not 1: $(cat "$(log_of "chk_$b_name")")"
	grep -Eq -- "$b_re" "$(log_of "chk_$b_name")" ||
	    fail "--check-config $2: no /$b_re/ in: $(cat "$(log_of "chk_$b_name")")"
	[ ! -s "$T/chk_$b_name.out" ] ||
	    fail "--check-config $2 printed: $(cat "$T/chk_$b_name.out")"
	! port_listening "$port" || fail "chk_$b_name: port $port listens"
	for b_s in "$T"/*.sock; do
		[ ! -e "$b_s" ] || fail "chk_$b_name: left a socket: $b_s"
	done
	note "$b_name: --check-config: exit 1, the same message"
}

# Found only by a start: --check-config opens no device and takes no lock.
start_only="no_device state_dir_held"

# check_ok NAME FILE: --check-config FILE exits 0 with "FILE: ok: ...",
# nothing on stderr.
check_ok() {
	start_daemon "chk_$1" --check-config "$2"
	reap "chk_$1" 20
	check_clean "chk_$1"
	eval "co_rc=\${chk_${1}_rc}"
	[ "$co_rc" = 0 ] || fail "--check-config $2: exit $co_rc: $(cat "$(log_of "chk_$1")")"
	grep -q "^$2: ok: " "$T/chk_$1.out" ||
	    fail "--check-config $2: no \"ok\" line: $(cat "$T/chk_$1.out")"
	[ ! -s "$(log_of "chk_$1")" ] ||
	    fail "--check-config $2: stderr: $(cat "$(log_of "chk_$1")")"
	note "$1: --check-config: $(cat "$T/chk_$1.out")"
}

# Configuration errors: file and JSON path named.
good "$T/g.json"
sed 's/"connections"/"connectons"/' "$T/g.json" >"$T/unknown-key.json"
bad unknown_key 1 \
    "^vfiomigd: error: $T/unknown-key\.json: migration\.connectons: unknown key" \
    --config "$T/unknown-key.json"
sed 's/"connections": 1/"connections": 99/' "$T/g.json" >"$T/bad-value.json"
bad bad_value 1 \
    "^vfiomigd: error: $T/bad-value\.json: migration\.connections: .*99" \
    --config "$T/bad-value.json"
sed '0,/"state_size": "1M"/s//"state_size": "1Q"/' "$T/g.json" >"$T/bad-size.json"
grep -q '"1Q"' "$T/bad-size.json" || fail "sed: no 1Q"
bad bad_size 1 \
    "^vfiomigd: error: $T/bad-size\.json: sets\[0\]\.devices\[0\]\.state_size: .*1Q" \
    --config "$T/bad-size.json"
sed 's/"insecure": true/"insecure": "yes"/' "$T/g.json" >"$T/bad-type.json"
bad bad_type 1 \
    "^vfiomigd: error: $T/bad-type\.json: migration\.insecure: " \
    --config "$T/bad-type.json"
sed 's/]}]}/],}]}/' "$T/g.json" >"$T/syntax.json"
bad syntax_error 1 "^vfiomigd: error: $T/syntax\.json:[0-9]+:[0-9]+: " \
    --config "$T/syntax.json"
bad missing_file 1 "^vfiomigd: error: $T/nonexistent\.json: " \
    --config "$T/nonexistent.json"
sed 's#"insecure": true#"tls_dir": "'"$T"'/no-pki"#' "$T/g.json" >"$T/no-pki.json"
bad no_pki 1 "^vfiomigd: error: $T/no-pki\.json: migration\.tls_dir: .*$T/no-pki" \
    --config "$T/no-pki.json"
# A device that cannot open: nothing starts half-configured.
sed 's#{"name": "sim1", "backend": "sim", "state_size": "1M"}#{"name": "nic0", "backend": "vfio", "path": "'"$T"'/no-such-vfio"}#' \
    "$T/g.json" >"$T/no-device.json"
grep -q no-such-vfio "$T/no-device.json" || fail "sed: no vfio device"
bad no_device 1 "^vfiomigd: error: .*nic0.*$T/no-such-vfio" \
    --config "$T/no-device.json"

# metrics.listen: a bad address, none, the migration's own; one in use
# (only a start finds it).
# bad_metrics NAME ERE JSON: "metrics": JSON at the top of the good file.
bad_metrics() {
	sed "1s#^{#{\"metrics\": $3, #" "$T/g.json" >"$T/$1.json"
	bad "$1" 1 "^vfiomigd: error: $T/$1\.json: metrics(\.[a-z]+)?: $2" \
	    --config "$T/$1.json"
}
bad_metrics m_no_port 'bad address "127\.0\.0\.1": missing ":port"' \
    '{"listen": "127.0.0.1"}'
bad_metrics m_port0 'bad address "127\.0\.0\.1:0": the port must be a number from 1 to 65535' \
    '{"listen": "127.0.0.1:0"}'
bad_metrics m_v6 'bad address "::1:9477": an IPv6 address needs brackets' \
    '{"listen": "::1:9477"}'
bad_metrics m_type 'expected a string' '{"listen": 9477}'
bad_metrics m_empty 'missing "listen" \(leave "metrics" out for no metrics endpoint\)' \
    '{}'
bad_metrics m_key 'unknown key \(expected one of: listen\)' '{"listen": "127.0.0.1:9477", "path": "/m"}'
bad_metrics m_same "\"127\.0\.0\.1:$port\" is migration\.listen's address too" \
    "{\"listen\": \"127.0.0.1:$port\"}"
mport=$(pick_port)
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("ok", flush=True)
time.sleep(60)' "$mport" >"$T/mholder.out" &
mholder=$!
it_pids="$it_pids $mholder"
while [ ! -s "$T/mholder.out" ]; do sleep 0.05; done
start_only="$start_only m_in_use"
bad_metrics m_in_use "cannot listen on 127\.0\.0\.1:$mport: Address already in use" \
    "{\"listen\": \"127.0.0.1:$mport\"}"
kill "$mholder"
# A good one: --check-config names it.
sed "1s#^{#{\"metrics\": {\"listen\": \"127.0.0.1:$mport\"}, #" "$T/g.json" \
    >"$T/m_ok.json"
check_ok m_ok "$T/m_ok.json"
grep -q "; metrics 127\.0\.0\.1:$mport\$" "$T/chk_m_ok.out" ||
    fail "--check-config does not name the metrics address: $(cat "$T/chk_m_ok.out")"

# The ledger's directory: one another daemon holds (its lock), one that
# cannot be made.
conf "$T/holder.json" - insecure 1 2 '"state_size": "1M"'
sed -i "1s#^{#{\"control_socket\": \"$T/holder/ctl.sock\", \"state_dir\": \"$T/held.state\", #" \
    "$T/holder.json"
start_daemon holder --config "$T/holder.json"
wait_log holder 'control socket '
sed "1s#^{#{\"state_dir\": \"$T/held.state\", #" "$T/g.json" >"$T/held.json"
bad state_dir_held 1 \
    "^vfiomigd: error: $T/held\.json: state_dir $T/held\.state is used by another vfiomigd \(pid $holder_pid\)" \
    --config "$T/held.json"
stop_daemon holder
: >"$T/afile"
sed "1s#^{#{\"state_dir\": \"$T/afile/x\", #" "$T/g.json" >"$T/nodir.json"
bad state_dir_file 1 \
    "^vfiomigd: error: $T/nodir\.json: state_dir: mkdir $T/afile/x: Not a directory" \
    --config "$T/nodir.json"
# Strings: valid UTF-8 without NUL, in the configuration and on the
# command line.
sed "s#\"token\": \"$TOKEN\"#\"token\": \"$TOKEN\\\\u0000tail\"#" "$T/g.json" \
    >"$T/nul-token.json"
grep -q 'u0000tail' "$T/nul-token.json" || fail "sed: no NUL token"
bad nul_token 1 \
    "^vfiomigd: error: $T/nul-token\.json: sets\[0\]\.token: contains a NUL" \
    --config "$T/nul-token.json"
bad token_utf8 "1 2" '^vfiomigd: error: the token is not valid UTF-8' \
    --config "$T/g.json" --migrate vm1 --to "127.0.0.1:$port" \
    --token "$(printf '0123456789abcdef\300\200')"

# Command-line errors.
bad migrate_no_to "1 2" '^vfiomigd: error: .*--migrate vm1 needs --to' \
    --config "$T/g.json" --migrate vm1 --token "$TOKEN"
bad to_no_migrate "1 2" '^vfiomigd: error: .*--to.* go with --migrate' \
    --config "$T/g.json" --to "127.0.0.1:$port"
bad no_config "1 2" '^vfiomigd: error: --config FILE is required' \
    --migrate vm1 --to "127.0.0.1:$port" --token "$TOKEN"
bad unknown_set "1 2" "^vfiomigd: error: --migrate: .*no set named \"vm9\"" \
    --config "$T/g.json" --migrate vm9 --to "127.0.0.1:$port" --token "$TOKEN"
bad short_token "1 2" '^vfiomigd: error: the token is 5 bytes long' \
    --config "$T/g.json" --migrate vm1 --to "127.0.0.1:$port" --token short
bad bad_retries "1 2" '^vfiomigd: error: --retries: "x" ' \
    --config "$T/g.json" --migrate vm1 --to "127.0.0.1:$port" \
    --token "$TOKEN" --retries x
bad bad_to "1 2" '^vfiomigd: error: --to: .*nowhere' \
    --config "$T/g.json" --migrate vm1 --to nowhere --token "$TOKEN"
bad bad_option "1 2" "unrecognized option '--bogus'|^usage: " \
    --config "$T/g.json" --bogus
has bad_option '^usage: vfiomigd'

# --check-config on a good file: ok, and nothing made.  The negative
# control: a start of the same file makes its socket and state_dir.
sed "1s#^{#{\"control_socket\": \"$T/chk/ctl.sock\", \"state_dir\": \"$T/chk.state\", #" \
    "$T/g.json" >"$T/chk.json"
check_ok good "$T/chk.json"
[ ! -e "$T/chk" ] && [ ! -e "$T/chk.state" ] ||
    fail "--check-config made $(ls -d "$T/chk" "$T/chk.state" 2>/dev/null)"
! port_listening "$port" || fail "--check-config: port $port listens"
start_daemon chk_start --config "$T/chk.json"
wait_log chk_start "control socket $T/chk/ctl.sock"
[ -S "$T/chk/ctl.sock" ] && [ -d "$T/chk.state" ] ||
    fail "the start made no $T/chk/ctl.sock or $T/chk.state"
# A daemon runs: --check-config beside it (the reload's case) passes.
check_ok beside "$T/chk.json"
stop_daemon chk_start
# Arguments: --check-config with --config; a group that does not exist.
bad check_and_config "1 2" '^vfiomigd: error: --check-config FILE takes the place of --config FILE' \
    --check-config "$T/g.json" --config "$T/g.json"
sed "1s#^{#{\"control_socket\": \"$T/ng/ctl.sock\", \"control_group\": \"no-such-group-vfiomig\", #" \
    "$T/g.json" >"$T/no-group.json"
bad no_group 1 \
    "^vfiomigd: error: $T/no-group\.json: control_socket: control group \"no-such-group-vfiomig\": no such group" \
    --config "$T/no-group.json"

# The good configuration does start (the checks above could see it listen).
start_listener ok "$T/g.json" "$port"
stop_daemon ok
! port_listening "$port" || fail "port $port still listens after exit"
note "pass"
