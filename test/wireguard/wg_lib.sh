# shellcheck shell=bash
# Shared by the WireGuard end-to-end tests (wg_e2e*.sh) and perf/wg_bench.sh:
# sourced, never run. It makes the namespaces, veths, wireguard-go peers and
# relay those scripts describe, reads the relay's final-state dump, and
# removes everything on exit. Each script stays the scenario it tests.
#
# The topology is always peers P (a, b, c, ...; one namespace NS_P each, with
# interface P0) around a relay namespace NS_R (interface rP facing peer P).
# Functions fail with "FAIL [$TAG]: ..." and print steps as "== [$TAG] ...".

WG_LIB_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")

skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL [$TAG]: $*" >&2
	exit 1
}
step() { echo "== [$TAG +${SECONDS}s] $*"; }

# wg_args MODE HYPER_DERP WG_XFER HDCLI: the tests' arguments (MODE, HD, XFER,
# HDCLI); skips without root or the tools; DPDK's leak suppressions.
wg_args() {
	MODE=${1:?mode}
	HD=$(realpath "${2:?hyper-derp binary}")
	XFER=$(realpath "${3:?wg_xfer binary}")
	HDCLI=$(realpath "${4:?hdcli binary}")
	TAG=$MODE
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	local tool
	for tool in wireguard-go wg ip ethtool ping; do
		command -v "$tool" >/dev/null || skip "$tool not installed"
	done
	if [ "$MODE" = dpdk ]; then
		# DPDK's PMD keeps a libbpf object per interface for the life of the process.
		export LSAN_OPTIONS="suppressions=$WG_LIB_DIR/lsan-dpdk.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	fi
}

# wg_names NS_PREFIX IF_PREFIX TMP_NAME PEER...: names unique to this run
# (RUN; NS_R and NS_<PEER> = NS_PREFIX-RUN-peer; IF_<PEER> = IF_PREFIX<peer>RUN,
# none if IF_PREFIX is empty), the scratch directory TMP (/tmp/TMP_NAME.XXXXXX),
# and the cleanup on every exit. Processes added to PIDS are stopped then.
# wireguard-go's UAPI sockets live in the shared /var/run, hence unique IF names.
wg_names() {
	local nsp=$1 ifp=$2 tmpname=$3 p
	shift 3
	RUN=$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))
	PEERS=("$@")
	ALL_NS=() WG_IFS=()
	for p in "${PEERS[@]}"; do
		printf -v "NS_${p^^}" '%s' "$nsp-$RUN-$p"
		ALL_NS+=("$nsp-$RUN-$p")
		if [ -n "$ifp" ]; then
			printf -v "IF_${p^^}" '%s' "$ifp$p$RUN"
			WG_IFS+=("$ifp$p$RUN")
		fi
	done
	NS_R=$nsp-$RUN-r
	ALL_NS+=("$NS_R")
	TMP=$(mktemp -d "/tmp/$tmpname.XXXXXX")
	PIDS=()
	trap wg_cleanup EXIT
	trap 'exit 1' INT TERM
}

# On a failure the tail (WG_LOG_TAIL lines, 0 for none) of the relay logs.
WG_LOG_TAIL=80
wg_cleanup() {
	local rc=$? pid ns i
	set +e
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${ALL_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for i in "${WG_IFS[@]}"; do
		rm -f "/var/run/wireguard/$i.sock"
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "$WG_LOG_TAIL" -gt 0 ]; then
		echo "---- relay log ----"
		cat "$TMP"/relay*.log 2>/dev/null | tail -n "$WG_LOG_TAIL"
	fi
	rm -rf "$TMP"
	exit $rc
}

# ns_of PEER: the peer's namespace.
ns_of() {
	local v=NS_${1^^}
	echo "${!v}"
}

# make_namespaces: every namespace of the run, with its loopback up.
make_namespaces() {
	local ns
	for ns in "${ALL_NS[@]}"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
}

# veth PEER [LINK-OPTION...]: PEER0 in the peer's namespace to rPEER in the
# relay's, both up, the options (numtxqueues 2 ...) given to both ends.
veth() {
	local p=$1 ns
	shift
	ns=$(ns_of "$p")
	ip link add ${p}0 netns "$ns" "$@" type veth peer name r$p netns $NS_R "$@"
	ip -n "$ns" link set ${p}0 up
	ip -n $NS_R link set r$p up
	# veth hands locally sent datagrams over with a partial checksum, which a
	# frame forwarded by XDP keeps; a real NIC would have completed it.
	ip netns exec "$ns" ethtool -K ${p}0 tx off >/dev/null
	# XDP_REDIRECT into a veth needs NAPI on its far end (GRO turns it on).
	ip netns exec "$ns" ethtool -K ${p}0 gro on >/dev/null
}

# veth_addr PEER PEER_ADDR RELAY_ADDR [OPTION...]: addresses on both ends of
# the peer's veth (OPTION: nodad, ...).
veth_addr() {
	local p=$1 pa=$2 ra=$3
	shift 3
	ip -n "$(ns_of "$p")" addr add "$pa" dev ${p}0 "$@"
	ip -n $NS_R addr add "$ra" dev r$p "$@"
}

# keys PEER...: TMP/PEER.key and TMP/PEER.pub; pub PEER prints the public key.
keys() {
	local p
	umask 077
	for p in "$@"; do
		wg genkey >"$TMP/$p.key"
		wg pubkey <"$TMP/$p.key" >"$TMP/$p.pub"
	done
}
pub() { cat "$TMP/$1.pub"; }

# relay_ini MODE INTERFACES MGMT_SOCKET [LINE...]: TMP/relay.ini for one worker
# relaying on UDP 51820 with the table in TMP/wg-table.conf; the LINEs are
# appended (to [wireguard], or after a section header of their own).
relay_ini() {
	local mode=$1 ifs=$2 sock=$3
	shift 3
	{
		cat <<EOT
[server]
listen = 127.0.0.1
port = 0
workers = 1
key_file = $TMP/server.key
[mgmt]
socket =${sock:+ $sock}
[wireguard]
enabled = true
listen_port = 51820
interface = $ifs
mode = $mode
table_file = $TMP/wg-table.conf
EOT
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$TMP/relay.ini"
}

# start_relay LOG [INI [READY]]: the relay in NS_R (RELAY_PID) with INI
# (TMP/relay.ini), once LOG says READY (it relays WireGuard); stop_relay
# stops it and fails unless it exited cleanly.
RELAY_PID=
start_relay() {
	local log=$1 ini=${2:-$TMP/relay.ini} ready=${3:-wg: relay on UDP port}
	: >"$log"
	ip netns exec $NS_R "$HD" --config "$ini" >"$log" 2>&1 &
	RELAY_PID=$!
	PIDS+=("$RELAY_PID")
	for _ in $(seq 100); do
		grep -q "$ready" "$log" && return 0
		kill -0 "$RELAY_PID" 2>/dev/null || fail "relay exited: $(tail -5 "$log")"
		sleep 0.1
	done
	fail "relay did not start"
}
stop_relay() {
	kill -TERM "$RELAY_PID"
	wait "$RELAY_PID" || fail "relay exit status $?"
}

# hd ARGS...: hdcli on the relay's management socket.
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

# wireguard_go PEER...: a wireguard-go interface IF_PEER in each peer's
# namespace (log TMP/wg-PEER.log), once its UAPI socket is there.
wireguard_go() {
	local p v
	for p in "$@"; do
		v=IF_${p^^}
		WG_PROCESS_FOREGROUND=1 ip netns exec "$(ns_of "$p")" wireguard-go "${!v}" \
			>"$TMP/wg-$p.log" 2>&1 &
		PIDS+=("$!")
	done
	for p in "$@"; do
		v=IF_${p^^}
		for _ in $(seq 50); do
			[ -S /var/run/wireguard/${!v}.sock ] && break
			sleep 0.1
		done
	done
}
# wg_set PEER ARGS...: `wg set` on the peer's interface with its private key,
# listening on 51820; ARGS are its peers.
wg_set() {
	local p=$1 v=IF_${1^^}
	shift
	ip netns exec "$(ns_of "$p")" wg set "${!v}" private-key "$TMP/$p.key" listen-port 51820 "$@"
}
# tunnel_up NET PEER...: the peers' tunnel addresses NET.1, NET.2, ... (/24), up.
tunnel_up() {
	local net=$1 n=1 p v ns
	shift
	for p in "$@"; do
		v=IF_${p^^}
		ns=$(ns_of "$p")
		ip -n "$ns" addr add $net.$n/24 dev "${!v}"
		ip -n "$ns" link set "${!v}" up
		n=$((n + 1))
	done
}

# ping_through NS DST DEADLINE: waits for the first reply (handshake), then 5 of 5.
ping_through() {
	ip netns exec "$1" ping -c 1 -w "$3" -q "$2" >/dev/null || fail "no reply from $2 within $3 s"
	ping5 "$1" "$2"
}
# ping5 NS DST: 5 of 5 pings answered.
ping5() {
	ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -q "$2" | grep -q " 5 received" ||
		fail "ping to $2 lost packets"
}

# bulk FROM_NS TO_NS TO_ADDR BYTES: a TCP transfer, all of it received.
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

# sniff_start PEER...: for each peer, counts what its interface (PEER0)
# receives of spray's transport messages (wg_xfer sniff) for SNIFF_MS;
# sniff_wait PEER... waits for them, then sniff_count PEER prints the count.
SNIFF_MS=3000
sniff_start() {
	local p
	for p in "$@"; do
		ip netns exec "$(ns_of "$p")" "$XFER" sniff ${p}0 $SNIFF_MS >"$TMP/sniff-$p.out" 2>&1 &
		PIDS+=("$!")
		eval "SNIFF_PID_$p=$!"
	done
	for p in "$@"; do
		for _ in $(seq 50); do
			grep -q listening "$TMP/sniff-$p.out" && break
			sleep 0.1
		done
		grep -q listening "$TMP/sniff-$p.out" || fail "sniffer on ${p}0: $(cat "$TMP/sniff-$p.out")"
	done
}
# sniff_wait PEER...: waits for those sniffers to end (in this shell, not a $(...)).
sniff_wait() {
	local p v
	for p in "$@"; do
		v=SNIFF_PID_$p
		wait "${!v}" || fail "sniffer on ${p}0: $(cat "$TMP/sniff-$p.out")"
	done
}
sniff_count() { tail -1 "$TMP/sniff-$1.out"; }

# Reading the relay's final-state dump, in LOG unless another log is given.
# counter NAME [LOG]: a counter's value.
counter() {
	grep -o "$1=[0-9]*" "${2:-$LOG}" | tail -1 | cut -d= -f2
}
# peer_col NAME COL [LOG]: a column of a peer's row
# (1 name, 2 endpoint, 3 label, 4 links, 5 rx packets, 6 rx bytes, 7 tx packets, 8 tx bytes).
peer_col() {
	awk -v n="$1" -v c="$2" '{
		for (i = 1; i < NF; i++)
			if ($i == "wg:" && $(i + 1) == n && NF >= i + 9) v = $(i + c)
	} END { print v }' "${3:-$LOG}"
}
# queue IF Q COL [LOG]: a column of the queue table (3 worker, 5 rx, 6 tx).
queue() {
	awk -v i="$1" -v q="$2" -v c="$3" '{
		for (k = 1; k < NF; k++)
			if ($k == "wg:" && $(k + 1) == i && $(k + 2) == q && NF >= k + 6) v = $(k + c)
	} END { print v }' "${4:-$LOG}"
}
# expect VALUE OP WANT WHAT: VALUE compared with WANT by test(1)'s OP (=, -ge,
# -le), or fail with "WHAT: VALUE, want WANT". An empty VALUE passes no check.
expect() {
	local w=$3
	case $2 in
	-ge) w=">= $3" ;;
	-le) w="<= $3" ;;
	esac
	[ -n "$1" ] && test "$1" "$2" "$3" 2>/dev/null || fail "$4: ${1:-none}, want $w"
}
