#!/bin/sh
# Runs itest_acme (argument 1) in a network namespace of its own with
# Debian's pebble ACME test server and pebble-challtestsrv as its DNS, as
# itest_acme.c describes. Exit 77 (skipped) without root, pebble or uacme.
# Environment from meson: HYPER_DERP_BIN, HDCLI_BIN, HD_ACME_SCRIPT.
set -eu
itest=${1:?usage: acme_pebble.sh ITEST_ACME}
for p in pebble pebble-challtestsrv uacme openssl curl ip; do
	if ! command -v "$p" >/dev/null; then
		echo "skipped: $p is not installed (scripts/deps.sh installs the test packages)"
		exit 77
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "skipped: needs root for a network namespace"
	exit 77
fi

ns=hd-acme-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hd-pebble-XXXXXX")
cleanup() {
	# Only what runs in our own namespace: pebble, challtestsrv, the test.
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill "$pid" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# pebble's own API certificate, which uacme must trust (bound over the CA
# bundle inside the namespace's private mount namespace only).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=pebble -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$tmp/pebble.key" -out "$tmp/pebble.crt" 2>/dev/null
cat >"$tmp/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:14000",
    "managementListenAddress": "127.0.0.1:15000",
    "certificate": "$tmp/pebble.crt",
    "privateKey": "$tmp/pebble.key",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON

ip netns add "$ns"
export tmp itest
# shellcheck disable=SC2016 # expanded by the inner shell, from the exports
ip netns exec "$ns" sh -eu -c '
	ip link set lo up
	mount --bind "$tmp/pebble.crt" /etc/ssl/certs/ca-certificates.crt
	pebble-challtestsrv -dns01 127.0.0.1:8053 -http01 "" -https01 "" -tlsalpn01 "" \
		-management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		>"$tmp/challtestsrv.log" 2>&1 &
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
		pebble -config "$tmp/pebble.json" -dnsserver 127.0.0.1:8053 \
		>"$tmp/pebble.log" 2>&1 &
	i=0
	until curl -sf --cacert "$tmp/pebble.crt" -o "$tmp/pebble-root.pem" \
		https://127.0.0.1:15000/roots/0; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "pebble did not start:"; cat "$tmp/pebble.log"
			exit 1
		fi
		sleep 0.1
	done
	# The DNS answers once its management port does (both start together).
	i=0
	until curl -s -o /dev/null http://127.0.0.1:8055/; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "pebble-challtestsrv did not start:"; cat "$tmp/challtestsrv.log"
			exit 1
		fi
		sleep 0.1
	done
	rc=0
	PEBBLE_ROOT="$tmp/pebble-root.pem" "$itest" || rc=$?
	if [ $rc -ne 0 ]; then
		echo "---- pebble log (tail) ----"; tail -n 40 "$tmp/pebble.log"
	fi
	exit $rc
'
