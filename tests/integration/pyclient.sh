#!/bin/sh
# pyclient.sh: the Python client (clients/python/vfiomig) against two real
# daemons, A and B, each with a migration listener (plaintext), driven
# from Python alone (pyclient.py): hello (EPROTONOSUPPORT for version 2
# only); refusals with their errno (ENOENT for an unknown set, EINVAL for
# a short token, EBUSY, EEXIST; EMSGSIZE for a request above max_packet);
# a ListReply above 64 KiB read whole (a 64 KiB recvmsg truncates it); sets
# made at run time, a device fd handed over by SCM_RIGHTS (ENOTTY: a file
# is no VFIO device, the daemon names it; EBADF without the fd); a wrong
# token refused (EACCES, both sides untouched); A -> B with options,
# followed by its events and the done eventfd, digests equal; B -> A;
# history; B's set released and removed; the eventfds.
# The package is run from the source tree with the protobuf module the
# build generated (make check's cwd); Debian's python3, which has
# python3-protobuf (a pyenv python3 first in PATH does not).
. "$(dirname "$0")/cli-lib.sh"

PY=${VFIOMIG_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || fail "no $PY (set VFIOMIG_PYTHON)"
"$PY" -c 'import google.protobuf' 2>/dev/null ||
    fail "$PY has no google.protobuf (python3-protobuf; run scripts/deps.sh)"
[ -f "$PWD/clients/python/vfiomig/vfiomig_ctl_pb2.py" ] ||
    fail "no clients/python/vfiomig/vfiomig_ctl_pb2.py in $PWD (make)"

AS=$T/a.sock
BS=$T/b.sock
dev='"state_size": "64K", "dirty_rate": 0, "p2p_rate": 0'
ctl_conf "$T/a.tmpl" "$AS" @LISTEN@ 1 1 "$dev" ""
ctl_conf "$T/b.tmpl" "$BS" @LISTEN@ 1 1 "$dev" ""
start_listener a "$T/a.tmpl"
wait_ctl a "$AS"
start_listener b "$T/b.tmpl"
wait_ctl b "$BS"

PYTHONPATH="$srcdir/clients/python:$PWD/clients/python" PYTHONDONTWRITEBYTECODE=1 \
    SLOW=$SLOW \
    "$PY" "$srcdir/tests/integration/pyclient.py" "$AS" "$BS" \
    "127.0.0.1:$a_port" "127.0.0.1:$b_port" "$TOKEN" "$T" ||
    fail "pyclient.py failed"

# Both daemons stop cleanly (no sanitizer complaint).
stop_daemon a
stop_daemon b
note "ok"
