#!/usr/bin/env bash
# End-to-end test of the WireGuard relay with real wireguard-go peers.
#
#   wg_e2e.sh MODE HYPER_DERP WG_XFER HDCLI     MODE: socket, xdp, afxdp or dpdk
#
# Four network namespaces made here, with names unique to this run:
#
#   A (wireguard-go, 2 peers) ── veth ──┐
#   B (wireguard-go)          ── veth ──┼── relay (hyper-derp, XDP or DPDK on ra,rb,rc)
#   C (wireguard-go)          ── veth ──┘
#
# Every peer's Endpoint is the relay's address on its link, port 51820. The
# relay table links a-b and a-c, so a has two links: its transport messages
# are routed by receiver index and its initiations by MAC1. The table starts
# as a file holding a and b; c and the rest are added with hdcli, with bad
# changes refused and the file left as it was. Checks: ping and a 5 MB TCP
# transfer through each tunnel, unknown-source and malformed datagrams
# dropped and counted (never forwarded), the path the mode promises carrying
# the traffic, and the table surviving a relay restart.
#
# Traffic stays between the namespaces; everything is bounded in time and
# count, and removed on exit, failure included. Needs root; exits 77 (meson's
# "skipped") without it or without wireguard-go.
set -euo pipefail

MODE=${1:?mode}
HD=$(realpath "${2:?hyper-derp binary}")
XFER=$(realpath "${3:?wg_xfer binary}")
HDCLI=$(realpath "${4:?hdcli binary}")

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
for tool in wireguard-go wg ip ethtool ping; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done

if [ "$MODE" = dpdk ]; then
	# DPDK's PMD keeps a libbpf object per interface for the life of the process.
	export LSAN_OPTIONS="suppressions=$(dirname "$(realpath "$0")")/lsan-dpdk.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi

RUN=$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))
NS_A=hdwg-$RUN-a NS_B=hdwg-$RUN-b NS_C=hdwg-$RUN-c NS_R=hdwg-$RUN-r
IF_A=wga$RUN IF_B=wgb$RUN IF_C=wgc$RUN # wireguard-go UAPI sockets live in the shared /var/run
TMP=$(mktemp -d /tmp/hdwg-e2e.XXXXXX)
PIDS=()

cleanup() {
	local rc=$?
	set +e
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in $NS_A $NS_B $NS_C $NS_R; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f /var/run/wireguard/$IF_A.sock /var/run/wireguard/$IF_B.sock /var/run/wireguard/$IF_C.sock
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "---- relay logs ----"
		cat "$TMP"/relay*.log 2>/dev/null | tail -n 80
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL [$MODE]: $*" >&2
	exit 1
}
step() { echo "== [$MODE] $*"; }

# ---- topology ----
step "namespaces (run $RUN)"
for ns in $NS_A $NS_B $NS_C $NS_R; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
n=1
for p in a b c; do
	ns_var=NS_${p^^}
	ns=${!ns_var}
	ip link add ${p}0 netns "$ns" type veth peer name r$p netns $NS_R
	ip -n "$ns" addr add 10.31.$n.2/24 dev ${p}0
	ip -n $NS_R addr add 10.31.$n.1/24 dev r$p
	ip -n "$ns" link set ${p}0 up
	ip -n $NS_R link set r$p up
	# veth hands locally sent datagrams over with a partial checksum, which a
	# frame forwarded by XDP keeps; a real NIC would have completed it.
	ip netns exec "$ns" ethtool -K ${p}0 tx off >/dev/null
	# XDP_REDIRECT into a veth needs NAPI on its far end (GRO turns it on).
	ip netns exec "$ns" ethtool -K ${p}0 gro on >/dev/null
	n=$((n + 1))
done
ip -n $NS_B addr add 10.31.2.9/24 dev b0 # the unknown source

# ---- keys and the relay table ----
umask 077
for p in a b c; do
	wg genkey >"$TMP/$p.key"
	wg pubkey <"$TMP/$p.key" >"$TMP/$p.pub"
done
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.31.1.2:51820 alice pubkey=$(cat "$TMP/a.pub")
peer b 10.31.2.2:51820 bob pubkey=$(cat "$TMP/b.pub")
link a b
EOT
cat >"$TMP/relay.ini" <<EOT
[server]
listen = 127.0.0.1
port = 0
workers = 1
key_file = $TMP/server.key
[mgmt]
socket = $TMP/mgmt.sock
[wireguard]
enabled = true
listen_port = 51820
interface = ra,rb,rc
mode = $MODE
table_file = $TMP/wg-table.conf
EOT

RELAY_PID=
start_relay() {
	local log=$1
	: >"$log"
	ip netns exec $NS_R "$HD" --config "$TMP/relay.ini" >"$log" 2>&1 &
	RELAY_PID=$!
	PIDS+=("$RELAY_PID")
	for _ in $(seq 100); do
		grep -q "wg: relay on UDP port" "$log" && return 0
		kill -0 "$RELAY_PID" 2>/dev/null || fail "relay exited: $(tail -5 "$log")"
		sleep 0.1
	done
	fail "relay did not start"
}
stop_relay() {
	kill -TERM "$RELAY_PID"
	wait "$RELAY_PID" || fail "relay exit status $?"
}
# counter NAME LOG: the value in the relay's final-state dump.
counter() {
	grep -o "$1=[0-9]*" "$2" | tail -1 | cut -d= -f2
}
# peer_col NAME COL LOG: a column of a peer's row in the final-state dump
# (1 name, 2 endpoint, 3 label, 4 links, 5 rx packets, 6 rx bytes, 7 tx packets, 8 tx bytes).
peer_col() {
	awk -v n="$1" -v c="$2" '{
		for (i = 1; i < NF; i++)
			if ($i == "wg:" && $(i + 1) == n && NF >= i + 9) v = $(i + c)
	} END { print v }' "$3"
}

step "relay in $MODE mode"
start_relay "$TMP/relay1.log"
grep "wg: relay on UDP port" "$TMP/relay1.log"
case $MODE in
xdp) grep -q "mode xdp (" "$TMP/relay1.log" || fail "XDP did not attach" ;;
afxdp) grep -q "mode afxdp (" "$TMP/relay1.log" || fail "AF_XDP did not start" ;;
socket) grep -q "mode socket" "$TMP/relay1.log" || fail "not in socket mode" ;;
dpdk) grep -q "mode dpdk (" "$TMP/relay1.log" || fail "DPDK did not start" ;;
esac

hd() { "$HDCLI" --socket "$TMP/mgmt.sock" "$@"; }
# must_refuse WANT ARGS...: the change fails, says WANT, and leaves the file alone.
must_refuse() {
	local want=$1 out
	shift
	cp "$TMP/wg-table.conf" "$TMP/before.conf"
	if out=$(hd "$@" 2>&1); then
		fail "hdcli $* succeeded"
	fi
	grep -q "$want" <<<"$out" || fail "hdcli $*: \"$out\" does not say \"$want\""
	cmp -s "$TMP/wg-table.conf" "$TMP/before.conf" || fail "hdcli $* changed the table file"
}
step "table changes through hdcli"
grep -q "2 peers, 1 links" "$TMP/relay1.log" || fail "table file not loaded"
hd wg peer add c 10.31.3.2:51820 carol "pubkey=$(cat "$TMP/c.pub")" >/dev/null
hd wg peer add m 10.31.2.2:40000 malformed-sender >/dev/null
hd wg link add a c >/dev/null
hd wg link add m c >/dev/null
must_refuse "already peer c's" wg peer add x 10.31.3.2:51820
must_refuse "no peer nobody" wg link add a nobody
must_refuse "not an IPv4 address" wg peer add y 10.31.9.300:1
must_refuse "already linked" wg link add c a
hd wg show

# ---- WireGuard peers ----
step "wireguard-go peers"
for p in a b c; do
	ns_var=NS_${p^^} if_var=IF_${p^^}
	WG_PROCESS_FOREGROUND=1 ip netns exec "${!ns_var}" wireguard-go "${!if_var}" \
		>"$TMP/wg-$p.log" 2>&1 &
	PIDS+=("$!")
done
for p in a b c; do
	if_var=IF_${p^^}
	for _ in $(seq 50); do
		[ -S /var/run/wireguard/${!if_var}.sock ] && break
		sleep 0.1
	done
done
ip netns exec $NS_A wg set $IF_A private-key "$TMP/a.key" listen-port 51820 \
	peer "$(cat "$TMP/b.pub")" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.2/32 \
	peer "$(cat "$TMP/c.pub")" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.3/32
ip netns exec $NS_B wg set $IF_B private-key "$TMP/b.key" listen-port 51820 \
	peer "$(cat "$TMP/a.pub")" endpoint 10.31.2.1:51820 allowed-ips 10.200.0.1/32
ip netns exec $NS_C wg set $IF_C private-key "$TMP/c.key" listen-port 51820 \
	peer "$(cat "$TMP/a.pub")" endpoint 10.31.3.1:51820 allowed-ips 10.200.0.1/32
n=1
for p in a b c; do
	ns_var=NS_${p^^} if_var=IF_${p^^}
	ip -n "${!ns_var}" addr add 10.200.0.$n/24 dev "${!if_var}"
	ip -n "${!ns_var}" link set "${!if_var}" up
	n=$((n + 1))
done

# ping_through NS DST DEADLINE: waits for the first reply (handshake), then 5 of 5.
ping_through() {
	ip netns exec "$1" ping -c 1 -w "$3" -q "$2" >/dev/null || fail "no reply from $2 within $3 s"
	ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -q "$2" | grep -q " 5 received" ||
		fail "ping to $2 lost packets"
}

step "ping a->b, b->a (single link for b)"
ping_through $NS_A 10.200.0.2 10
ping_through $NS_B 10.200.0.1 5
step "ping a->c, c->a (a has two links: index and MAC1 routing)"
ping_through $NS_A 10.200.0.3 10
ping_through $NS_C 10.200.0.1 5

# bulk FROM_NS TO_NS TO_ADDR BYTES
bulk() {
	local out
	out=$(mktemp "$TMP/recv.XXXXXX")
	ip netns exec "$2" "$XFER" recv "$3" 5001 "$4" >"$out" 2>&1 &
	local rpid=$!
	PIDS+=("$rpid")
	for _ in $(seq 50); do
		grep -q listening "$out" && break
		sleep 0.1
	done
	ip netns exec "$1" "$XFER" send "$3" 5001 "$4" || fail "send to $3 failed"
	wait "$rpid" || fail "transfer to $3 incomplete: $(cat "$out")"
	echo "   $(tail -1 "$out")"
}
step "5 MB a->b and 5 MB c->a over TCP through the tunnels"
bulk $NS_A $NS_B 10.200.0.2 5000000
bulk $NS_C $NS_A 10.200.0.1 5000000

step "unknown source and malformed datagrams"
ip netns exec $NS_B "$XFER" spray 10.31.2.9 10.31.2.1 51820 200 transport
ip netns exec $NS_B "$XFER" spray 10.31.2.2:40000 10.31.2.1 51820 100 malformed
sleep 0.5

step "hdcli wg show"
hd wg show | tee "$TMP/show.out" | sed -n '1,/^links/p'
grep -q "^mode: $MODE" "$TMP/show.out" || fail "wg show does not give the mode"

step "restart: the table survives"
stop_relay
if [ "$MODE" = dpdk ]; then
	# DPDK's PMD attaches its filter through netlink; closing the ports must remove it.
	for i in ra rb rc; do
		! ip -n $NS_R link show $i | grep -q " xdp" || fail "the DPDK XDP filter stayed on $i"
	done
fi
LOG1=$TMP/relay1.log
sed -n '/final state/,$p' "$LOG1"
[ "$(counter drop_unknown_source "$LOG1")" = 200 ] || fail "unknown-source drops: $(counter drop_unknown_source "$LOG1"), want 200"
[ "$(counter drop_malformed "$LOG1")" = 100 ] || fail "malformed drops: $(counter drop_malformed "$LOG1"), want 100"
[ "$(peer_col m 5 "$LOG1")" = 0 ] || fail "the malformed sender has forwarded packets"
# The 5 MB transfers: a and c sent some 3500 datagrams each, b received a's.
for pc in "a 5" "c 5" "b 7"; do
	set -- $pc
	v=$(peer_col $1 $2 "$LOG1")
	[ "${v:-0}" -ge 3000 ] || fail "peer $1, column $2: $v datagrams, want >= 3000"
done
case $MODE in
xdp)
	[ "$(counter xdp_redirect "$LOG1")" -ge 6000 ] || fail "XDP forwarded only $(counter xdp_redirect "$LOG1")"
	[ "$(counter to_xsk "$LOG1")" -ge 1 ] || fail "no handshake went to the AF_XDP worker"
	;;
afxdp)
	[ "$(counter to_xsk "$LOG1")" -ge 6000 ] || fail "AF_XDP handled only $(counter to_xsk "$LOG1")"
	[ "$(counter xdp_redirect "$LOG1")" = 0 ] || fail "XDP forwarded in AF_XDP mode"
	;;
socket)
	[ "$(counter user_forward "$LOG1")" -ge 6000 ] || fail "socket path forwarded only $(counter user_forward "$LOG1")"
	;;
dpdk)
	# Every relay datagram went through DPDK's ports; the kernel XDP path is not attached.
	[ "$(counter to_xsk "$LOG1")" -ge 6000 ] || fail "DPDK's ports received only $(counter to_xsk "$LOG1")"
	[ "$(counter user_forward "$LOG1")" -ge 6000 ] || fail "DPDK forwarded only $(counter user_forward "$LOG1")"
	[ "$(counter xdp_redirect "$LOG1")" = 0 ] || fail "XDP forwarded in DPDK mode"
	;;
esac

start_relay "$TMP/relay2.log"
grep -q "4 peers, 3 links" "$TMP/relay2.log" || fail "table not restored: $(grep 'wg: relay' "$TMP/relay2.log")"
# Learned receiver indices are not kept: a's sessions resume after WireGuard's
# own re-handshake (at most REKEY_TIMEOUT + KEEPALIVE_TIMEOUT = 15 s).
step "ping b->a and a->c after the restart"
ping_through $NS_B 10.200.0.1 25
ping_through $NS_A 10.200.0.3 25
stop_relay

echo "PASS [$MODE]"
