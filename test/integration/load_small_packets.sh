#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Small packets at full tilt across two workers must all arrive:
#   load_small_packets.sh HYPER_DERP HDBENCH HDCLI [POOL_MB]
#
# 1024 pairs of 64-byte packets, 16 in flight per pair (hdbench, every
# packet verified), with every sender on one worker and every receiver on
# the other (the slow path deals connections round-robin). One pass of the
# senders' worker then routes thousands of packets, and their buffers come
# home from the other worker as MSG_FREE. When a worker read back only one
# burst of those per pass, the frees fell behind until the packet pool hit
# limits.buffer_pool_mb with every buffer idle in a ring: packets dropped as
# no_buffer, and hdbench saw ~1% of them lost. With at most 16,384 packets in
# flight, 64 MiB of pool is plenty (the fixed relay peaks at 25 MB; ASan
# builds, whose workers run several times slower and so take longer to send
# buffers home, get more), so any no_buffer drop or loss fails this.
# Runs twice: packets relayed in place (the default) and copied
# (pinned_recv_buffers = 0, every packet in the pool).
set -eu

RELAY=$1
HDBENCH=$2
HDCLI=$3
POOL_MB=${4:-64}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hd-load-small.XXXXXX")
PID=""

# Stops the relay: SIGTERM, then SIGKILL if it has not gone within 10 s.
stop_relay() {
	kill "$PID" 2>/dev/null || true
	n=0
	while kill -0 "$PID" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -9 "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null
}

cleanup() {
	if [ -n "$PID" ]; then
		stop_relay || true
	fi
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

# 1024 pairs are 2048 client sockets here and 2048 in the relay.
ulimit -n 8192 2>/dev/null || [ "$(ulimit -n)" -ge 5000 ] ||
	fail "need 5000 open files, have $(ulimit -n)"

run_case() {
	pinned=$1
	cat >"$DIR/relay.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = 0
		workers = 2
		key_file = $DIR/server.key
		[limits]
		buffer_pool_mb = $POOL_MB
		pinned_recv_buffers = $pinned
		[mgmt]
		socket = $DIR/mgmt.sock
	EOF
	# The log exists before the relay starts: the background child opens it later.
	: >"$DIR/relay.log"
	"$RELAY" --config "$DIR/relay.ini" >>"$DIR/relay.log" 2>&1 &
	PID=$!
	port=""
	i=0
	while [ -z "$port" ] && [ $i -lt 100 ]; do
		kill -0 "$PID" 2>/dev/null || fail "the relay exited at start"
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$DIR/relay.log")
		i=$((i + 1))
		sleep 0.1
	done
	[ -n "$port" ] || fail "the relay did not log its port"

	# Two runs: the first meets a cold pool, the second a warm one.
	for run in 1 2; do
		out=$("$HDBENCH" --port "$port" --pairs 1024 --size 64 --window 16 --duration 2 \
			--stall-timeout 5 --json 2>"$DIR/hdbench.err") ||
			fail "pinned_recv_buffers=$pinned run $run: hdbench failed: $(cat "$DIR/hdbench.err") $out"
		echo "pinned_recv_buffers=$pinned run $run: $out"
		case $out in
		*'"lost":0,"corrupt":0,"reordered":0,"misrouted":0'*'"ok":true'*) ;;
		*) fail "pinned_recv_buffers=$pinned run $run: packets lost or damaged: $out" ;;
		esac
		case $out in
		*'"received":0,'*) fail "pinned_recv_buffers=$pinned run $run: nothing relayed" ;;
		esac
	done

	counters=$("$HDCLI" --socket "$DIR/mgmt.sock" --json show counters) ||
		fail "hdcli show counters failed"
	drops=$(printf '%s' "$counters" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("result", d)
print(sum(v["packets"] for v in d["drops"]["no_buffer"].values()))')
	echo "pinned_recv_buffers=$pinned: no_buffer drops $drops"
	[ "$drops" = 0 ] || fail "pinned_recv_buffers=$pinned: $drops packets dropped as no_buffer"
	grep -q "pool at its limit" "$DIR/relay.log" &&
		fail "pinned_recv_buffers=$pinned: the relay logged its pool at the limit"

	stop_relay || fail "the relay did not exit cleanly on SIGTERM"
	PID=""
}

run_case 256
run_case 0
echo "ok: no packet lost, no no_buffer drop"
