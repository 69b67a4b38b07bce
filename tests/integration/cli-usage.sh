#!/bin/sh
# cli-usage.sh: vfiomigctl's exit codes without a daemon: 2 and a short
# usage for every kind of usage error (stdout empty), 0 for --help, 3 when
# the daemon cannot be reached (no socket, connection refused, permission
# denied), the socket taken from -s, else VFIOMIG_SOCKET.
. "$(dirname "$0")/cli-lib.sh"

nosock=$T/none.sock
while IFS= read -r args; do
	# shellcheck disable=SC2086 # the arguments are split on purpose
	ctl usage -s "$nosock" $args
	ctl_rc_is usage 2
	err_has usage '^usage: vfiomigctl '
	[ -s "$T/usage.ctlout" ] && fail "usage error ($args) printed on stdout"
	note "2: vfiomigctl $args: $(head -n 1 "$T/usage.ctlerr")"
done <<'LIST'

frob
-o xml status
-x status
set
set frob
info
info vm1 extra
migrate vm1
migrate vm1 --token 0123456789abcdef-vm1-token
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bogus
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --connections 0
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth fast
migrate vm1 --to 127.0.0.1:1 --max-iterations
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --on-timeout retry
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --downtime-ms 0
tune vm1
tune vm1 --downtime-ms 60001
tune vm1 --on-timeout default
tune --downtime-ms 100
wait vm1 --stalled --done extra
incoming vm1
device add vm1 d0
device add vm1 d0 --sim --path /dev/vfio/devices/vfio0
device add vm1 d0 --group /dev/vfio/1
device add vm1 d0 --state-size 12Q
device add vm1 d0 --state-size nan
device add vm1 d0 --state-size 1.5
device add vm1 d0 --state-size 64MB
device add vm1 d0 --state-size 18446744073709551616
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth nan
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth inf
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth -1
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth 1e5
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth 0x10000
migrate vm1 --to 127.0.0.1:1 --token 0123456789abcdef-vm1-token --bandwidth 1.1K
tune vm1 --bandwidth nan
tune vm1 --bandwidth 16777216T
device add vm1 d0 --flags stop-copy,bogus
device add vm1 d0 --fd 987
device remove vm1
set create
LIST

# The message names what is wrong.
ctl usage -s "$nosock" migrate vm1 --token 0123456789abcdef-vm1-token
err_has usage 'migrate: --to HOST:PORT is required'
# Sizes: size_parse()'s message (vfiomigd.conf(5), "Sizes").
ctl usage -s "$nosock" device add vm1 d0 --state-size 12Q
err_has usage 'device add: --state-size: "12Q" is not a size \(bytes, or a number with a K, M, G or T suffix'
ctl usage -s "$nosock" tune vm1 --bandwidth nan
err_has usage 'tune: --bandwidth: "nan" is not a size'
ctl usage -s "$nosock" migrate vm1 --to 127.0.0.1:1 --bandwidth 1.1K
err_has usage 'migrate: --bandwidth: "1.1K" is not a whole number of bytes'
ctl usage -s "$nosock" tune vm1 --bandwidth 18446744073709551616
err_has usage 'tune: --bandwidth: "18446744073709551616" is larger than 18446744073709551615 bytes'
ctl usage -s "$nosock" tune vm1 --bandwidth ''
ctl_rc_is usage 2
err_has usage 'tune: --bandwidth: "" is not a size'
# Negative control: sizes in the syntax pass the parser and get as far as
# the (missing) daemon: 3.
for size in 0 4096 64K 64k 256MiB 1.5G 2T 18446744073709551615; do
	ctl sizeok -s "$nosock" tune vm1 --bandwidth "$size"
	ctl_rc_is sizeok 3
	ctl sizeok -s "$nosock" device add vm1 d0 --state-size "$size"
	ctl_rc_is sizeok 3
done
ctl usage -s "$nosock" tune vm1
err_has usage 'tune: nothing to change: give --downtime-ms'
ctl usage -s "$nosock" tune vm1 --on-timeout later
err_has usage 'tune: --on-timeout: "later" is not abort, switchover or wait'

# --help: usage on stdout, 0.
for args in "--help" "migrate --help" "tune --help" "device add --help" "help" \
    "help set"; do
	# shellcheck disable=SC2086
	ctl help -s "$nosock" $args
	ctl_rc_is help 0
	out_has help '^usage: vfiomigctl '
done
out_has help 'set create SET'

# 3: no socket.
ctl none -s "$nosock" status
ctl_rc_is none 3
err_has none "cannot reach vfiomigd: $nosock: No such file or directory"
# 3: a file nobody listens on.
: >"$T/dead.sock"
ctl dead -s "$T/dead.sock" set list
ctl_rc_is dead 3
err_has dead 'Connection refused'
# 3: permission denied (a directory the caller cannot search).
mkdir "$T/closed"
: >"$T/closed/x.sock"
chmod 000 "$T/closed"
if [ "$(id -u)" -ne 0 ]; then
	ctl perm -s "$T/closed/x.sock" status
elif command -v setpriv >/dev/null 2>&1; then
	chmod 755 "$T"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$VFIOMIGCTL" \
	    -s "$T/closed/x.sock" status >"$T/perm.ctlout" 2>"$T/perm.ctlerr"
	ctl_rc=$?
else
	ctl_rc=
	note "permission denied: not tested (root without setpriv)"
fi
chmod 700 "$T/closed"
if [ -n "$ctl_rc" ]; then
	ctl_rc_is perm 3
	err_has perm 'Permission denied'
fi
# The socket from VFIOMIG_SOCKET, and -s over it.
VFIOMIG_SOCKET=$T/env.sock
export VFIOMIG_SOCKET
ctl env info vm1
ctl_rc_is env 3
err_has env "$T/env.sock"
ctl env -s "$T/opt.sock" info vm1
ctl_rc_is env 3
err_has env "$T/opt.sock"
unset VFIOMIG_SOCKET
# version: the client's version even without a daemon, then 3.
ctl version -s "$nosock" version
ctl_rc_is version 3
out_has version '^vfiomigctl [0-9]'
note "pass"
