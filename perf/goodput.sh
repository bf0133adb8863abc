#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Goodput of TCP inside WireGuard over DERP, Tailscale's DERP path, for the
# relay's two send-queue policies side by side in one run: headdrop
# (derper's: 32 packets per destination, oldest dropped) and codel (byte
# budget, fair queueing per source, sojourn-time drops). wireguard-go peers
# in two namespaces, each behind a derp_udp_bridge, both relays in a third
# (test/wireguard/wg_derp_lib.sh); wg_xfer moves BYTES over TCP through the
# tunnel, every byte checked. The receiving bridge is a slow receiver, like a
# phone or a busy laptop: by default it gets the CPU for only half of every
# 100 ms (reads nothing for 50 ms, then all it can), with a 64 KiB socket
# receive buffer; --rate caps its reading at RATE Mbit/s instead or as well.
# Runs alternate between the policies (A B, then B A, ...) so machine noise
# hits both. Prints per policy: median, min, max goodput, collapsed runs
# (below a third of that policy's median, or failed: wg_xfer's 30 s
# deadline), and the relay's drops by reason; then the codel/headdrop
# ratio of the medians. Writes perf/results/<timestamp>-goodput/runs.csv.
#
#   perf/goodput.sh                             # 8 runs each, 20 MiB, receiver stalls 50/100 ms
#   perf/goodput.sh --rate 100 --stall 0        # receiver reads at 100 Mbit/s, no stalls
#   perf/goodput.sh --stall 0 --rcvbuf 0        # a fast receiver: no regression?
#   perf/goodput.sh --ini "codel_target_us = 2000"        # extra [limits] line, codel relay
#
# Needs root (network namespaces) and wireguard-go (scripts/deps.sh installs it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=8
BYTES=20971520
RATE=0
RCVBUF=65536
STALL=50
PERIOD=100
CODEL_INI=()
usage() {
	sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'
	echo "options: --runs N --bytes N --rate MBIT --stall MS --period MS --rcvbuf BYTES"
	echo "         --ini LINE (repeatable)"
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--bytes) BYTES=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--rcvbuf) RCVBUF=$2; shift ;;
	--stall) STALL=$2; shift ;;
	--period) PERIOD=$2; shift ;;
	--ini) CODEL_INI+=("$2"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/goodput.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/scripts/deps.sh"
hd_install_packages "${HD_PACKAGES[@]}"
BUILD=$ROOT/build-goodput
if [ ! -d "$BUILD" ]; then
	meson setup "$BUILD" -Dbuildtype=release >/dev/null
fi
ninja -C "$BUILD" src/hyper-derp tools/hdcli tools/derp_udp_bridge test/wireguard/wg_xfer >/dev/null

# shellcheck source=../test/wireguard/wg_lib.sh
. "$ROOT/test/wireguard/wg_lib.sh"
# shellcheck source=../test/wireguard/wg_derp_lib.sh
. "$ROOT/test/wireguard/wg_derp_lib.sh"
wg_args goodput "$BUILD/src/hyper-derp" "$BUILD/test/wireguard/wg_xfer" "$BUILD/tools/hdcli"
BRIDGE=$BUILD/tools/derp_udp_bridge
BRIDGE_RCVBUF=$RCVBUF
BRIDGE_STALL=
BRIDGE_PERIOD=
if [ "$STALL" -gt 0 ]; then
	BRIDGE_STALL=$STALL
	BRIDGE_PERIOD=$PERIOD
fi
WG_LOG_TAIL=0
wg_names hdgp gp hd-goodput a b

OUT=$ROOT/perf/results/$(date -u +%Y%m%dT%H%M%SZ)-goodput
mkdir -p "$OUT"
step "namespaces (run $RUN), wireguard-go peers, two relays"
derp_topology
derp_relay headdrop 3340 "queue_policy = headdrop" "queue_depth = 32"
derp_relay codel 3341 "queue_policy = codel" "${CODEL_INI[@]}"
declare -A PORT=([headdrop]=3340 [codel]=3341)
bridges_up 3340
ping_through $NS_A 10.200.0.2 10
bridges_down

# UDP datagrams dropped on a full socket buffer in B's namespace (the bridge
# writing into wireguard-go, or wireguard-go's TUN side): the receiving host's losses.
udp_rcvbuf_errors() {
	ip netns exec $NS_B awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

echo "run,policy,seconds,mbit,drops,host_drops" >"$OUT/runs.csv"
step "$RUNS runs per policy, $BYTES bytes, receiver: rate ${RATE} Mbit/s (0 = no cap), stalls ${STALL}/${PERIOD} ms, rcvbuf $RCVBUF; alternating"
for i in $(seq "$RUNS"); do
	order="headdrop codel"
	[ $((i % 2)) -eq 0 ] && order="codel headdrop"
	for pol in $order; do
		before=$(drops $pol)
		host_before=$(udp_rcvbuf_errors)
		bridges_up "${PORT[$pol]}" "$RATE"
		if r=$(xfer "$BYTES") && [ -n "$r" ]; then
			read -r secs mbit <<<"$r"
		else
			secs=fail mbit=0
		fi
		bridges_down
		# Losses outside the relay: datagrams a full UDP socket refused in B's namespace.
		host_loss=$(($(udp_rcvbuf_errors) - host_before))
		after=$(drops $pol)
		# This run's drops: the counters after, less those before.
		d=$(python3 - "$before" "$after" <<-'EOF'
			import sys
			def parse(s):
			    return {k: int(v) for k, v in (x.split("=") for x in s.split())}
			b, a = parse(sys.argv[1]), parse(sys.argv[2])
			print(" ".join("%s=%d" % (k, a[k] - b.get(k, 0)) for k in sorted(a) if a[k] - b.get(k, 0)))
		EOF
		)
		printf '   run %2d %-8s %6s s %7s Mbit/s  relay drops: %s; receiver host drops %s\n' \
			"$i" "$pol" "$secs" "$mbit" "${d:-none}" "${host_loss:-?}"
		echo "$i,$pol,$secs,$mbit,${d:-},${host_loss:-}" >>"$OUT/runs.csv"
	done
done

step "summary (also in $OUT/summary.txt)"
python3 - "$OUT/runs.csv" "rate $RATE Mbit/s (0 = no cap), stalls $STALL/$PERIOD ms, rcvbuf $RCVBUF" "$BYTES" <<'EOF' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("receiver: %s; %s bytes per run" % (sys.argv[2], sys.argv[3]))
print("%-9s %5s %8s %8s %8s %10s  %s" % ("policy", "runs", "median", "min", "max", "collapsed",
      "drops (all runs): relay by reason/kind; receiver host"))
med = {}
for pol in ("headdrop", "codel"):
    r = [x for x in rows if x["policy"] == pol]
    g = [float(x["mbit"]) for x in r]
    m = statistics.median(g)
    med[pol] = m
    collapsed = sum(1 for v in g if v < m / 3)
    drops = {}
    host = sum(int(x["host_drops"] or 0) for x in r)
    for x in r:
        for kv in x["drops"].split():
            k, v = kv.split("=")
            drops[k] = drops.get(k, 0) + int(v)
    print("%-9s %5d %8.1f %8.1f %8.1f %10d  %s; receiver host: %d" % (pol, len(g), m, min(g),
          max(g), collapsed, " ".join("%s=%d" % kv for kv in sorted(drops.items())) or "none",
          host))
if med["headdrop"] > 0:
    print("codel/headdrop median goodput: %.2fx" % (med["codel"] / med["headdrop"]))
EOF
