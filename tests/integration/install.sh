#!/bin/sh
# install.sh: `make install DESTDIR=$T/root` of this build holds a service
# that starts (docs/systemd.md, "Installation"):
#   files     the daemon and the CLI, the three units, the sysusers.d and
#             tmpfiles.d files, the man pages, the bash completion, the
#             example configuration, docs/tls.md, protocol.md and
#             integration.md, and the default configuration where the
#             unit's ExecStart= and ExecReload= (--check-config) look for it
#   schema    the two .proto files in $(pkgdatadir)/proto, vfiomigd.pc
#             whose protodir names them (moved into the DESTDIR tree with
#             --define-variable=prefix), and they compile from there
#   python    the Python client's package (its sources and generated
#             protobuf module)
#   agree     the unit's paths are the installed binary and configuration;
#             tmpfiles.d makes the configuration's directory; sysusers.d
#             makes the group the default configuration names
#   default   the installed vfiomigd --check-config passes the default
#             configuration (without the group on this host: refused for
#             exactly that, then passed with a group that exists), and the
#             daemon starts with it: its control socket answers (to
#             vfiomigctl and to the installed Python client), no set
#   example   the example configuration passes --check-config with a test
#             PKI for its tls_dir (its devices are not opened)
#   again     an edited configuration survives a second `make install`
#             (which says it kept it) and `make uninstall`; the unedited
#             default is removed by `make uninstall`
# Runs in the build directory (make check's cwd): it calls make there.
. "$(dirname "$0")/lib.sh"

MAKE=${MAKE:-make}
root=$T/root
[ -f Makefile ] || fail "no Makefile in $PWD (run from the build directory)"

# inst LOG: make install DESTDIR=$root, its output in $T/LOG.
inst() {
	$MAKE -s install DESTDIR="$root" >"$T/$1" 2>&1 ||
	    fail "make install DESTDIR=$root: $(tail -n 20 "$T/$1")"
}

inst install1.log
note "make install DESTDIR=$root: $(find "$root" -type f | wc -l) files"

# one PATTERN: the one installed file whose path (below $root) matches
# the ERE PATTERN.
one() {
	o_f=$(cd "$root" && find . -type f | sed 's/^\.//' | grep -E -- "$1")
	[ -n "$o_f" ] || fail "no installed file matches /$1/: $(cd "$root" && find . -type f)"
	[ "$(echo "$o_f" | wc -l)" -eq 1 ] || fail "several match /$1/: $o_f"
	echo "$o_f"
}

# ---- files ----

sbin=$(one '/sbin/vfiomigd$')
bin=$(one '/bin/vfiomigctl$')
[ -x "$root$sbin" ] && [ -x "$root$bin" ] || fail "$sbin or $bin not executable"
unit=$(one '/systemd/system/vfiomigd\.service$')
unitdir=$(dirname "$unit")
for u in vfiomigd.socket vfiomigd-migration.socket; do
	[ -f "$root$unitdir/$u" ] || fail "no $unitdir/$u"
done
sysusers=$(one '/sysusers\.d/vfiomigd\.conf$')
tmpfiles=$(one '/tmpfiles\.d/vfiomigd\.conf$')
for m in '/man8/vfiomigd\.8$' '/man8/vfiomigctl\.8$' '/man5/vfiomigd\.conf\.5$'; do
	one "$m" >/dev/null
done
compl=$(one '/bash-completion/completions/vfiomigctl$')
example=$(one '/doc/vfiomigd/vfiomigd\.conf\.example$')
one '/doc/vfiomigd/tls\.md$' >/dev/null
for d in protocol integration; do
	f=$(one "/doc/vfiomigd/$d\\.md\$")
	cmp -s "$root$f" "$srcdir/docs/$d.md" || fail "$f is not docs/$d.md"
done
cfg=$(one '/vfiomigd/vfiomigd\.json$')
# The Python client: its sources and the protobuf module the build made.
pyclient=$(one '/vfiomig/client\.py$')
pydir=$(dirname "$(dirname "$pyclient")")
for f in __init__.py vfiomig_ctl_pb2.py; do
	[ -f "$root$pydir/vfiomig/$f" ] || fail "no $pydir/vfiomig/$f"
done
cmp -s "$root$cfg" "$srcdir/etc/vfiomigd.json" ||
    fail "$cfg is not etc/vfiomigd.json"
cmp -s "$root$example" "$srcdir/docs/vfiomigd.conf.example" ||
    fail "$example is not docs/vfiomigd.conf.example"
note "files: $sbin $bin $unitdir/vfiomigd{.service,.socket,-migration.socket} $sysusers $tmpfiles $compl $example $cfg, man pages, $pydir/vfiomig"

# ---- the schema, found through pkg-config ----

for p in ctl peer; do
	f=$(one "/vfiomigd/proto/vfiomig-$p\\.proto\$")
	cmp -s "$root$f" "$srcdir/proto/vfiomig-$p.proto" ||
	    fail "$f is not proto/vfiomig-$p.proto"
done
protodir=$(dirname "$f")
pc=$(one '/pkgconfig/vfiomigd\.pc$')
command -v pkg-config >/dev/null 2>&1 || fail "no pkg-config"
# pc VARIABLE [ARGS]: pkg-config's VARIABLE of the installed vfiomigd.pc.
pcv() {
	PKG_CONFIG_PATH=$root$(dirname "$pc") PKG_CONFIG_LIBDIR= \
	    pkg-config "$@" vfiomigd 2>"$T/pc.err" ||
	    fail "pkg-config $*: $(cat "$T/pc.err")"
}
pcv --exists
# As installed (the DESTDIR tree aside), and moved into it with prefix.
[ "$(pcv --variable=protodir)" = "$protodir" ] ||
    fail "protodir $(pcv --variable=protodir), not $protodir"
pfx=$(pcv --variable=prefix)
pd=$(pcv --define-variable=prefix="$root$pfx" --variable=protodir)
[ "$pd" = "$root$protodir" ] || fail "protodir in DESTDIR: $pd, not $root$protodir"
[ "$(pcv --modversion)" = "$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' config.h)" ] ||
    fail "vfiomigd.pc's version $(pcv --modversion)"
# What a client builds from it: both schemas compile, by protoc-c (which
# ignores go_package) and by protoc (python), from protodir alone.
mkdir -p "$T/gen"
for tool in protoc-c:--c_out protoc:--python_out; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || fail "no ${tool%%:*}"
	"${tool%%:*}" "${tool#*:}=$T/gen" -I"$pd" "$pd/vfiomig-ctl.proto" \
	    "$pd/vfiomig-peer.proto" >"$T/gen.out" 2>&1 ||
	    fail "${tool%%:*} on $pd: $(cat "$T/gen.out")"
done
[ -f "$T/gen/vfiomig-ctl.pb-c.c" ] && [ -f "$T/gen/vfiomig_ctl_pb2.py" ] ||
    fail "no code generated: $(ls "$T/gen")"
grep -q '^option go_package = "[^"]*;vfiomigv1";$' "$root$protodir/vfiomig-ctl.proto" ||
    fail "vfiomig-ctl.proto has no go_package"
note "schema: $protodir/vfiomig-{ctl,peer}.proto; $pc: protodir $(pcv --variable=protodir) ($pd in DESTDIR); protoc-c and protoc compile them"

# ---- the paths agree ----

exec_start=$(sed -n 's/^ExecStart=//p' "$root$unit")
[ "$exec_start" = "$sbin --config $cfg --foreground" ] ||
    fail "ExecStart=$exec_start: not \"$sbin --config $cfg --foreground\""
reload=$(sed -n 's/^ExecReload=//p' "$root$unit" | head -n 1)
[ "$reload" = "$sbin --check-config $cfg" ] ||
    fail "first ExecReload=$reload: not \"$sbin --check-config $cfg\""
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$root$unit" ||
    fail "no ExecReload= with the SIGHUP after the check"
grep -Eq "^d $(dirname "$cfg") 0755 root root" "$root$tmpfiles" ||
    fail "$tmpfiles makes no $(dirname "$cfg"): $(cat "$root$tmpfiles")"
grep -Eq '^d /var/lib/vfiomigd 0700 ' "$root$tmpfiles" ||
    fail "$tmpfiles makes no /var/lib/vfiomigd (0700)"
group=$(sed -n 's/.*"control_group": "\([^"]*\)".*/\1/p' "$root$cfg")
[ -n "$group" ] || fail "the default configuration names no control_group"
grep -Eq "^g $group( |$)" "$root$sysusers" ||
    fail "$sysusers makes no group $group: $(cat "$root$sysusers")"
note "agree: ExecStart=$exec_start; ExecReload=$reload; group $group"

# ---- the default configuration ----

VFIOMIGD=$root$sbin
if getent group "$group" >/dev/null 2>&1; then
	"$VFIOMIGD" --check-config "$root$cfg" >"$T/check.out" 2>&1 ||
	    fail "--check-config $cfg: $(cat "$T/check.out")"
	note "default: $(cat "$T/check.out")"
	mygroup=$group
else
	# Refused for the group alone: what the sysusers.d file is for.
	"$VFIOMIGD" --check-config "$root$cfg" >"$T/check.out" 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "--check-config without group $group: exit $rc: $(cat "$T/check.out")"
	grep -q "^vfiomigd: error: $root$cfg: control_socket: control group \"$group\": no such group$" \
	    "$T/check.out" || fail "--check-config without group $group: $(cat "$T/check.out")"
	note "default without group $group: $(cat "$T/check.out")"
	mygroup=$(id -gn)
fi
# As installed but for the group (if need be) and where the socket goes.
sed -e "s|\"control_group\": \"$group\"|\"control_group\": \"$mygroup\"|" \
    -e "s|\"/run/vfiomigd/control.sock\"|\"$T/run/control.sock\"|" \
    "$root$cfg" >"$T/default.json"
grep -q "$T/run/control.sock" "$T/default.json" ||
    fail "the default configuration's control_socket is not /run/vfiomigd/control.sock"
"$VFIOMIGD" --check-config "$T/default.json" >"$T/check.out" 2>&1 ||
    fail "--check-config $T/default.json: $(cat "$T/check.out")"
grep -q "^$T/default.json: ok: 0 sets, 0 devices; control socket $T/run/control.sock; no migration$" \
    "$T/check.out" || fail "--check-config said: $(cat "$T/check.out")"
[ ! -e "$T/run" ] || fail "--check-config made $T/run"
start_daemon default --config "$T/default.json"
wait_log default "control socket $T/run/control.sock"
"$root$bin" -s "$T/run/control.sock" -o json set list >"$T/sets.json" 2>&1 ||
    fail "vfiomigctl set list: $(cat "$T/sets.json")"
grep -q '"name"' "$T/sets.json" && fail "sets in the default configuration: $(cat "$T/sets.json")"
[ "$(stat -c %G "$T/run/control.sock")" = "$mygroup" ] ||
    fail "control socket's group $(stat -c %G "$T/run/control.sock"), not $mygroup"
has default 'no "migration" in .*: no TLS material; migrations are refused both ways'
# The installed Python client (and no other) answers too.
PY=${VFIOMIG_PYTHON:-/usr/bin/python3}
PYTHONPATH=$root$pydir PYTHONDONTWRITEBYTECODE=1 "$PY" -c '
import sys, vfiomig
c = vfiomig.Client(sys.argv[1])
print(vfiomig.__file__, vfiomig.pb.__file__, c.daemon, len(c.list_sets()))' \
    "$T/run/control.sock" >"$T/py.out" 2>&1 ||
    fail "the installed Python client: $(cat "$T/py.out")"
case $(cat "$T/py.out") in
"$root$pydir/vfiomig/__init__.py $root$pydir/vfiomig/vfiomig_ctl_pb2.py vfiomigd "*" 0") ;;
*) fail "the installed Python client: $(cat "$T/py.out")" ;;
esac
stop_daemon default
note "default: the daemon started, its socket of group $mygroup answered (vfiomigctl and the installed Python client), no set"

# ---- the example ----

gen_certs
sed "s|\"/etc/pki/vfiomigd\"|\"$T/pki\"|" "$root$example" >"$T/example.json"
grep -q "$T/pki" "$T/example.json" || fail "the example's tls_dir is not /etc/pki/vfiomigd"
"$VFIOMIGD" --check-config "$T/example.json" >"$T/check.out" 2>&1 ||
    fail "--check-config on the example: $(cat "$T/check.out")"
note "example: $(cat "$T/check.out")"

# ---- a second install, uninstall ----

printf '{"control_socket": "/run/vfiomigd/control.sock", "log_level": "debug"}\n' \
    >"$root$cfg"
cp "$root$cfg" "$T/edited.json"
inst install2.log
cmp -s "$root$cfg" "$T/edited.json" ||
    fail "a second make install changed the edited $cfg: $(cat "$root$cfg")"
grep -q "$root$cfg exists: kept" "$T/install2.log" ||
    fail "make install did not say it kept $cfg: $(cat "$T/install2.log")"
$MAKE -s uninstall DESTDIR="$root" >"$T/uninstall.log" 2>&1 ||
    fail "make uninstall: $(tail -n 20 "$T/uninstall.log")"
cmp -s "$root$cfg" "$T/edited.json" || fail "make uninstall removed the edited $cfg"
[ ! -e "$root$sbin" ] || fail "make uninstall left $sbin"
cp "$srcdir/etc/vfiomigd.json" "$root$cfg"
$MAKE -s uninstall DESTDIR="$root" >"$T/uninstall.log" 2>&1 ||
    fail "make uninstall: $(tail -n 20 "$T/uninstall.log")"
[ ! -e "$root$cfg" ] || fail "make uninstall left the unedited default $cfg"
left=$(cd "$root" && find . -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
note "again: the edited configuration kept by install and uninstall; the default removed"
note "pass"
