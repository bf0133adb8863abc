#!/usr/bin/env bash
# The arm64 client programs against the relay built for this machine:
# qemu-user cannot run the relay itself (no io_uring), but it can run
# hdbench and hdcli, whose DERP handshake (libsodium boxes), frame codec,
# TLS client and management JSON are the arm64 builds of the same code.
#
#   interop.sh RELAY ARM64_HDBENCH ARM64_HDCLI
#
# RELAY is a native hyper-derp. On loopback only: a plain-HTTP relay and a
# TLS one on free ports, two hdbench pairs through each (every byte, the
# order and the source key verified), then hdcli's status must show the
# packets. scripts/arm64.sh test runs it; about 5 s.
set -euo pipefail
relay=$1 hdbench=$2 hdcli=$3
run_arm64=(qemu-aarch64-static)
work=$(mktemp -d /tmp/hd-arm64-interop.XXXXXX)
relay_pid=""
cleanup() {
	if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
		kill -KILL "$relay_pid" 2>/dev/null || true
		wait "$relay_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "interop.sh: $*" >&2
	[ -f "$work/relay.log" ] && tail -20 "$work/relay.log" >&2
	exit 1
}

# Starts the relay with the extra flags given; sets port from its log.
start_relay() {
	rm -f "$work/relay.log"
	"$relay" --config /dev/null --listen 127.0.0.1 --port 0 --workers 1 --pin-cores none \
		--key-file "$work/server.key" --mgmt-socket "$work/mgmt.sock" "$@" \
		>"$work/relay.log" 2>&1 &
	relay_pid=$!
	port=""
	# Generous: qemu and other builds may share two cores with it.
	for _ in $(seq 300); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$work/relay.log")
		[ -n "$port" ] && [ -S "$work/mgmt.sock" ] && return 0
		kill -0 "$relay_pid" 2>/dev/null || fail "the relay exited at start"
		sleep 0.1
	done
	fail "the relay did not start listening within 30 s"
}

stop_relay() {
	kill -TERM "$relay_pid"
	wait "$relay_pid" || fail "the relay exited $? on SIGTERM"
	relay_pid=""
}

# Two pairs of 2000 packets through the relay; hdbench exits non-zero on
# any loss, corruption, reordering or misrouting.
bench() {
	"${run_arm64[@]}" "$hdbench" --port "$port" --pairs 2 --count 2000 --size 1200 \
		--stall-timeout 20 "$@" >"$work/bench.out" 2>&1 ||
		{ cat "$work/bench.out" >&2; fail "arm64 hdbench $* failed"; }
	grep -q 'result *PASS' "$work/bench.out" ||
		{ cat "$work/bench.out" >&2; fail "arm64 hdbench $*: no PASS"; }
}

# The relay's own count, read by the arm64 hdcli over the management
# socket; the human form, so that hdcli's arm64 JSON reader parses the
# reply and its formatter prints it.
check_counted() {
	local status want=$1 got
	status=$("${run_arm64[@]}" "$hdcli" --socket "$work/mgmt.sock" show status) ||
		fail "arm64 hdcli show status failed"
	got=$(sed -n 's/^ *in  *\([0-9]*\) packets.*/\1/p' <<<"$status")
	[ "${got:-0}" -eq "$want" ] ||
		fail "arm64 hdcli: ${got:-no} packets in, want $want (a fresh relay):"$'\n'"$status"
}

start_relay
bench
check_counted 4000
stop_relay
echo "interop.sh: arm64 hdbench through the relay over plain HTTP: 4000 packets verified, hdcli counted them"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
start_relay --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
bench --tls --tls-ca "$work/tls.crt"
check_counted 4000
stop_relay
echo "interop.sh: arm64 hdbench through the relay over TLS (certificate verified): 4000 packets verified"
