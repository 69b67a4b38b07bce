#!/bin/sh
# refusals.sh: what must not migrate into a destination.  Against a TLS
# destination: a wrong token, a client certificate of another CA, a
# plaintext source, 1 MiB of random bytes; against a plaintext
# (migration.insecure) destination: random bytes and a wrong token.  Each
# is refused or dropped with a log line, the source (if a daemon) fails
# with exit 4 and its set back in RUNNING, no destination device enters
# RESUMING or gets reset, and the destination serves on: a correct
# migration afterwards succeeds, and every device is RUNNING at exit.
. "$(dirname "$0")/lib.sh"

command -v bash >/dev/null 2>&1 || skip "bash (for /dev/tcp) not found"
gen_certs
dev='"state_size": "4M", "seed": 40@I@'
sdev='"state_size": "4M"'
conf "$T/dst.tmpl" @LISTEN@ "$T/pki" 1 4 "$dev"
conf "$T/idst.tmpl" @LISTEN@ insecure 1 4 "$dev"
conf "$T/good.json" - "$T/pki" 1 4 "$sdev"
conf "$T/rogue.json" - "$T/rogue" 1 4 "$sdev"
conf "$T/plain.json" - insecure 1 4 "$sdev"
start_listener dst "$T/dst.tmpl"
start_listener idst "$T/idst.tmpl"
bad='incoming from [^ ]+: (refused|dropped): '

# expect_refusal DST N WHAT: DST logs its Nth refusal; nothing moved.
expect_refusal() {
	wait_log "$1" "$bad" 20
	er_t=$(( 20 * SLOW * 50 ))
	while [ "$(count "$1" "$bad")" -lt "$2" ] && [ $er_t -gt 0 ]; do
		sleep 0.02
		er_t=$((er_t - 1))
	done
	[ "$(count "$1" "$bad")" -eq "$2" ] ||
	    fail "$3: $1 logged $(count "$1" "$bad") refusals, not $2"
	note "$3: $(grep -E "$bad" "$(log_of "$1")" | tail -n 1 |
	    sed 's/^vfiomigd: [a-z]*: //')"
	hasnt "$1" 'RESUMING|devices reset|accepted'
}

# A source daemon that must fail (exit 4) and roll back.
src_refused() {
	reap_clean "$1" 60 4
	has "$1" 'migrate vm1: report: result failed: '
	has "$1" 'migrate vm1: rolled back: every device RUNNING'
	has "$1" 'info: set vm1: status idle$'
}

migrate token "$T/good.json" "$dst_port" --token wrong-token-0123456789
src_refused token
has token 'result failed: .*wrong token'
expect_refusal dst 1 "wrong token"
has dst "$bad"'set vm1: wrong token'

migrate rogue "$T/rogue.json" "$dst_port"
src_refused rogue
expect_refusal dst 2 "client certificate of another CA"

migrate plain "$T/plain.json" "$dst_port"
src_refused plain
expect_refusal dst 3 "plaintext against TLS"

head -c 1048576 /dev/urandom >"$T/random"
bash -c "cat '$T/random' >/dev/tcp/127.0.0.1/$dst_port" 2>/dev/null
expect_refusal dst 4 "1 MiB of random bytes (TLS)"
bash -c "cat '$T/random' >/dev/tcp/127.0.0.1/$idst_port" 2>/dev/null
expect_refusal idst 1 "1 MiB of random bytes (plaintext)"
migrate itoken "$T/plain.json" "$idst_port" --token wrong-token-0123456789
src_refused itoken
expect_refusal idst 2 "wrong token (plaintext)"

# Both serve on.
t0=$(now_ms)
migrate good "$T/good.json" "$dst_port"
reap_clean good 60 0
note "a correct migration: the source exited 0 after $(( $(now_ms) - t0 )) ms"
check_migrated good dst 4
migrate igood "$T/plain.json" "$idst_port"
reap_clean igood 60 0
check_migrated igood idst 4
for d in dst idst; do
	[ "$(count $d 'devices RESUMING')" -eq 1 ] ||
	    fail "$d: RESUMING $(count $d 'devices RESUMING') times"
	hasnt $d 'devices reset'
	stop_daemon $d
	check_final $d idle RUNNING 4
done
note "pass"
