#!/bin/sh
# biglist.sh: replies larger than 64 KiB, and List's pages
# (docs/protocol.md, "Largest reply").  A daemon with 40 sets of 32 sim
# devices with long names, whose ListReply is several times 64 KiB:
#   whole     `vfiomigctl -o json set list` reads it whole: the JSON
#             parses and holds every set and device; so does the text
#   raw       a client of its own (protobuf's python runtime, the schema
#             compiled by protoc): recv(MSG_PEEK|MSG_TRUNC) gives the
#             packet's size, above 64 KiB; a 64 KiB recvmsg of it is cut
#             (MSG_TRUNC: the negative control, why the size is
#             documented); pages of 7 sets (page_size) hold each set
#             exactly once, in name order, next_page_token on all but the
#             last; a set made between two pages comes once too;
#             page_size 257 and a page_token without page_size: EINVAL
#   paged     `set list --page-size 3` gathers the pages into the same list
. "$(dirname "$0")/cli-lib.sh"
need_json
need_pb

NSETS=40
NDEV=32
S=$T/big.sock
# Long names (64 bytes for a device, the most), 4 KiB states, idle devices.
/usr/bin/python3 - "$T/big.json" "$S" "$NSETS" "$NDEV" <<'PY'
import json, sys
path, sock, nsets, ndev = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sets = []
for s in range(nsets):
    devs = [{"name": ("s%02dd%02d-" % (s, d)).ljust(64, "x"), "backend": "sim",
             "state_size": "4K", "dirty_rate": 0, "p2p_rate": 0}
            for d in range(ndev)]
    sets.append({"name": "set%02d-%s" % (s, "y" * 40), "devices": devs})
json.dump({"control_socket": sock, "state_dir": sock + ".state",
           "log_level": "info", "sets": sets}, open(path, "w"))
PY
start_ctl_daemon big "$S" "$T/big.json"

ctl ver -s "$S" -o json version
ctl_rc_is ver 0
grep -q '"list-pages"' "$T/ver.ctlout" || fail "no feature list-pages: $(ctl_out ver)"

# ---- whole ----
ctl lj -s "$S" -o json set list
ctl_rc_is lj 0
sz=$(wc -c <"$T/lj.ctlout")
[ "$sz" -gt 65536 ] || fail "set list -o json: only $sz bytes"
/usr/bin/python3 - "$T/lj.ctlout" "$NSETS" "$NDEV" <<'PY' || fail "set list -o json: $(head -c 500 "$T/lj.ctlout")"
import json, sys
l = json.load(open(sys.argv[1]))
nsets, ndev = int(sys.argv[2]), int(sys.argv[3])
names = [s["name"] for s in l["sets"]]
want = ["set%02d-%s" % (s, "y" * 40) for s in range(nsets)]
if sorted(names) != want:
    sys.exit("sets: %s" % names)
for s in l["sets"]:
    i = int(s["name"][3:5])
    devs = [d["name"] for d in s["devices"]]
    wd = [("s%02dd%02d-" % (i, d)).ljust(64, "x") for d in range(ndev)]
    if devs != wd:
        sys.exit("%s: devices %s" % (s["name"], devs))
    if any(d["stateName"] != "RUNNING" for d in s["devices"]):
        sys.exit("%s: a device not RUNNING" % s["name"])
PY
ctl lt -s "$S" set list
ctl_rc_is lt 0
[ "$(grep -c '^set[0-9][0-9]-y' "$T/lt.ctlout")" -eq $NSETS ] ||
    fail "set list (text): $(head -n 5 "$T/lt.ctlout")"
ctl dt -s "$S" device list
ctl_rc_is dt 0
[ "$(grep -Ec '^set[0-9][0-9]-y+ +s[0-9]{2}d[0-9]{2}-x+ ' "$T/dt.ctlout")" -eq $((NSETS * NDEV)) ] ||
    fail "device list: $(grep -c . "$T/dt.ctlout") lines: $(head -n 3 "$T/dt.ctlout")"
note "whole: set list -o json: $sz bytes of JSON, $NSETS sets x $NDEV devices; text too"

# ---- raw ----
PYTHONPATH="$T/pb" /usr/bin/python3 - "$S" "$NSETS" "$VFIOMIGCTL" <<'PY' >"$T/raw.out" 2>&1 || fail "raw client: $(cat "$T/raw.out")"
import socket, subprocess, sys
import vfiomig_ctl_pb2 as pb

sock, nsets, ctlbin = sys.argv[1], int(sys.argv[2]), sys.argv[3]
MAX_REPLY = 4 * 1024 * 1024
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock)
rid = 0

def send(**body):
    global rid
    rid += 1
    rq = pb.Request(id=rid, **body)
    s.send(rq.SerializeToString())

def recv():
    # recv's return with MSG_TRUNC: the packet's length, not the copied.
    n = s.recv_into(bytearray(1), 1, socket.MSG_PEEK | socket.MSG_TRUNC)
    data = s.recv(MAX_REPLY)
    assert len(data) == n, (len(data), n)
    r = pb.Response()
    r.ParseFromString(data)
    assert r.id == rid, (r.id, rid)
    return r, n

# The whole list: one packet above 64 KiB; recv(MSG_PEEK|MSG_TRUNC) says so.
send(list=pb.ListRequest())
r, n = recv()
assert r.error == 0, r.message
assert n > 65536, n
assert len(r.list.sets) == nsets and not r.list.HasField("next_page_token")
print("whole: one packet of %d bytes, %d sets" % (n, len(r.list.sets)))
# The negative control: a 64 KiB buffer cuts it (and the rest is lost).
send(list=pb.ListRequest())
data, anc, flags, addr = s.recvmsg(65536)
assert flags & socket.MSG_TRUNC and len(data) == 65536, (flags, len(data))
try:
    pb.Response().ParseFromString(data)
    sys.exit("a truncated reply parsed")
except Exception:
    pass
print("a 64 KiB recvmsg: MSG_TRUNC, %d bytes, does not parse" % len(data))

# Pages of 7: each set once, in order.
def pages(size, between=None):
    seen, token, npages = [], None, 0
    while True:
        lq = pb.ListRequest(page_size=size)
        if token is not None:
            lq.page_token = token
        send(list=lq)
        r, n = recv()
        assert r.error == 0, r.message
        npages += 1
        assert 1 <= len(r.list.sets) <= size, len(r.list.sets)
        seen += [x.name for x in r.list.sets]
        if not r.list.HasField("next_page_token"):
            return seen, npages
        token = r.list.next_page_token
        if between is not None and npages == 2:
            between()

seen, np = pages(7)
assert seen == sorted(seen) and len(seen) == len(set(seen)) == nsets, seen
assert np == (nsets + 6) // 7, np
print("pages of 7: %d pages, %d sets, each once, in order" % (np, len(seen)))

# A set made between pages (its name sorts first, and last) comes once,
# if after the token.
def make():
    for name in ("aaa-new", "zzz-new"):
        subprocess.run([ctlbin, "-s", sock, "set", "create", name],
                       check=True, stdout=subprocess.DEVNULL)
seen, np = pages(7, make)
assert "aaa-new" not in seen and seen.count("zzz-new") == 1, seen
assert len(seen) == len(set(seen)) == nsets + 1, seen
print("a set made between pages: the one after the token listed once")
for name in ("aaa-new", "zzz-new"):
    subprocess.run([ctlbin, "-s", sock, "set", "remove", name], check=True,
                   stdout=subprocess.DEVNULL)

# Bad pages.
send(list=pb.ListRequest(page_size=257))
r, n = recv()
assert r.error == 22 and "page_size: 1..256" in r.message, r
send(list=pb.ListRequest(page_token="set05"))
r, n = recv()
assert r.error == 22 and "page_token without page_size" in r.message, r
print("page_size 257, page_token alone: EINVAL (%s)" % r.message)
PY
sed "s/^/raw: /" "$T/raw.out"

# ---- paged, by vfiomigctl ----
ctl lp -s "$S" -o json set list --page-size 3
ctl_rc_is lp 0
/usr/bin/python3 - "$T/lj.ctlout" "$T/lp.ctlout" <<'PY' || fail "set list --page-size 3: another list"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
key = lambda l: sorted((s["name"], [d["name"] for d in s["devices"]]) for s in l["sets"])
sys.exit(0 if key(a) == key(b) and len(b["sets"]) == len({s["name"] for s in b["sets"]}) else 1)
PY
ctl lp0 -s "$S" set list --page-size 0
ctl_rc_is lp0 2
err_has lp0 'page-size: 1\.\.256 sets, not "0"'
note "paged: set list --page-size 3 = the whole list; --page-size 0: exit 2"

stop_daemon big
note pass
