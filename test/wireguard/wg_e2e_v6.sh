#!/usr/bin/env bash
# End-to-end test of the WireGuard relay with IPv6 endpoints and a link
# between an IPv6 and an IPv4 peer, with real wireguard-go peers.
#
#   wg_e2e_v6.sh MODE HYPER_DERP WG_XFER HDCLI     MODE: socket, xdp, afxdp or dpdk
#
# Four network namespaces made here, with names unique to this run:
#
#   A (wireguard-go, 2 peers) ── veth, IPv6 only ──┐
#   B (wireguard-go)          ── veth, IPv6 only ──┼── relay (hyper-derp on ra,rb,rc)
#   C (wireguard-go)          ── veth, IPv4 only ──┘
#
# A's and B's Endpoint is [relay-v6]:51820, C's is relay-v4:51820. The table
# links a-b (IPv6 to IPv6: the mode's own path) and a-c (IPv6 to IPv4: the
# relay receives on one family and sends on the other, through its socket),
# so a has two links and its initiations are routed by MAC1. Checks: the
# table takes bracketed IPv6 endpoints and refuses link-local, multicast and
# IPv4-mapped ones with the file left alone; the file keeps the IPv6 form;
# ping and a 2 MB TCP transfer through both tunnels; datagrams from an
# unknown IPv6 source dropped and counted, also behind a hop-by-hop header
# (left to the kernel); a zero UDP checksum dropped as malformed; the path
# each link took.
#
# Traffic stays between the namespaces; everything is bounded in time and
# count, and removed on exit, failure included. Needs root; exits 77 (meson's
# "skipped") without it, without wireguard-go, or without IPv6.
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
[ -e /proc/net/if_inet6 ] || skip "the kernel has no IPv6"

if [ "$MODE" = dpdk ]; then
	# DPDK's PMD keeps a libbpf object per interface for the life of the process.
	export LSAN_OPTIONS="suppressions=$(dirname "$(realpath "$0")")/lsan-dpdk.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi

RUN=$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))
NS_A=hdw6-$RUN-a NS_B=hdw6-$RUN-b NS_C=hdw6-$RUN-c NS_R=hdw6-$RUN-r
IF_A=w6a$RUN IF_B=w6b$RUN IF_C=w6c$RUN # wireguard-go UAPI sockets live in the shared /var/run
TMP=$(mktemp -d /tmp/hdwg-e2e-v6.XXXXXX)
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
		echo "---- relay log ----"
		tail -n 80 "$TMP/relay.log" 2>/dev/null
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL [v6 $MODE]: $*" >&2
	exit 1
}
step() { echo "== [v6 $MODE] $*"; }

# ---- topology ----
step "namespaces (run $RUN)"
for ns in $NS_A $NS_B $NS_C $NS_R; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
for p in a b c; do
	ns_var=NS_${p^^}
	ns=${!ns_var}
	ip link add ${p}0 netns "$ns" type veth peer name r$p netns $NS_R
	ip -n "$ns" link set ${p}0 up
	ip -n $NS_R link set r$p up
	# veth hands locally sent datagrams over with a partial checksum, which a
	# frame forwarded by XDP keeps; a real NIC would have completed it.
	ip netns exec "$ns" ethtool -K ${p}0 tx off >/dev/null
	# XDP_REDIRECT into a veth needs NAPI on its far end (GRO turns it on).
	ip netns exec "$ns" ethtool -K ${p}0 gro on >/dev/null
done
# nodad: the addresses are usable at once, not after duplicate address detection.
ip -n $NS_A addr add fd31:1::2/64 dev a0 nodad
ip -n $NS_R addr add fd31:1::1/64 dev ra nodad
ip -n $NS_B addr add fd31:2::2/64 dev b0 nodad
ip -n $NS_B addr add fd31:2::9/64 dev b0 nodad # the unknown source
ip -n $NS_R addr add fd31:2::1/64 dev rb nodad
ip -n $NS_C addr add 10.33.3.2/24 dev c0
ip -n $NS_R addr add 10.33.3.1/24 dev rc

# ---- keys and the relay table ----
umask 077
for p in a b c; do
	wg genkey >"$TMP/$p.key"
	wg pubkey <"$TMP/$p.key" >"$TMP/$p.pub"
done
cat >"$TMP/wg-table.conf" <<EOT
peer a [fd31:1::2]:51820 alice pubkey=$(cat "$TMP/a.pub")
peer b [fd31:2::2]:51820 bob pubkey=$(cat "$TMP/b.pub")
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

step "relay in $MODE mode"
ip netns exec $NS_R "$HD" --config "$TMP/relay.ini" >"$TMP/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
for _ in $(seq 100); do
	grep -q "wg: relay on UDP port" "$TMP/relay.log" && break
	kill -0 "$RELAY_PID" 2>/dev/null || fail "relay exited: $(tail -5 "$TMP/relay.log")"
	sleep 0.1
done
grep "wg: relay on UDP port" "$TMP/relay.log" || fail "relay did not start"
grep -q "mode $MODE" "$TMP/relay.log" || fail "not in $MODE mode"
grep -q "2 peers, 1 links" "$TMP/relay.log" || fail "the IPv6 table file was not loaded"

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
hd wg peer add c 10.33.3.2:51820 carol "pubkey=$(cat "$TMP/c.pub")" >/dev/null
hd wg link add a c >/dev/null
must_refuse "link-local" wg peer add x "[fe80::1]:51820"
must_refuse "scoped" wg peer add x "[fe80::1%ra]:51820"
must_refuse "multicast" wg peer add x "[ff02::1]:51820"
must_refuse "IPv4-mapped" wg peer add x "[::ffff:10.33.3.2]:51820"
must_refuse "already peer a's" wg peer add x "[fd31:1:0::2]:51820"
must_refuse "\[ADDRESS\]:PORT" wg peer add x "fd31:1::7:51820"
hd wg peer add d "[fd31:9::1]:51820" >/dev/null
grep -q "^peer d \[fd31:9::1\]:51820$" "$TMP/wg-table.conf" || fail "IPv6 peer not in the file"
hd wg peer del d >/dev/null
grep -q "^peer a \[fd31:1::2\]:51820 alice" "$TMP/wg-table.conf" || fail "the file lost a's IPv6 endpoint"
hd wg show | sed -n '/^peers/,/^links/p'

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
	peer "$(cat "$TMP/b.pub")" endpoint "[fd31:1::1]:51820" allowed-ips 10.201.0.2/32 \
	peer "$(cat "$TMP/c.pub")" endpoint "[fd31:1::1]:51820" allowed-ips 10.201.0.3/32
ip netns exec $NS_B wg set $IF_B private-key "$TMP/b.key" listen-port 51820 \
	peer "$(cat "$TMP/a.pub")" endpoint "[fd31:2::1]:51820" allowed-ips 10.201.0.1/32
ip netns exec $NS_C wg set $IF_C private-key "$TMP/c.key" listen-port 51820 \
	peer "$(cat "$TMP/a.pub")" endpoint 10.33.3.1:51820 allowed-ips 10.201.0.1/32
n=1
for p in a b c; do
	ns_var=NS_${p^^} if_var=IF_${p^^}
	ip -n "${!ns_var}" addr add 10.201.0.$n/24 dev "${!if_var}"
	ip -n "${!ns_var}" link set "${!if_var}" up
	n=$((n + 1))
done

# ping_through NS DST DEADLINE: waits for the first reply (handshake), then 5 of 5.
ping_through() {
	ip netns exec "$1" ping -c 1 -w "$3" -q "$2" >/dev/null || fail "no reply from $2 within $3 s"
	ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -q "$2" | grep -q " 5 received" ||
		fail "ping to $2 lost packets"
}
step "ping a->b, b->a (IPv6 to IPv6)"
ping_through $NS_A 10.201.0.2 10
ping_through $NS_B 10.201.0.1 5
step "ping a->c, c->a (IPv6 to IPv4 and back)"
ping_through $NS_A 10.201.0.3 10
ping_through $NS_C 10.201.0.1 5

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
step "2 MB a->b and 2 MB c->a over TCP through the tunnels"
bulk $NS_A $NS_B 10.201.0.2 2000000
bulk $NS_C $NS_A 10.201.0.1 2000000

step "datagrams from an unknown IPv6 source, with an extension header, without a checksum"
ip netns exec $NS_B "$XFER" spray "[fd31:2::9]:40000" fd31:2::1 51820 200 transport
# The fast paths leave extension headers to the kernel; the socket then finds the source unknown.
ip netns exec $NS_B "$XFER" spray "[fd31:2::9]:40001" fd31:2::1 51820 50 transport-hopopts
# A zero UDP checksum is invalid in IPv6: XDP, AF_XDP and DPDK drop it, the kernel drops it unseen.
ip netns exec $NS_B "$XFER" spray "[fd31:2::9]:40002" fd31:2::1 51820 30 transport-nocsum
sleep 0.5

step "final state"
kill -TERM "$RELAY_PID"
wait "$RELAY_PID" || fail "relay exit status $?"
LOG=$TMP/relay.log
sed -n '/final state/,$p' "$LOG"
counter() {
	grep -o "$1=[0-9]*" "$LOG" | tail -1 | cut -d= -f2
}
# peer_col NAME COL: a column of a peer's row in the final-state dump
# (1 name, 2 endpoint, 3 label, 4 links, 5 rx packets, 6 rx bytes, 7 tx packets, 8 tx bytes).
peer_col() {
	awk -v n="$1" -v c="$2" '{
		for (i = 1; i < NF; i++)
			if ($i == "wg:" && $(i + 1) == n && NF >= i + 9) v = $(i + c)
	} END { print v }' "$LOG"
}
[ "$(counter drop_unknown_source)" = 250 ] || fail "unknown-source drops: $(counter drop_unknown_source), want 250"
want_malformed=30
[ "$MODE" = socket ] && want_malformed=0
[ "$(counter drop_malformed)" = $want_malformed ] || fail "malformed drops: $(counter drop_malformed), want $want_malformed"
[ "$(peer_col a 2)" = "[fd31:1::2]:51820" ] || fail "wg show endpoint of a: $(peer_col a 2)"
# a sent some 1400 datagrams to b, c some 1400 to a (2 MB in ~1400-byte datagrams).
for pc in "a 5" "b 7" "c 5" "a 7"; do
	set -- $pc
	v=$(peer_col $1 $2)
	[ "${v:-0}" -ge 1200 ] || fail "peer $1, column $2: $v datagrams, want >= 1200"
done
# The IPv6 link goes the mode's own way; the mixed link (c) always goes through the socket.
fwd=$(counter user_forward)
case $MODE in
xdp)
	[ "$(counter xdp_redirect)" -ge 1200 ] || fail "XDP forwarded only $(counter xdp_redirect) IPv6 datagrams"
	[ "$(counter to_stack)" -ge 1450 ] || fail "only $(counter to_stack) mixed-family and extension-header datagrams went to the stack"
	;;
afxdp)
	[ "$(counter to_xsk)" -ge 3600 ] || fail "AF_XDP handled only $(counter to_xsk)"
	[ "$(counter xdp_redirect)" = 0 ] || fail "XDP forwarded in AF_XDP mode"
	;;
socket)
	[ "$fwd" -ge 3600 ] || fail "socket path forwarded only $fwd"
	;;
dpdk)
	# Both families reach DPDK's ports through its filter; the mixed link leaves by the socket.
	[ "$(counter to_xsk)" -ge 3600 ] || fail "DPDK's ports received only $(counter to_xsk)"
	[ "$(counter xdp_redirect)" = 0 ] || fail "XDP forwarded in DPDK mode"
	;;
esac
[ "$fwd" -ge 1450 ] || fail "the mixed link: user_forward $fwd, want >= 1450"

echo "PASS [v6 $MODE]"
