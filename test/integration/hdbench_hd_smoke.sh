#!/bin/sh
# SPDX-License-Identifier: MIT
#
# hdbench's HD mode against the real relay, content-checked:
#   hdbench_hd_smoke.sh HYPER_DERP HDBENCH
#
# A relay that admits any HD key that proves itself ([hd] require_token =
# false), plain and TLS. Against each, for a second: hdbench --proto hd with
# 2 pairs of 1000-byte packets windowed and acknowledged (Sends both ways),
# and 16 KiB packets one way. hdbench checks every packet (source peer id,
# length, order, every byte, send time) and exits 1 on any loss or
# corruption; this also requires that packets arrived at all and that the
# run was HD. perf/hd_vs_derp.sh uses the same mode for its figures.
set -eu

RELAY=$1
HDBENCH=$2
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hd-hdbench-smoke.XXXXXX")
PID=""

stop_relay() {
	kill "$PID" 2>/dev/null || true
	n=0
	while kill -0 "$PID" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -9 "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

cleanup() {
	[ -z "$PID" ] || stop_relay
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$DIR/relay.log" ]; then
		echo "--- relay log (last 20 lines)" >&2
		tail -20 "$DIR/relay.log" >&2
	fi
	exit 1
}

# start_relay plain|tls: the relay on a free port; sets PID and PORT.
start_relay() {
	{
		echo "[server]"
		echo "listen = 127.0.0.1"
		echo "port = 0"
		echo "key_file = $DIR/server.key"
		echo "[mgmt]"
		echo "socket ="
		echo "[hd]"
		echo "require_token = false"
		if [ "$1" = tls ]; then
			echo "[tls]"
			echo "cert = $DIR/tls.crt"
			echo "key = $DIR/tls.key"
		fi
	} >"$DIR/relay.ini"
	: >"$DIR/relay.log"
	"$RELAY" --config "$DIR/relay.ini" >>"$DIR/relay.log" 2>&1 &
	PID=$!
	PORT=""
	n=0
	while [ -z "$PORT" ] && [ $n -lt 200 ]; do
		kill -0 "$PID" 2>/dev/null || fail "relay ($1) exited at start"
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$DIR/relay.log" |
			head -1)
		[ -n "$PORT" ] || sleep 0.1
		n=$((n + 1))
	done
	[ -n "$PORT" ] || fail "relay ($1) did not report its port"
}

# run NAME ARGS...: one hdbench --proto hd run that must pass with packets.
run() {
	name=$1
	shift
	# hdbench prints its findings on stderr and the JSON on stdout.
	if ! "$HDBENCH" --proto hd --port "$PORT" --pairs 2 --duration 1 --json "$@" \
		>"$DIR/$name.json" 2>"$DIR/$name.err"; then
		cat "$DIR/$name.err" "$DIR/$name.json" >&2
		fail "$name: hdbench reported loss, corruption or a failed connection"
	fi
	json=$(cat "$DIR/$name.json")
	case $json in
	*'"proto":"hd"'*) ;;
	*) fail "$name: not an HD run: $json" ;;
	esac
	received=$(echo "$json" | sed -n 's/.*"received":\([0-9]*\).*/\1/p')
	corrupt=$(echo "$json" | sed -n 's/.*"corrupt":\([0-9]*\).*/\1/p')
	[ "${received:-0}" -gt 0 ] || fail "$name: no packet arrived: $json"
	[ "$corrupt" = 0 ] || fail "$name: $corrupt corrupt packets: $json"
	echo "ok: $name: $received packets, every byte checked"
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$DIR/tls.key" -out "$DIR/tls.crt" >/dev/null 2>&1 ||
	fail "openssl could not make a test certificate"

for transport in plain tls; do
	start_relay "$transport"
	flag=""
	[ "$transport" = plain ] || flag="--tls --tls-ca $DIR/tls.crt"
	# shellcheck disable=SC2086
	run "$transport-window-ack" $flag --size 1000 --window 16 --ack
	# shellcheck disable=SC2086
	run "$transport-16k" $flag --size 16384 --window 8
	stop_relay
done
echo "PASS"
