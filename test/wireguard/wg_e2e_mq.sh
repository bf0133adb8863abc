#!/usr/bin/env bash
# Multi-queue end-to-end test of the WireGuard relay: one AF_XDP socket per
# (interface, queue), queues dealt to two workers.
#
#   wg_e2e_mq.sh MODE HYPER_DERP WG_XFER HDCLI     MODE: afxdp or xdp
#
#   A (wireguard-go) ── veth, 2 queues ── ra ┐
#                                            ├ relay (queues = auto, 2 workers)
#   B (wireguard-go) ── veth, 2 queues ── rb ┘
#
# On veth the queue a frame arrives on is the queue the sender transmitted
# on. XPS steers each peer to one queue: A sends on queue 1, B on queue 0,
# so worker 1 receives a's datagrams on ra/1 and sends them out rb on its
# own queue rb/1, and worker 0 carries b's from rb/0 to ra/0. Peer a has
# two links (b and a key-only peer z), so its initiations are routed by
# MAC1 in userspace and its transport by receiver index: b's responses,
# learned by worker 0, must route a's transport data seen by worker 1.
# Checks: two queues bound per interface, ping and 5 MB each way through
# the tunnel, each queue's counters showing the traffic steered to it (in
# xdp mode the kernel forwards, and only a's initiations reach ra/1's XSK).
#
# Everything made here has a name unique to this run and is removed on any
# exit. Needs root; exits 77 (meson's "skipped") without it or without
# wireguard-go or with fewer than 2 CPUs.
set -euo pipefail
# shellcheck source=wg_lib.sh
. "$(dirname "$(realpath "$0")")/wg_lib.sh"

wg_args "$@" # MODE HD XFER HDCLI; skips without root or the tools
TAG="mq $MODE"
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || skip "needs 2 CPUs for 2 workers"
wg_names hdmq mq hdwg-mq a b # NS_A NS_B NS_R, IF_A IF_B, TMP; cleanup on exit
# shellcheck disable=SC2034 # read by the cleanup: relay log lines shown on failure
WG_LOG_TAIL=60

# ---- topology ----
step "namespaces (run $RUN)"
make_namespaces
veth a numtxqueues 2 numrxqueues 2
veth b numtxqueues 2 numrxqueues 2
veth_addr a 10.32.1.2/24 10.32.1.1/24
veth_addr b 10.32.2.2/24 10.32.2.1/24
# XPS: every CPU of A transmits on queue 1 of a0, every CPU of B on queue 0 of b0.
ALL_CPUS=$(printf '%x' $(( (1 << NCPU) - 1 )))
ip netns exec $NS_A sh -c "echo 0 >/sys/class/net/a0/queues/tx-0/xps_cpus &&
	echo $ALL_CPUS >/sys/class/net/a0/queues/tx-1/xps_cpus"
ip netns exec $NS_B sh -c "echo $ALL_CPUS >/sys/class/net/b0/queues/tx-0/xps_cpus &&
	echo 0 >/sys/class/net/b0/queues/tx-1/xps_cpus"

# ---- keys, table, relay ----
keys a b z
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.32.1.2:51820 alice pubkey=$(pub a)
peer b 10.32.2.2:51820 bob pubkey=$(pub b)
peer z 10.32.2.99:51820 zed pubkey=$(pub z)
link a b
link a z
EOT
relay_ini $MODE ra,rb "$TMP/mgmt.sock" "queues = auto"

step "relay in $MODE mode, queues = auto"
LOG=$TMP/relay.log
start_relay "$LOG"
grep "wg: relay on UDP port\|wg: worker" "$LOG"
grep -q "mode $MODE (.*; 4 queues, 2 workers" "$LOG" ||
	fail "want $MODE with 4 queues (2 per interface) on 2 workers"
grep -q "wg: worker 0 .*: 2 queues: ra/0 rb/0" "$LOG" || fail "worker 0 does not own queue 0"
grep -q "wg: worker 1 .*: 2 queues: ra/1 rb/1" "$LOG" || fail "worker 1 does not own queue 1"

# ---- peers ----
step "wireguard-go peers"
wireguard_go a b
wg_set a peer "$(pub b)" endpoint 10.32.1.1:51820 allowed-ips 10.201.0.2/32
wg_set b peer "$(pub a)" endpoint 10.32.2.1:51820 allowed-ips 10.201.0.1/32
tunnel_up 10.201.0 a b

step "ping a->b, b->a"
ping_through $NS_A 10.201.0.2 10
ping5 $NS_B 10.201.0.1

step "5 MB a->b and 5 MB b->a over TCP through the tunnel"
bulk $NS_A $NS_B 10.201.0.2 5000000
bulk $NS_B $NS_A 10.201.0.1 5000000

step "hdcli wg show"
hd wg show | tee "$TMP/show.out" | sed -n '/^queues/,/^links/p'
grep -q "^queues: 4 on 2 workers" "$TMP/show.out" || fail "wg show does not list the queues"

stop_relay
sed -n '/final state/,$p' "$LOG" | sed -n '/queues:/,/links:/p'
# Some 3500 datagrams each way; ACKs ride the other direction.
case $MODE in
afxdp)
	expect "$(queue ra 1 5)" -ge 3000 "ra/1 received (a sends on queue 1)"
	expect "$(queue rb 0 5)" -ge 3000 "rb/0 received (b sends on queue 0)"
	# What worker 1 received on ra/1 it sent on its own rb/1; worker 0 from rb/0 to ra/0.
	expect "$(queue rb 1 6)" -ge 3000 "rb/1 sent"
	expect "$(queue ra 0 6)" -ge 3000 "ra/0 sent"
	expect "$(counter drop_no_route)" = 0 "datagrams without a route"
	;;
xdp)
	# The kernel forwards; only a's initiations (MAC1) reach an XSK: ra/1's.
	expect "$(counter xdp_redirect)" -ge 6000 "XDP forwarded"
	expect "$(queue ra 1 5)" -ge 1 "a's initiations at the XSK of ra/1"
	expect "$(queue ra 0 5)" = 0 "ra/0 received, but a sends on queue 1"
	;;
esac
echo "PASS [$TAG]"
