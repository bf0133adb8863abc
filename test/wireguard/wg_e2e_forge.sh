#!/usr/bin/env bash
# Issue 22: a table peer forging handshake messages redirects nothing and
# evicts nothing, with real wireguard-go peers.
#
#   wg_e2e_forge.sh MODE HYPER_DERP WG_XFER HDCLI     MODE: socket, xdp or afxdp
#
#   A (wireguard-go) ── veth ──┐
#   B (wireguard-go) ── veth ──┼── relay
#   C (wireguard-go) ── veth ──┘   C's namespace also holds m, a table peer
#                                  (10.31.3.2:40000) linked to a: the attacker
#
# a has three links (b, c, m), so its transport data is routed by receiver
# index. Once a and b have a session, m learns b's index (sniffed on b's
# veth, as a peer on the path would) and sends forged responses and
# initiations with it as their sender index, then a flood of 185,000
# handshakes with random indices (MAC1 made for a's real key, so they get
# past the MAC1 check). Before issue 22's fix one forged response sent a's
# traffic for b to m, and the flood pushed b's index out of the table.
# Checks: a<->b and a<->c keep working right after each, with no new
# handshake (the sessions stay where they are), nothing is forwarded to m,
# and the drops are counted under their reasons.
#
# Needs root; exits 77 (skipped) without it or without wireguard-go.
set -euo pipefail
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"

wg_args "$@"
wg_names hdwf wf hdwg-forge a b c

step "namespaces (run $RUN)"
make_namespaces
veth a
veth b
veth c
veth_addr a 10.31.1.2/24 10.31.1.1/24
veth_addr b 10.31.2.2/24 10.31.2.1/24
veth_addr c 10.31.3.2/24 10.31.3.1/24

keys a b c
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.31.1.2:51820 alice pubkey=$(pub a)
peer b 10.31.2.2:51820 bob pubkey=$(pub b)
peer c 10.31.3.2:51820 carol pubkey=$(pub c)
peer m 10.31.3.2:40000 mallory
link a b
link a c
link a m
EOT
relay_ini $MODE ra,rb,rc "$TMP/mgmt.sock" "[metrics]" "listen = 127.0.0.1:19109"
step "relay in $MODE mode"
start_relay "$TMP/relay1.log"
grep "wg: relay on UDP port" "$TMP/relay1.log"
if [ "$MODE" = xdp ]; then
	# The far ends' settings cannot be seen from the relay: it says so for each veth.
	grep -q "wg: ra is a veth: XDP forwarding through it needs" "$TMP/relay1.log" ||
		fail "no warning about XDP on veth"
fi

step "wireguard-go peers"
wireguard_go a b c
wg_set a peer "$(pub b)" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.2/32 \
	peer "$(pub c)" endpoint 10.31.1.1:51820 allowed-ips 10.200.0.3/32
wg_set b peer "$(pub a)" endpoint 10.31.2.1:51820 allowed-ips 10.200.0.1/32
wg_set c peer "$(pub a)" endpoint 10.31.3.1:51820 allowed-ips 10.200.0.1/32
tunnel_up 10.200.0 a b c
ping_through $NS_A 10.200.0.2 10
ping_through $NS_A 10.200.0.3 10

step "b's receiver index, as seen on b's link"
ip netns exec $NS_A ping -c 20 -i 0.2 -q 10.200.0.2 >/dev/null 2>&1 &
PIDS+=("$!")
BIDX=$(ip netns exec $NS_B timeout 10 "$XFER" sniff-index b0 51820) || fail "no transport to b seen"
echo "   b's index: $BIDX"
wait "${PIDS[-1]}" || true
handshakes() { ip netns exec $NS_A wg show "$IF_A" latest-handshakes | awk '{print $2}' | sort | tr '\n' ' '; }
HS_BEFORE=$(handshakes)

step "m forges responses and initiations with b's index"
ip netns exec $NS_C "$XFER" spray 10.31.3.2:40000 10.31.3.1 51820 50 "response:$BIDX:$(pub a)"
sleep 2 # m's handshake bucket refills (11 a second): the initiations get to the index check
ip netns exec $NS_C "$XFER" spray 10.31.3.2:40000 10.31.3.1 51820 50 "initiation:$BIDX:$(pub a)"
ping5 $NS_A 10.200.0.2
ping5 $NS_B 10.200.0.1

step "m floods 185,000 handshakes with random indices"
ip netns exec $NS_C "$XFER" spray 10.31.3.2:40000 10.31.3.1 51820 185000 "random:$(pub a)"
ping5 $NS_A 10.200.0.2
ping5 $NS_A 10.200.0.3
ping5 $NS_B 10.200.0.1
[ "$(handshakes)" = "$HS_BEFORE" ] || fail "a had to handshake again: its sessions were disturbed"

hd wg show | tee "$TMP/show.out" | sed -n '/^counters/p'
# The attack shows in /metrics while it happens, by reason.
ip netns exec $NS_R curl -sf http://127.0.0.1:19109/metrics >"$TMP/metrics.out" || fail "no /metrics"
grep -E '^hyperderp_wg_dropped_total\{reason="(index_taken|handshake_rate|unmatched_response)"\}' "$TMP/metrics.out"
grep -qE '^hyperderp_wg_dropped_total\{reason="index_taken"\} [1-9]' "$TMP/metrics.out" ||
	fail "index_taken not in /metrics"
stop_relay
LOG=$TMP/relay1.log
sed -n '/final state/,$p' "$LOG"
expect "$(peer_col m 7)" = 0 "datagrams forwarded to m"
expect "$(peer_col b 7)" -ge 30 "datagrams to b"
# m's 100 forged messages: unmatched (responses), index taken (initiations), or rate-limited.
refused=$(($(counter drop_unmatched_response) + $(counter drop_index_taken) + $(counter drop_handshake_rate)))
expect "$refused" -ge 100000 "refused forged handshakes"
expect "$(counter drop_index_taken)" -ge 1 "initiations claiming b's index"
expect "$(counter drop_handshake_rate)" -ge 1000 "handshakes over m's rate"
echo "PASS [$MODE]"
