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
# dropped and counted, and never arriving at a peer (seen on the peers'
# interfaces), the path the mode promises carrying
# the traffic, and the table surviving a relay restart.
#
# Traffic stays between the namespaces; everything is bounded in time and
# count, and removed on exit, failure included. Needs root; exits 77 (meson's
# "skipped") without it or without wireguard-go.
set -euo pipefail
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"

wg_args "$@" # MODE HD XFER HDCLI; skips without root or the tools
wg_names hdwg wg hdwg-e2e a b c # NS_A NS_B NS_C NS_R, IF_A IF_B IF_C, TMP; cleanup on exit

# ---- topology ----
step "namespaces (run $RUN)"
make_namespaces
veth a
veth b
veth c
veth_addr a 10.31.1.2/24 10.31.1.1/24
veth_addr b 10.31.2.2/24 10.31.2.1/24
veth_addr c 10.31.3.2/24 10.31.3.1/24
ip -n $NS_B addr add 10.31.2.9/24 dev b0 # the unknown source

# ---- keys and the relay table ----
keys a b c
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.31.1.2:51820 alice pubkey=$(pub a)
peer b 10.31.2.2:51820 bob pubkey=$(pub b)
link a b
EOT
relay_ini $MODE ra,rb,rc "$TMP/mgmt.sock"

step "relay in $MODE mode"
start_relay "$TMP/relay1.log"
grep "wg: relay on UDP port" "$TMP/relay1.log"
case $MODE in
xdp) grep -q "mode xdp (" "$TMP/relay1.log" || fail "XDP did not attach" ;;
afxdp) grep -q "mode afxdp (" "$TMP/relay1.log" || fail "AF_XDP did not start" ;;
socket) grep -q "mode socket" "$TMP/relay1.log" || fail "not in socket mode" ;;
dpdk) grep -q "mode dpdk (" "$TMP/relay1.log" || fail "DPDK did not start" ;;
esac

step "table changes through hdcli"
grep -q "2 peers, 1 links" "$TMP/relay1.log" || fail "table file not loaded"
hd wg peer add c 10.31.3.2:51820 carol "pubkey=$(pub c)" >/dev/null
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
wireguard_go a b c
wg_set a peer "$(pub b)" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.2/32 \
	peer "$(pub c)" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.3/32
wg_set b peer "$(pub a)" endpoint 10.31.2.1:51820 allowed-ips 10.200.0.1/32
wg_set c peer "$(pub a)" endpoint 10.31.3.1:51820 allowed-ips 10.200.0.1/32
tunnel_up 10.200.0 a b c

step "ping a->b, b->a (single link for b)"
ping_through $NS_A 10.200.0.2 10
ping_through $NS_B 10.200.0.1 5
step "ping a->c, c->a (a has two links: index and MAC1 routing)"
ping_through $NS_A 10.200.0.3 10
ping_through $NS_C 10.200.0.1 5

step "5 MB a->b and 5 MB c->a over TCP through the tunnels"
bulk $NS_A $NS_B 10.200.0.2 5000000
bulk $NS_C $NS_A 10.200.0.1 5000000

step "unknown source and malformed datagrams"
# What the peers receive, not only what the relay counts: nothing of it.
sniff_start a b c
ip netns exec $NS_B "$XFER" spray 10.31.2.9 10.31.2.1 51820 200 transport
ip netns exec $NS_B "$XFER" spray 10.31.2.2:40000 10.31.2.1 51820 100 malformed
sniff_wait a b c
for p in a b c; do
	expect "$(sniff_count $p)" = 0 "unknown-source datagrams that reached peer $p"
done

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
LOG=$TMP/relay1.log
sed -n '/final state/,$p' "$LOG"
expect "$(counter drop_unknown_source)" = 200 "unknown-source drops"
expect "$(counter drop_malformed)" = 100 "malformed drops"
expect "$(peer_col m 5)" = 0 "the malformed sender's forwarded packets"
# The 5 MB transfers: a and c sent some 3500 datagrams each, b received a's.
expect "$(peer_col a 5)" -ge 3000 "datagrams from a"
expect "$(peer_col c 5)" -ge 3000 "datagrams from c"
expect "$(peer_col b 7)" -ge 3000 "datagrams to b"
case $MODE in
xdp)
	expect "$(counter xdp_redirect)" -ge 6000 "XDP forwarded"
	expect "$(counter to_xsk)" -ge 1 "handshakes to the AF_XDP worker"
	;;
afxdp)
	expect "$(counter to_xsk)" -ge 6000 "AF_XDP handled"
	expect "$(counter xdp_redirect)" = 0 "XDP forwarded in AF_XDP mode"
	;;
socket)
	expect "$(counter user_forward)" -ge 6000 "socket path forwarded"
	;;
dpdk)
	# Every relay datagram went through DPDK's ports; the kernel XDP path is not attached.
	expect "$(counter to_xsk)" -ge 6000 "DPDK's ports received"
	expect "$(counter user_forward)" -ge 6000 "DPDK forwarded"
	expect "$(counter xdp_redirect)" = 0 "XDP forwarded in DPDK mode"
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
