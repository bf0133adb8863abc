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

MODE=${1:?mode}
HD=$(realpath "${2:?hyper-derp binary}")
XFER=$(realpath "${3:?wg_xfer binary}")
HDCLI=$(realpath "${4:?hdcli binary}")

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
for tool in wireguard-go wg ip ethtool ping; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || skip "needs 2 CPUs for 2 workers"

RUN=$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))
NS_A=hdmq-$RUN-a NS_B=hdmq-$RUN-b NS_R=hdmq-$RUN-r
IF_A=mqa$RUN IF_B=mqb$RUN # wireguard-go UAPI sockets live in the shared /var/run
TMP=$(mktemp -d /tmp/hdwg-mq.XXXXXX)
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
	for ns in $NS_A $NS_B $NS_R; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f /var/run/wireguard/$IF_A.sock /var/run/wireguard/$IF_B.sock
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "---- relay log ----"
		tail -n 60 "$TMP/relay.log" 2>/dev/null
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL [mq $MODE]: $*" >&2
	exit 1
}
step() { echo "== [mq $MODE] $*"; }

# ---- topology ----
step "namespaces (run $RUN)"
for ns in $NS_A $NS_B $NS_R; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ALL_CPUS=$(printf '%x' $(( (1 << NCPU) - 1 )))
n=1
for p in a b; do
	ns_var=NS_${p^^}
	ns=${!ns_var}
	ip link add ${p}0 netns "$ns" numtxqueues 2 numrxqueues 2 type veth \
		peer name r$p netns $NS_R numtxqueues 2 numrxqueues 2
	ip -n "$ns" addr add 10.32.$n.2/24 dev ${p}0
	ip -n $NS_R addr add 10.32.$n.1/24 dev r$p
	ip -n "$ns" link set ${p}0 up
	ip -n $NS_R link set r$p up
	# As in wg_e2e.sh: complete checksums, and NAPI for XDP_REDIRECT into the veth.
	ip netns exec "$ns" ethtool -K ${p}0 tx off >/dev/null
	ip netns exec "$ns" ethtool -K ${p}0 gro on >/dev/null
	n=$((n + 1))
done
# XPS: every CPU of A transmits on queue 1 of a0, every CPU of B on queue 0 of b0.
ip netns exec $NS_A sh -c "echo 0 >/sys/class/net/a0/queues/tx-0/xps_cpus &&
	echo $ALL_CPUS >/sys/class/net/a0/queues/tx-1/xps_cpus"
ip netns exec $NS_B sh -c "echo $ALL_CPUS >/sys/class/net/b0/queues/tx-0/xps_cpus &&
	echo 0 >/sys/class/net/b0/queues/tx-1/xps_cpus"

# ---- keys, table, relay ----
umask 077
for p in a b z; do
	wg genkey >"$TMP/$p.key"
	wg pubkey <"$TMP/$p.key" >"$TMP/$p.pub"
done
cat >"$TMP/wg-table.conf" <<EOT
peer a 10.32.1.2:51820 alice pubkey=$(cat "$TMP/a.pub")
peer b 10.32.2.2:51820 bob pubkey=$(cat "$TMP/b.pub")
peer z 10.32.2.99:51820 zed pubkey=$(cat "$TMP/z.pub")
link a b
link a z
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
interface = ra,rb
mode = $MODE
queues = auto
table_file = $TMP/wg-table.conf
EOT

step "relay in $MODE mode, queues = auto"
ip netns exec $NS_R "$HD" --config "$TMP/relay.ini" >"$TMP/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
for _ in $(seq 100); do
	grep -q "wg: relay on UDP port" "$TMP/relay.log" && break
	kill -0 "$RELAY_PID" 2>/dev/null || fail "relay exited: $(tail -5 "$TMP/relay.log")"
	sleep 0.1
done
grep "wg: relay on UDP port\|wg: worker" "$TMP/relay.log" || fail "relay did not start"
grep -q "mode $MODE (.*; 4 queues, 2 workers" "$TMP/relay.log" ||
	fail "want $MODE with 4 queues (2 per interface) on 2 workers"
grep -q "wg: worker 0 .*: 2 queues: ra/0 rb/0" "$TMP/relay.log" || fail "worker 0 does not own queue 0"
grep -q "wg: worker 1 .*: 2 queues: ra/1 rb/1" "$TMP/relay.log" || fail "worker 1 does not own queue 1"

# ---- peers ----
step "wireguard-go peers"
for p in a b; do
	ns_var=NS_${p^^} if_var=IF_${p^^}
	WG_PROCESS_FOREGROUND=1 ip netns exec "${!ns_var}" wireguard-go "${!if_var}" \
		>"$TMP/wg-$p.log" 2>&1 &
	PIDS+=("$!")
done
for p in a b; do
	if_var=IF_${p^^}
	for _ in $(seq 50); do
		[ -S /var/run/wireguard/${!if_var}.sock ] && break
		sleep 0.1
	done
done
ip netns exec $NS_A wg set $IF_A private-key "$TMP/a.key" listen-port 51820 \
	peer "$(cat "$TMP/b.pub")" endpoint 10.32.1.1:51820 allowed-ips 10.201.0.2/32
ip netns exec $NS_B wg set $IF_B private-key "$TMP/b.key" listen-port 51820 \
	peer "$(cat "$TMP/a.pub")" endpoint 10.32.2.1:51820 allowed-ips 10.201.0.1/32
n=1
for p in a b; do
	ns_var=NS_${p^^} if_var=IF_${p^^}
	ip -n "${!ns_var}" addr add 10.201.0.$n/24 dev "${!if_var}"
	ip -n "${!ns_var}" link set "${!if_var}" up
	n=$((n + 1))
done

step "ping a->b, b->a"
ip netns exec $NS_A ping -c 1 -w 10 -q 10.201.0.2 >/dev/null || fail "no reply from b"
ip netns exec $NS_A ping -c 5 -i 0.2 -W 2 -q 10.201.0.2 | grep -q " 5 received" || fail "a->b lost pings"
ip netns exec $NS_B ping -c 5 -i 0.2 -W 2 -q 10.201.0.1 | grep -q " 5 received" || fail "b->a lost pings"

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
step "5 MB a->b and 5 MB b->a over TCP through the tunnel"
bulk $NS_A $NS_B 10.201.0.2 5000000
bulk $NS_B $NS_A 10.201.0.1 5000000

step "hdcli wg show"
"$HDCLI" --socket "$TMP/mgmt.sock" wg show | tee "$TMP/show.out" | sed -n '/^queues/,/^links/p'
grep -q "^queues: 4 on 2 workers" "$TMP/show.out" || fail "wg show does not list the queues"

kill -TERM "$RELAY_PID"
wait "$RELAY_PID" || fail "relay exit status $?"
LOG=$TMP/relay.log
# queue IF Q COL: a column of the final-state queue table (3 worker, 5 rx, 6 tx).
queue() {
	awk -v i="$1" -v q="$2" -v c="$3" '{
		for (k = 1; k < NF; k++)
			if ($k == "wg:" && $(k + 1) == i && $(k + 2) == q && NF >= k + 6) v = $(k + c)
	} END { print v }' "$LOG"
}
counter() {
	grep -o "$1=[0-9]*" "$LOG" | tail -1 | cut -d= -f2
}
sed -n '/final state/,$p' "$LOG" | sed -n '/queues:/,/links:/p'
# Some 3500 datagrams each way; ACKs ride the other direction.
want=3000
case $MODE in
afxdp)
	[ "$(queue ra 1 5)" -ge $want ] || fail "ra/1 received $(queue ra 1 5), want >= $want (a sends on queue 1)"
	[ "$(queue rb 0 5)" -ge $want ] || fail "rb/0 received $(queue rb 0 5), want >= $want (b sends on queue 0)"
	# What worker 1 received on ra/1 it sent on its own rb/1; worker 0 from rb/0 to ra/0.
	[ "$(queue rb 1 6)" -ge $want ] || fail "rb/1 sent $(queue rb 1 6), want >= $want"
	[ "$(queue ra 0 6)" -ge $want ] || fail "ra/0 sent $(queue ra 0 6), want >= $want"
	[ "$(counter drop_no_route)" = 0 ] || fail "$(counter drop_no_route) datagrams had no route"
	;;
xdp)
	# The kernel forwards; only a's initiations (MAC1) reach an XSK: ra/1's.
	[ "$(counter xdp_redirect)" -ge 6000 ] || fail "XDP forwarded only $(counter xdp_redirect)"
	[ "$(queue ra 1 5)" -ge 1 ] || fail "a's initiation did not reach the XSK of ra/1"
	[ "$(queue ra 0 5)" = 0 ] || fail "ra/0 received $(queue ra 0 5), but a sends on queue 1"
	;;
esac
echo "PASS [mq $MODE]"
