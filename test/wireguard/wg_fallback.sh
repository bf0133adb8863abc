#!/usr/bin/env bash
# A mode asked for by name that cannot run: the relay falls back to the
# socket and says so at warning level, with the reason (issue 22).
#
#   wg_fallback.sh HYPER_DERP
#
# One network namespace of its own (the relay binds its UDP port there);
# no traffic. Needs root; exits 77 (skipped) without it.
set -euo pipefail
HD=$(realpath "${1:?hyper-derp binary}")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
NS=hdwfb-$$-$RANDOM
TMP=$(mktemp -d /tmp/hdwg-fallback.XXXXXX)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	[ -z "$PID" ] || wait "$PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
for mode in xdp afxdp; do
	cat >"$TMP/relay.ini" <<EOT
[server]
listen = 127.0.0.1
port = 0
workers = 1
key_file = $TMP/server.key
[mgmt]
socket =
[wireguard]
enabled = true
listen_port = 51820
interface = nosuchif0
mode = $mode
table_file = $TMP/wg-table.conf
EOT
	ip netns exec "$NS" "$HD" --config "$TMP/relay.ini" >"$TMP/relay.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		grep -q "wg: relay on UDP port" "$TMP/relay.log" && break
		kill -0 "$PID" 2>/dev/null || { cat "$TMP/relay.log"; echo "FAIL: relay exited"; exit 1; }
		sleep 0.1
	done
	kill "$PID"
	wait "$PID" || true
	PID=
	grep -E "warn.*wg: wireguard.mode = $mode is not running, the relay fell back to socket \($mode unavailable: .*nosuchif0" "$TMP/relay.log" ||
		{ cat "$TMP/relay.log"; echo "FAIL [$mode]: no warning for the fallback"; exit 1; }
done
echo PASS
