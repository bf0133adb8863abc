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
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"

wg_args "$@" # MODE HD XFER HDCLI; skips without root or the tools
TAG="v6 $MODE"
[ -e /proc/net/if_inet6 ] || skip "the kernel has no IPv6"
wg_names hdw6 w6 hdwg-e2e-v6 a b c # NS_A NS_B NS_C NS_R, IF_A IF_B IF_C, TMP; cleanup on exit

# ---- topology ----
step "namespaces (run $RUN)"
make_namespaces
veth a
veth b
veth c
# nodad: the addresses are usable at once, not after duplicate address detection.
veth_addr a fd31:1::2/64 fd31:1::1/64 nodad
veth_addr b fd31:2::2/64 fd31:2::1/64 nodad
ip -n $NS_B addr add fd31:2::9/64 dev b0 nodad # the unknown source
veth_addr c 10.33.3.2/24 10.33.3.1/24

# ---- keys and the relay table ----
keys a b c
cat >"$TMP/wg-table.conf" <<EOT
peer a [fd31:1::2]:51820 alice pubkey=$(pub a)
peer b [fd31:2::2]:51820 bob pubkey=$(pub b)
link a b
EOT
relay_ini $MODE ra,rb,rc "$TMP/mgmt.sock"

step "relay in $MODE mode"
LOG=$TMP/relay.log
start_relay "$LOG"
grep "wg: relay on UDP port" "$LOG"
grep -q "mode $MODE" "$LOG" || fail "not in $MODE mode"
grep -q "2 peers, 1 links" "$LOG" || fail "the IPv6 table file was not loaded"

step "table changes through hdcli"
hd wg peer add c 10.33.3.2:51820 carol "pubkey=$(pub c)" >/dev/null
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
wireguard_go a b c
wg_set a peer "$(pub b)" endpoint "[fd31:1::1]:51820" allowed-ips 10.201.0.2/32 \
	peer "$(pub c)" endpoint "[fd31:1::1]:51820" allowed-ips 10.201.0.3/32
wg_set b peer "$(pub a)" endpoint "[fd31:2::1]:51820" allowed-ips 10.201.0.1/32
wg_set c peer "$(pub a)" endpoint 10.33.3.1:51820 allowed-ips 10.201.0.1/32
tunnel_up 10.201.0 a b c

step "ping a->b, b->a (IPv6 to IPv6)"
ping_through $NS_A 10.201.0.2 10
ping_through $NS_B 10.201.0.1 5
step "ping a->c, c->a (IPv6 to IPv4 and back)"
ping_through $NS_A 10.201.0.3 10
ping_through $NS_C 10.201.0.1 5

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
stop_relay
sed -n '/final state/,$p' "$LOG"
expect "$(counter drop_unknown_source)" = 250 "unknown-source drops"
want_malformed=30
[ "$MODE" = socket ] && want_malformed=0
expect "$(counter drop_malformed)" = $want_malformed "malformed drops"
expect "$(peer_col a 2)" = "[fd31:1::2]:51820" "wg show endpoint of a"
# a sent some 1400 datagrams to b, c some 1400 to a (2 MB in ~1400-byte datagrams).
expect "$(peer_col a 5)" -ge 1200 "datagrams from a"
expect "$(peer_col b 7)" -ge 1200 "datagrams to b"
expect "$(peer_col c 5)" -ge 1200 "datagrams from c"
expect "$(peer_col a 7)" -ge 1200 "datagrams to a"
# The IPv6 link goes the mode's own way; the mixed link (c) always goes through the socket.
case $MODE in
xdp)
	expect "$(counter xdp_redirect)" -ge 1200 "IPv6 datagrams XDP forwarded"
	expect "$(counter to_stack)" -ge 1450 "mixed-family and extension-header datagrams to the stack"
	;;
afxdp)
	expect "$(counter to_xsk)" -ge 3600 "AF_XDP handled"
	expect "$(counter xdp_redirect)" = 0 "XDP forwarded in AF_XDP mode"
	;;
socket)
	expect "$(counter user_forward)" -ge 3600 "socket path forwarded"
	;;
dpdk)
	# Both families reach DPDK's ports through its filter; the mixed link leaves by the socket.
	expect "$(counter to_xsk)" -ge 3600 "DPDK's ports received"
	expect "$(counter xdp_redirect)" = 0 "XDP forwarded in DPDK mode"
	;;
esac
expect "$(counter user_forward)" -ge 1450 "the mixed link: user_forward"

echo "PASS [$TAG]"
