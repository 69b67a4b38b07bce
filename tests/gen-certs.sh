#!/bin/sh
# gen-certs.sh: makes a throw-away test PKI for the TLS peer link with
# certtool (Debian: gnutls-bin), in the layout QEMU and vfiomigd read:
#
#   DIR/ca-cert.pem DIR/ca-key.pem              the test CA
#   DIR/server-cert.pem DIR/server-key.pem      tls_www_server, 127.0.0.1, ::1, localhost
#   DIR/client-cert.pem DIR/client-key.pem      tls_www_client
#   DIR/revoked/client-cert.pem, client-key.pem a client of the test CA ...
#   DIR/revoked/ca-crl.pem                      ... that this CRL revokes
#   DIR/other-ca/{ca-cert,ca-key,client-cert,client-key}.pem
#                                               a second, unrelated CA and a
#                                               client it signed (negative tests)
#
# Test material only: short-lived ECDSA P-256 keys, no passphrases.
# Exits 77 (automake's "skip") when certtool is missing.
# Usage: gen-certs.sh DIR
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
if ! command -v certtool >/dev/null 2>&1; then
	echo "$0: certtool not found (Debian: apt-get install gnutls-bin)" >&2
	exit 77
fi
umask 077
mkdir -p "$dir/other-ca" "$dir/revoked"
tmpl=$(mktemp "$dir/.tmpl.XXXXXX")
trap 'rm -f "$tmpl"' EXIT

# key FILE
key() {
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
	    --outfile "$1" >/dev/null 2>&1
}

# ca DIR CN
ca() {
	key "$1/ca-key.pem"
	cat >"$tmpl" <<EOF
cn = "$2"
ca
cert_signing_key
crl_signing_key
expiration_days = 30
EOF
	certtool --generate-self-signed --load-privkey "$1/ca-key.pem" \
	    --template "$tmpl" --outfile "$1/ca-cert.pem" >/dev/null 2>&1
}

# leaf CADIR NAME CN PURPOSE-LINES...
leaf() {
	cadir=$1 name=$2 cn=$3
	shift 3
	key "$cadir/$name-key.pem"
	{
		echo "cn = \"$cn\""
		echo "expiration_days = 30"
		echo "signing_key"
		echo "encryption_key"
		for l in "$@"; do echo "$l"; done
	} >"$tmpl"
	certtool --generate-certificate --load-privkey "$cadir/$name-key.pem" \
	    --load-ca-certificate "$cadir/ca-cert.pem" \
	    --load-ca-privkey "$cadir/ca-key.pem" \
	    --template "$tmpl" --outfile "$cadir/$name-cert.pem" >/dev/null 2>&1
}

ca "$dir" "vfiomig test CA"
leaf "$dir" server "vfiomigd test server" tls_www_server \
    'ip_address = "127.0.0.1"' 'ip_address = "::1"' 'dns_name = "localhost"'
leaf "$dir" client "vfiomigd test client" tls_www_client
cp "$dir/ca-cert.pem" "$dir/ca-key.pem" "$dir/revoked/"
leaf "$dir/revoked" client "vfiomigd revoked client" tls_www_client
printf 'crl_next_update = 30\ncrl_number = 1\n' >"$tmpl"
certtool --generate-crl --load-ca-privkey "$dir/ca-key.pem" \
    --load-ca-certificate "$dir/ca-cert.pem" \
    --load-certificate "$dir/revoked/client-cert.pem" \
    --template "$tmpl" --outfile "$dir/revoked/ca-crl.pem" >/dev/null 2>&1
rm -f "$dir/revoked/ca-key.pem"
ca "$dir/other-ca" "vfiomig other test CA"
leaf "$dir/other-ca" client "vfiomigd rogue client" tls_www_client
chmod 0644 "$dir"/*-cert.pem "$dir"/*/*-cert.pem "$dir"/revoked/ca-crl.pem
