#!/usr/bin/env bash
# WireGuard over DERP through the real relay, the shape of Tailscale's DERP
# path (wg_derp_lib.sh): wireguard-go peers in two namespaces, each talking
# UDP to a derp_udp_bridge that carries the datagrams over the relay. Checks
# that a ping and a 4 MiB TCP transfer get through, every byte checked by
# wg_xfer, and again with a receiver that reads its DERP connection at only
# 40 Mbit/s (the relay's queue for it fills: codel must keep it flowing).
# Keeps the bridge that perf/goodput.sh measures with from rotting.
#
#   wg_derp_bridge.sh HYPER_DERP WG_XFER HDCLI DERP_UDP_BRIDGE
#
# Needs root (namespaces) and wireguard-go; exits 77 (skipped) without them.
# Traffic stays between the namespaces made here; bounded by wg_xfer's 30 s
# deadline per transfer and meson's timeout.
set -euo pipefail
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"
# shellcheck source=wg_derp_lib.sh
. "$(dirname "$(realpath "$0")")/wg_derp_lib.sh"

wg_args socket "$1" "$2" "$3"
BRIDGE=$(realpath "${4:?derp_udp_bridge binary}")
TAG=wg-derp
wg_names hdwd wd hdwg-derp a b

step "namespaces (run $RUN), wireguard-go peers"
derp_topology
step "relay (default queue policy)"
derp_relay main 3340

step "bridges, ping through the tunnel"
bridges_up 3340
ping_through $NS_A 10.200.0.2 10

step "4 MiB over TCP through wireguard-go and DERP"
r=$(xfer 4194304) || fail "transfer failed: $(cat "$TMP/recv.out")"
echo "   $r (s, Mbit/s)"
bridges_down

step "again, the receiver reading DERP at 40 Mbit/s"
bridges_up 3340 40
r=$(xfer 4194304) || fail "slow-receiver transfer failed: $(cat "$TMP/recv.out")"
echo "   $r (s, Mbit/s)"
bridges_down
echo "   relay drops: $(drops main)"
grep -q "udp_in [1-9]" "$TMP/bridge-a.log" || fail "bridge a carried nothing: $(cat "$TMP/bridge-a.log")"
echo "PASS"
