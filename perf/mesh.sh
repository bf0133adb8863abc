#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The outbound mesh's cost (issue 12): the same verified hdbench load
# (a) through one relay, and (b) from a client of relay A to a client of
# relay B, A and B meshed (mesh.with), so every packet is read by A, handed
# to A's mesh thread, written as a ForwardPacket, read by B and delivered.
# Prints hdbench's summary line for each and the relays' CPU seconds. One
# worker per relay; on this 2-vCPU machine both relays and hdbench share
# the cores, so compare the two rows, not the absolute figures.
#
#   perf/mesh.sh                       # 1000-byte packets, 2 pairs, 100000 each
#   perf/mesh.sh --size 1400 --count 200000 --pairs 4
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=1000 COUNT=100000 PAIRS=2 WINDOW=64
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--pairs) PAIRS=$2; shift ;;
	--window) WINDOW=$2; shift ;;
	-h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "perf/mesh.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/hdbench
BIN=$ROOT/build-perf/src/hyper-derp
BENCH=$ROOT/build-perf/tools/hdbench

SCRATCH=$(mktemp -d /tmp/hd-mesh-perf.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port free now below the ephemeral range (as the integration harness picks them).
free_port() {
	local low p
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	while :; do
		p=$((low - 10000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

openssl rand -hex 32 >"$SCRATCH/mesh.key"
chmod 600 "$SCRATCH/mesh.key"
PORT_A=$(free_port) PORT_B=$(free_port)

# relay_up NAME PORT WITH: starts a relay; appends its pid to PIDS.
relay_up() {
	local name=$1 port=$2 with=$3 i
	cat >"$SCRATCH/$name.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = $port
		workers = 1
		pin_cores = none
		key_file = $SCRATCH/$name.key
		mesh_key_file = $SCRATCH/mesh.key
		[mgmt]
		socket =
		[mesh]
		with = $with
		[log]
		level = warn
	EOF
	"$BIN" --config "$SCRATCH/$name.ini" >"$SCRATCH/$name.log" 2>&1 &
	PIDS+=($!)
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "perf/mesh.sh: relay $name did not start:" >&2
	cat "$SCRATCH/$name.log" >&2
	exit 1
}

cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

relay_up a "$PORT_A" "http://127.0.0.1:$PORT_B"
relay_up b "$PORT_B" "http://127.0.0.1:$PORT_A"
PID_A=${PIDS[0]} PID_B=${PIDS[1]}
ARGS=(--size "$SIZE" --count "$COUNT" --pairs "$PAIRS" --window "$WINDOW")

echo "hdbench ${ARGS[*]}"
a0=$(cpu_s "$PID_A") b0=$(cpu_s "$PID_B")
echo "one relay (A):"
"$BENCH" --port "$PORT_A" "${ARGS[@]}" | sed 's/^/  /'
a1=$(cpu_s "$PID_A") b1=$(cpu_s "$PID_B")
echo "  relay CPU s: A $(echo "$a1 - $a0" | bc)"
echo "through the mesh (senders on A, receivers on B):"
"$BENCH" --port "$PORT_A" --recv-port "$PORT_B" "${ARGS[@]}" | sed 's/^/  /'
a2=$(cpu_s "$PID_A") b2=$(cpu_s "$PID_B")
echo "  relay CPU s: A $(echo "$a2 - $a1" | bc), B $(echo "$b2 - $b1" | bc)"
