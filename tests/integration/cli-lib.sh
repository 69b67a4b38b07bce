# cli-lib.sh: what the vfiomigctl tests (tests/integration/cli-*.sh) share,
# on top of lib.sh: the client, daemons with a control socket in the
# test's temp dir, running vfiomigctl with its exit code and output kept,
# and reading its JSON (python3, else jq).
#
# Environment (besides lib.sh's):
#   VFIOMIGCTL      the client (default: ./cli/vfiomigctl, make check's cwd)
#
# Not here: the assertions of each test.

. "$(dirname "$0")/lib.sh"

VFIOMIGCTL=${VFIOMIGCTL:-$PWD/cli/vfiomigctl}
[ -x "$VFIOMIGCTL" ] || fail "no client at $VFIOMIGCTL (set VFIOMIGCTL)"
# The daemon's default socket must never be the one a test talks to.
unset VFIOMIG_SOCKET VFIOMIG_TOKEN

# JSON: python3 if it runs, else jq, else skip.  The system's python3
# first: a pyenv shim in PATH takes about 2 s to start on a loaded host,
# and the tests read JSON hundreds of times.
json_py=
for jp in /usr/bin/python3 python3; do
	if "$jp" -c 'import json' >/dev/null 2>&1; then
		json_py=$jp
		break
	fi
done
if [ -n "$json_py" ]; then
	json_tool=python3
elif command -v jq >/dev/null 2>&1; then
	json_tool=jq
else
	json_tool=
fi
need_json() { [ -n "$json_tool" ] || skip "neither python3 nor jq"; }

# json_ok FILE: FILE holds one JSON value (or, with "lines", one per line).
json_ok() {
	if [ "$json_tool" = python3 ]; then
		"$json_py" -c '
import json, sys
t = open(sys.argv[1]).read()
if len(sys.argv) > 2:
    for l in t.splitlines():
        json.loads(l)
else:
    json.loads(t)' "$@" 2>/dev/null
	elif [ "${2:-}" = lines ]; then
		while IFS= read -r jl; do
			printf '%s\n' "$jl" | jq -e . >/dev/null 2>&1 || return 1
		done <"$1"
	else
		jq -e . "$1" >/dev/null 2>&1
	fi
}

# jget FILE PATH: the value at PATH ("devices.0.name") in FILE's JSON,
# printed as JSON (strings without quotes); "MISSING" if not there.
jget() {
	if [ "$json_tool" = python3 ]; then
		"$json_py" -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    try:
        v = v[int(k)] if isinstance(v, list) else v[k]
    except (KeyError, IndexError, ValueError, TypeError):
        print("MISSING"); sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
	else
		jg_p=$(echo ".$2" | sed 's/\.\([0-9][0-9]*\)/[\1]/g')
		jq -r "if ($jg_p) == null then \"MISSING\" else $jg_p end" "$1" \
		    2>/dev/null || echo MISSING
	fi
}

# jhas FILE KEY...: every KEY (a path) is in FILE's JSON.
jhas() {
	jh_f=$1
	shift
	for jh_k in "$@"; do
		[ "$(jget "$jh_f" "$jh_k")" != MISSING ] ||
		    fail "$(basename "$jh_f"): no \"$jh_k\": $(cat "$jh_f")"
	done
}

# ctl_conf FILE SOCKET LISTEN CONNS NDEV DEVKEYS [TOKEN]: lib.sh's conf
# (insecure) with the control socket SOCKET.
ctl_conf() {
	cc_f=$1 cc_s=$2
	shift 2
	conf "$cc_f" "$1" insecure "$2" "$3" "$4" ${5+"$5"}
	sed "s|^{\"log_level\"|{\"control_socket\": \"$cc_s\", \"state_dir\": \"$cc_s.state\", \"log_level\"|" \
	    "$cc_f" >"$cc_f.tmp" && mv "$cc_f.tmp" "$cc_f"
}

# ctl NAME ARGS...: vfiomigctl ARGS; stdout in $T/NAME.ctlout, stderr in
# $T/NAME.ctlerr, the exit code in $ctl_rc.  Never fails by itself.
ctl() {
	ctl_n=$1
	shift
	"$VFIOMIGCTL" "$@" >"$T/$ctl_n.ctlout" 2>"$T/$ctl_n.ctlerr" </dev/null
	ctl_rc=$?
	return 0
}

# ctl_rc_is NAME WANT: the last ctl's exit code was WANT, with no
# sanitizer complaint.
ctl_rc_is() {
	clean_err "$T/$1.ctlerr"
	[ "$ctl_rc" -eq "$2" ] || fail "vfiomigctl ($1) exited $ctl_rc, not \
$2; stdout: $(head -c 2000 "$T/$1.ctlout"); stderr: $(head -c 2000 \
"$T/$1.ctlerr")"
}

# clean_err FILE: no sanitizer complaint in a client's stderr FILE.
clean_err() {
	ce_bad=$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$1")
	[ -z "$ce_bad" ] || fail "vfiomigctl ($(basename "$1")): sanitizer: \
$ce_bad"
}

# ctl_out NAME / ctl_err NAME: the last output of NAME.
ctl_out() { cat "$T/$1.ctlout"; }
ctl_err() { cat "$T/$1.ctlerr"; }

# out_has NAME ERE / err_has NAME ERE: a line of stdout / stderr matches.
out_has() {
	grep -Eq -- "$2" "$T/$1.ctlout" ||
	    fail "vfiomigctl ($1): no /$2/ in its output: $(ctl_out "$1")"
}
err_has() {
	grep -Eq -- "$2" "$T/$1.ctlerr" ||
	    fail "vfiomigctl ($1): no /$2/ on stderr: $(ctl_err "$1")"
}

# wait_ctl NAME SOCKET: until `vfiomigctl -s SOCKET status` answers
# (30 s), while daemon NAME lives.
wait_ctl() {
	wc_t=$(( 30 * SLOW * 20 ))
	while :; do
		"$VFIOMIGCTL" -s "$2" status >/dev/null 2>&1 && return 0
		alive "$(pid_of "$1")" || fail "$1 exited: $(tail -n 3 \
"$(log_of "$1")")"
		[ $wc_t -gt 0 ] || fail "$1: no answer on $2 within \
$(( 30 * SLOW )) s"
		sleep 0.05
		wc_t=$((wc_t - 1))
	done
}

# wait_info NAME SOCKET SET KEY VALUE: until `vfiomigctl -s SOCKET -o json
# info SET` has VALUE at KEY (30 s), the last answer in $T/NAME.ctlout;
# fails at once if the migration failed or was cancelled.
wait_info() {
	wi_t=$(( 30 * SLOW * 10 ))
	while :; do
		ctl "$1" -s "$2" -o json info "$3"
		[ "$(jget "$T/$1.ctlout" "$4")" = "$5" ] && return 0
		case $(jget "$T/$1.ctlout" status) in
		MIGRATION_STATUS_FAILED|MIGRATION_STATUS_CANCELLED) fail "$3: $(ctl_out "$1")" ;;
		esac
		[ $wi_t -gt 0 ] || fail "$3: no $4 $5 within $(( 30 * SLOW )) \
s: $(ctl_out "$1")"
		sleep 0.1
		wi_t=$((wi_t - 1))
	done
}

# start_ctl_daemon NAME SOCKET CONF: a daemon whose control socket is
# SOCKET, ready when this returns.
start_ctl_daemon() {
	start_daemon "$1" --config "$3"
	wait_ctl "$1" "$2"
}

# ---- protobuf's own JSON parser ----

# need_pb: protoc and a python3 with protobuf's runtime (Debian's
# protobuf-compiler and python3-protobuf, which scripts/deps.sh installs:
# missing, the test fails rather than skips), and vfiomig_ctl_pb2 made from
# proto/vfiomig-ctl.proto into $T/pb.  Debian's python3 first: the
# package's module is in its dist-packages, not in a pyenv's.
need_pb() {
	pb_py=
	for np_p in /usr/bin/python3 python3; do
		if "$np_p" -c 'import google.protobuf.json_format' \
		    >/dev/null 2>&1; then
			pb_py=$np_p
			break
		fi
	done
	[ -n "$pb_py" ] || fail "no python3 with google.protobuf \
(python3-protobuf; run scripts/deps.sh)"
	command -v protoc >/dev/null 2>&1 ||
	    fail "no protoc (protobuf-compiler; run scripts/deps.sh)"
	mkdir -p "$T/pb"
	protoc -I"$srcdir/proto" --python_out="$T/pb" \
	    "$srcdir/proto/vfiomig-ctl.proto" >"$T/pb/protoc.out" 2>&1 ||
	    fail "protoc --python_out: $(cat "$T/pb/protoc.out")"
	[ -f "$T/pb/vfiomig_ctl_pb2.py" ] || fail "protoc made no vfiomig_ctl_pb2.py"
}

# pb_check FILE MESSAGE [PATH]: the JSON in FILE (at PATH, a dotted path
# as jget's; every line of FILE if PATH is "lines") is a MESSAGE
# (vfiomig.v1.MESSAGE) to protobuf's json_format.Parse, unknown fields
# refused; and printed back by protobuf's MessageToDict it is the same JSON
# (names, enum names, 64-bit integers as strings), but for the empty
# arrays that vfiomigctl prints and protobuf leaves out.
pb_check() {
	PYTHONPATH="$T/pb" "$pb_py" - "$@" <<'PY' || fail "protobuf: $1 as $2: \
$(cat "$1")"
import json, sys
from google.protobuf import json_format
import vfiomig_ctl_pb2 as pb

def drop_empty(v):
    if isinstance(v, dict):
        return {k: drop_empty(x) for k, x in v.items() if x != []}
    if isinstance(v, list):
        return [drop_empty(x) for x in v]
    return v

def check(text, path):
    v = json.loads(text)
    for k in path.split(".") if path else []:
        v = v[int(k)] if isinstance(v, list) else v[k]
    m = json_format.Parse(json.dumps(v), getattr(pb, sys.argv[2])(),
                          ignore_unknown_fields=False)
    back = json_format.MessageToDict(m)
    if back != drop_empty(v):
        sys.exit("printed back by protobuf: %s\nvfiomigctl's: %s" %
                 (json.dumps(back, sort_keys=True),
                  json.dumps(v, sort_keys=True)))

t = open(sys.argv[1]).read()
path = sys.argv[3] if len(sys.argv) > 3 else ""
if path == "lines":
    for l in t.splitlines():
        check(l, "")
else:
    check(t, path)
PY
}
