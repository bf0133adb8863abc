#!/usr/bin/env bash
# WireGuard relay benchmark: packets/s and Mbit/s through the relay for 64-
# and 1400-byte UDP payloads (WireGuard transport messages), in each
# forwarding mode (XDP, AF_XDP, socket, and DPDK when the binary was built
# with -Ddpdk=enabled), side by side, with CPU cost per million packets and
# each mode's ratio to the socket fallback.
#
#   perf/wg_bench.sh [BUILD_DIR] [SECONDS] [REPEAT]   (root; defaults: build-wg, 3, 3)
#
# Each cell is the median of REPEAT runs by delivered packets.
#
# Topology, all made here with names unique to this run and removed on exit:
#   gen (wg_gen send, CPU 0) ── veth ── relay (hyper-derp, CPU 1) ── veth ── sink
# The generator plays peer a and offers as much as one CPU can send through
# AF_PACKET; the relay forwards to peer b in the sink namespace, where the
# datagrams are counted at the interface. Figures only: nothing is asserted.
#
# CPU columns: "machine" is all CPU time on the machine during the run
# (generator included; XDP work runs in softirq and is charged there) per
# million delivered packets; "relay" is the relay process's own user+system
# time (the AF_XDP, DPDK and socket workers; near zero for XDP). The DPDK
# worker busy-polls: its relay CPU is the whole run, loaded or not.
set -euo pipefail

BUILD=${1:-build-wg}
SECONDS_RUN=${2:-3}
REPEAT=${3:-3}
HD=$(realpath "$BUILD/src/hyper-derp")
GEN=$(realpath "$BUILD/test/wireguard/wg_gen")
[ "$(id -u)" -eq 0 ] || { echo "wg_bench: needs root" >&2; exit 1; }
[ -x "$HD" ] && [ -x "$GEN" ] || { echo "wg_bench: build $BUILD first (ninja -C $BUILD)" >&2; exit 1; }

# Names, scratch directory and cleanup as in the WireGuard end-to-end tests.
# shellcheck source=../test/wireguard/wg_lib.sh
. "$(dirname "$(realpath "$0")")/../test/wireguard/wg_lib.sh"
wg_names hdwgb "" hdwg-bench g s # NS_G NS_S NS_R, TMP; cleanup on exit
# shellcheck disable=SC2034 # read by the cleanup: no relay log on failure (start_relay shows it)
WG_LOG_TAIL=0

make_namespaces
ip link add g0 netns $NS_G type veth peer name rg netns $NS_R
ip link add s0 netns $NS_S type veth peer name rs netns $NS_R
ip -n $NS_G addr add 10.33.1.2/24 dev g0
ip -n $NS_R addr add 10.33.1.1/24 dev rg
ip -n $NS_R addr add 10.33.2.1/24 dev rs
ip -n $NS_S addr add 10.33.2.2/24 dev s0
for l in "$NS_G g0" "$NS_R rg" "$NS_R rs" "$NS_S s0"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
# XDP_REDIRECT into a veth needs NAPI on its far end.
ip netns exec $NS_S ethtool -K s0 gro on >/dev/null
ip netns exec $NS_R ping -c 1 -W 2 -q 10.33.2.2 >/dev/null # resolve the sink's MAC
RG_MAC=$(ip -n $NS_R -br link show rg | awk '{ print $3 }')

cat >"$TMP/wg-table.conf" <<EOT
peer a 10.33.1.2:51820 generator
peer b 10.33.2.2:51820 sink
link a b
EOT

# The relay: RELAY_PID, in PIDS (what the cleanup stops) while it runs.
# shellcheck disable=SC2034
start_relay() {
	relay_ini $1 rg,rs "" "[log]" "level = warn"
	taskset -c 1 ip netns exec $NS_R "$HD" --config "$TMP/relay.ini" >"$TMP/relay.log" 2>&1 &
	RELAY_PID=$!
	PIDS=("$RELAY_PID")
	sleep 1
	kill -0 $RELAY_PID 2>/dev/null || { cat "$TMP/relay.log"; exit 1; }
}
# shellcheck disable=SC2034
stop_relay() {
	kill -TERM $RELAY_PID
	wait $RELAY_PID || true
	RELAY_PID=
	PIDS=()
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rx_packets() { ip netns exec $NS_S cat /sys/class/net/s0/statistics/rx_packets; }

# measure SIZE: one run; prints "offered delivered machine_ticks relay_ticks".
measure() {
	local size=$1 sink sent rx0 rx1 cpu0 cpu1 p0 p1
	ip netns exec $NS_S "$GEN" sink 10.33.2.2:51820 $((SECONDS_RUN + 2)) &
	sink=$!
	sleep 0.2
	# Warm-up: next hops resolve and caches fill before the measurement.
	ip netns exec $NS_G taskset -c 0 "$GEN" send g0 "$RG_MAC" 10.33.1.2:51820 \
		10.33.1.1:51820 "$size" 0.3 >/dev/null
	rx0=$(rx_packets) cpu0=$(busy_ticks) p0=$(proc_ticks $RELAY_PID)
	sent=$(ip netns exec $NS_G taskset -c 0 "$GEN" send g0 "$RG_MAC" 10.33.1.2:51820 \
		10.33.1.1:51820 "$size" "$SECONDS_RUN" | awk '{ print $2 }')
	sleep 0.2
	rx1=$(rx_packets) cpu1=$(busy_ticks) p1=$(proc_ticks $RELAY_PID)
	kill $sink 2>/dev/null
	wait $sink 2>/dev/null || true
	echo "$sent $((rx1 - rx0)) $((cpu1 - cpu0)) $((p1 - p0))"
}

HZ=$(getconf CLK_TCK)
declare -A PPS
printf '%-7s %7s %12s %12s %9s %14s %14s %9s\n' mode payload offered_pps delivered_pps Mbit/s \
	machine_cpu_s/M relay_cpu_s/M vs_socket
MODES=(socket xdp afxdp)
# A DPDK build links DPDK's EAL.
if ldd "$HD" | grep -q librte_eal; then
	MODES+=(dpdk)
fi
for mode in "${MODES[@]}"; do
	start_relay $mode
	grep -i "fall\|unavailable" "$TMP/relay.log" | head -2 >&2 || true
	for size in 64 1400; do
		runs=()
		for _ in $(seq "$REPEAT"); do
			runs+=("$(measure $size)")
		done
		# The median run by delivered packets.
		read -r sent got c p < <(printf '%s\n' "${runs[@]}" | sort -n -k2 | sed -n "$(((REPEAT + 1) / 2))p")
		pps=$((got / SECONDS_RUN))
		PPS[$mode/$size]=$pps
		awk -v m=$mode -v s=$size -v sent=$sent -v got=$got -v t=$SECONDS_RUN -v hz=$HZ \
			-v c=$c -v p=$p -v base="${PPS[socket/$size]:-0}" 'BEGIN {
			mpkt = got / 1e6
			printf "%-7s %7d %12.0f %12.0f %9.1f %14.3f %14.3f %8.2fx\n", m, s, sent / t,
				got / t, got * s * 8 / t / 1e6, mpkt ? c / hz / mpkt : 0,
				mpkt ? p / hz / mpkt : 0, base ? got / t / base : 0
		}'
	done
	stop_relay
done
echo "(median of $REPEAT runs of $SECONDS_RUN s; 2 vCPUs shared by generator, relay and sink: compare the modes, not the absolutes)"
