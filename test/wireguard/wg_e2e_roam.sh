#!/usr/bin/env bash
# Roaming (issue 22): a peer whose address changes keeps its link, and a
# stranger who knows the public keys moves nobody.
#
#   wg_e2e_roam.sh MODE HYPER_DERP WG_XFER HDCLI     MODE: socket, xdp or afxdp
#
#   A (wireguard-go) ── veth ──┐
#   B (wireguard-go) ── veth ──┴── relay        table: a, b (with keys), link a b
#
# First a stranger (another address on b's link) sends initiations with a
# MAC1 made for a's key: the relay offers them to a as b's, a never answers
# a forged initiation, so b's endpoint stays. Then b's address changes
# under wireguard-go (NAT rebinding): its traffic from the new address is
# unknown to the relay until its next handshake (WireGuard starts one by
# itself within 15 s of unanswered traffic), which a answers: the relay
# moves b, saves the table, counts and logs it, and traffic flows both ways
# again, with no operator action. The new endpoint survives a restart.
#
# Needs root; exits 77 (skipped) without it or without wireguard-go.
set -euo pipefail
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"

wg_args "$@"
wg_names hdwr wr hdwg-roam a b

step "namespaces (run $RUN)"
make_namespaces
veth a
veth b
veth_addr a 10.31.1.2/24 10.31.1.1/24
veth_addr b 10.31.2.2/24 10.31.2.1/24
ip -n $NS_B addr add 10.31.2.9/24 dev b0 # the stranger

keys a b
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.31.1.2:51820 alice pubkey=$(pub a)
peer b 10.31.2.2:51820 bob pubkey=$(pub b)
link a b
EOT
relay_ini $MODE ra,rb "$TMP/mgmt.sock" "block_seconds = 3"
step "relay in $MODE mode"
start_relay "$TMP/relay1.log"

step "wireguard-go peers"
wireguard_go a b
wg_set a peer "$(pub b)" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.2/32
wg_set b peer "$(pub a)" endpoint 10.31.2.1:51820 allowed-ips 10.200.0.1/32
tunnel_up 10.200.0 a b
ping_through $NS_A 10.200.0.2 10
bulk $NS_A $NS_B 10.200.0.2 2000000

step "a stranger's initiations, MAC1 made for a's key, move nobody"
ip netns exec $NS_B "$XFER" spray 10.31.2.9:40000 10.31.2.1 51820 20 "initiation:5eed5eed:$(pub a)"
sleep 1
grep -q "^peer b 10.31.2.2:51820 " "$TMP/wg-table.conf" || fail "b moved: $(cat "$TMP/wg-table.conf")"
ping5 $NS_A 10.200.0.2

step "hdcli wg show unknown: the stranger, and whose key its MAC1 was for"
hd wg show unknown | tee "$TMP/unknown.out"
grep -qE "^  10\.31\.2\.9:40000 +[0-9]+ .* a +0 " "$TMP/unknown.out" || fail "the stranger is not listed"
grep -q "wg: datagrams from 10.31.2.9:40000, which is no peer's endpoint; its initiation is made for peer a's key" \
	"$TMP/relay1.log" || fail "no log line for the unknown source"

step "initiations made for no peer's key: blocked after 10 strikes, for 3 s"
ip netns exec $NS_B "$XFER" spray 10.31.2.9:40001 10.31.2.1 51820 30 "initiation:1234"
sleep 0.5
hd wg blocklist show | tee "$TMP/blocked.out"
grep -qE "^  10\.31\.2\.9:40001 .* 10  .* more$" "$TMP/blocked.out" || fail "10.31.2.9 is not blocked"
grep -q "wg: blocking 10.31.2.9:40001 for 3 s" "$TMP/relay1.log" || fail "no log line for the block"
wgc() { hd wg show | awk -v n="$1" '$1 == n { print $2 }'; }
expect "$(wgc drop_blocked)" = 20 "datagrams dropped as blocked"
sleep 3
hd wg blocklist show | grep -q "^sources: 0" || fail "the block did not expire"
unknown=$(wgc drop_unknown_source)
ip netns exec $NS_B "$XFER" spray 10.31.2.9:40001 10.31.2.1 51820 5 "initiation:1234"
sleep 0.5
expect "$(wgc drop_blocked)" = 20 "dropped as blocked after the block expired"
expect "$(wgc drop_unknown_source)" = $((unknown + 5)) "looked at again after the block expired"
ip netns exec $NS_B "$XFER" spray 10.31.2.9:40001 10.31.2.1 51820 5 "initiation:1234"
sleep 0.5
hd wg blocklist show | grep -q "^sources: 1" || fail "not blocked again"
hd wg blocklist clear | grep -q "^sources: 0" || fail "clear left blocks"
ping5 $NS_A 10.200.0.2

step "b's address changes: 10.31.2.2 -> 10.31.2.7"
ip -n $NS_B addr del 10.31.2.2/24 dev b0
ip -n $NS_B addr add 10.31.2.7/24 dev b0
# b keeps sending; its next handshake comes from the new address.
ping_through $NS_B 10.200.0.1 40
ping5 $NS_A 10.200.0.2
bulk $NS_B $NS_A 10.200.0.1 2000000
grep -q "^peer b 10.31.2.7:51820 " "$TMP/wg-table.conf" || fail "table not updated: $(cat "$TMP/wg-table.conf")"
grep "wg: peer b roamed from 10.31.2.2:51820 to 10.31.2.7:51820" "$TMP/relay1.log" ||
	fail "no log line for the roam"
hd wg show | grep -E "^  b |^counters"
stop_relay
LOG=$TMP/relay1.log
expect "$(counter roamed)" = 1 "roams"

step "restart: b stays at its new address"
start_relay "$TMP/relay2.log"
ping_through $NS_A 10.200.0.2 25
stop_relay
echo "PASS [$MODE]"
