# shellcheck shell=bash
# WireGuard over DERP, the shape of Tailscale's DERP path, for the
# wg_derp_bridge test and perf/goodput.sh: sourced after wg_lib.sh, never run.
#
#   A: wireguard-go (IF_A, 10.200.0.1) <-UDP-> derp_udp_bridge --\
#                                                                  veth -- R: hyper-derp relays
#   B: wireguard-go (IF_B, 10.200.0.2) <-UDP-> derp_udp_bridge --/        (DERP on TCP)
#
# Each wireguard-go peer's Endpoint is its own bridge (127.0.0.1:40000 in its
# namespace); the bridge sends its datagrams to the other bridge's DERP key as
# SendPackets, and turns the RecvPackets it gets into datagrams to
# wireguard-go's port 51820. Every relay listens in R on its own port; a run
# picks one by (re)starting the bridges against it. wg_xfer moves a TCP
# stream through the tunnel, checking every byte.

# derp_topology: namespaces, veths, keys, wireguard-go peers A and B up.
derp_topology() {
	make_namespaces
	veth a
	veth b
	veth_addr a 10.41.1.2/24 10.41.1.1/24
	veth_addr b 10.41.2.2/24 10.41.2.1/24
	keys a b
	wireguard_go a b
	wg_set a peer "$(pub b)" endpoint 127.0.0.1:40000 allowed-ips 10.200.0.2/32
	wg_set b peer "$(pub a)" endpoint 127.0.0.1:40000 allowed-ips 10.200.0.1/32
	tunnel_up 10.200.0 a b
	read -r BRIDGE_A_PRIV BRIDGE_A_PUB < <("$BRIDGE" genkey)
	read -r BRIDGE_B_PRIV BRIDGE_B_PUB < <("$BRIDGE" genkey)
}

# derp_relay NAME PORT [INI-LINE...]: a hyper-derp relay in R on PORT, one
# worker, management socket TMP/NAME.sock; the lines go into [limits].
derp_relay() {
	local name=$1 port=$2
	shift 2
	{
		cat <<EOT
[server]
listen = 0.0.0.0
port = $port
workers = 1
pin_cores = none
key_file = $TMP/$name.key
[mgmt]
socket = $TMP/$name.sock
[limits]
EOT
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$TMP/$name.ini"
	start_relay "$TMP/relay-$name.log" "$TMP/$name.ini" "listening on 0.0.0.0 port $port"
}

# bridges_up PORT [RATE_MBIT]: both bridges on the relay at PORT; B (the
# receiving side) reads its DERP connection at RATE_MBIT at most (0: no limit),
# stalls BRIDGE_STALL ms of every BRIDGE_PERIOD ms if set, with SO_RCVBUF
# BRIDGE_RCVBUF if set.
BRIDGE_PIDS=()
bridges_up() {
	local port=$1 rate=${2:-0} p
	ip netns exec $NS_A "$BRIDGE" --relay 10.41.1.1:$port --key $BRIDGE_A_PRIV \
		--peer $BRIDGE_B_PUB --listen 40000 --wg 51820 --seconds 600 \
		>"$TMP/bridge-a.log" 2>&1 &
	BRIDGE_PIDS=($!)
	ip netns exec $NS_B "$BRIDGE" --relay 10.41.2.1:$port --key $BRIDGE_B_PRIV \
		--peer $BRIDGE_A_PUB --listen 40000 --wg 51820 --seconds 600 \
		--rate-mbit "$rate" --rcvbuf "${BRIDGE_RCVBUF:-0}" ${BRIDGE_STALL:+--stall-ms $BRIDGE_STALL} \
		${BRIDGE_PERIOD:+--period-ms $BRIDGE_PERIOD} >"$TMP/bridge-b.log" 2>&1 &
	BRIDGE_PIDS+=($!)
	PIDS+=("${BRIDGE_PIDS[@]}")
	for p in a b; do
		for _ in $(seq 100); do
			grep -q connected "$TMP/bridge-$p.log" && break
			sleep 0.05
		done
		grep -q connected "$TMP/bridge-$p.log" ||
			fail "bridge $p did not connect: $(cat "$TMP/bridge-$p.log")"
	done
}

bridges_down() {
	local pid
	for pid in "${BRIDGE_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${BRIDGE_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	BRIDGE_PIDS=()
}

# xfer BYTES: a TCP transfer A -> B through the tunnel, every byte checked.
# Prints "SECONDS MBIT", or returns 1 (wg_xfer's 30 s deadline, or damage).
xfer() {
	local out=$TMP/recv.out
	: >"$out"
	ip netns exec $NS_B "$XFER" recv 10.200.0.2 5001 "$1" >"$out" 2>&1 &
	local rpid=$!
	for _ in $(seq 50); do
		grep -q listening "$out" && break
		sleep 0.05
	done
	ip netns exec $NS_A "$XFER" send 10.200.0.2 5001 "$1" >/dev/null 2>&1
	wait "$rpid" || return 1
	sed -n 's/^ok [0-9]* bytes in \([0-9.]*\) s (\([0-9.]*\) Mbit\/s)$/\1 \2/p' "$out"
}

# drops NAME: "REASON/KIND=PACKETS ..." of the relay's drops (kind: disco or
# other), every pair with any.
drops() {
	"$HDCLI" --socket "$TMP/$1.sock" --json show counters | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("result", d)
print(" ".join("%s/%s=%d" % (r, k, v["packets"])
               for r, kinds in sorted(d["drops"].items())
               for k, v in sorted(kinds.items()) if v["packets"]))'
}
