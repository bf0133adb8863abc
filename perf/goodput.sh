#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Goodput of TCP inside WireGuard over DERP, Tailscale's DERP path, for the
# relay's two send-queue policies side by side in one run: headdrop
# (derper's: 32 packets per destination, oldest dropped) and codel (byte
# budget, fair queueing per source, sojourn-time drops). wireguard-go peers
# in two namespaces, each behind a derp_udp_bridge, both relays in a third
# (test/wireguard/wg_derp_lib.sh); wg_xfer moves BYTES over TCP through the
# tunnel, every byte checked. The receiving bridge reads its DERP connection
# at RATE Mbit/s at most: a slow receiver, like a phone or a busy laptop.
# Runs alternate between the policies (A B, then B A, ...) so machine noise
# hits both. Prints per policy: median, min, max goodput, collapsed runs
# (below a third of that policy's median, or failed: wg_xfer's 30 s
# deadline), and the relay's drops by reason; then the codel/headdrop
# ratio of the medians. Writes perf/results/<timestamp>-goodput/runs.csv.
#
#   perf/goodput.sh                             # 8 runs each, 20 MiB, receiver at 100 Mbit/s
#   perf/goodput.sh --runs 12 --rate 0 --bytes 10485760    # 0: no rate limit
#   perf/goodput.sh --ini "codel_target_us = 2000"        # extra [limits] line, codel relay
#
# Needs root (network namespaces) and wireguard-go (scripts/deps.sh installs it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=8
BYTES=20971520
RATE=100
RCVBUF=0
STALL=
PERIOD=
CODEL_INI=()
usage() {
	sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'
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
BRIDGE_STALL=$STALL
BRIDGE_PERIOD=$PERIOD
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

echo "run,policy,seconds,mbit,drops" >"$OUT/runs.csv"
step "$RUNS runs per policy, $BYTES bytes, receiver at ${RATE} Mbit/s (0 = unlimited), alternating"
for i in $(seq "$RUNS"); do
	order="headdrop codel"
	[ $((i % 2)) -eq 0 ] && order="codel headdrop"
	for pol in $order; do
		before=$(drops $pol)
		bridges_up "${PORT[$pol]}" "$RATE"
		if r=$(xfer "$BYTES") && [ -n "$r" ]; then
			read -r secs mbit <<<"$r"
		else
			secs=fail mbit=0
		fi
		bridges_down
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
		printf '   run %2d %-8s %6s s %7s Mbit/s  drops: %s\n' "$i" "$pol" "$secs" "$mbit" "${d:-none}"
		echo "$i,$pol,$secs,$mbit,${d:-}" >>"$OUT/runs.csv"
	done
done

step "summary (also in $OUT/summary.txt)"
python3 - "$OUT/runs.csv" "$RATE" "$BYTES" <<'EOF' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("receiver at %s Mbit/s (0 = unlimited), %s bytes per run" % (sys.argv[2], sys.argv[3]))
print("%-9s %5s %8s %8s %8s %10s  %s" % ("policy", "runs", "median", "min", "max", "collapsed", "drops (all runs)"))
med = {}
for pol in ("headdrop", "codel"):
    r = [x for x in rows if x["policy"] == pol]
    g = [float(x["mbit"]) for x in r]
    m = statistics.median(g)
    med[pol] = m
    collapsed = sum(1 for v in g if v < m / 3)
    drops = {}
    for x in r:
        for kv in x["drops"].split():
            k, v = kv.split("=")
            drops[k] = drops.get(k, 0) + int(v)
    print("%-9s %5d %8.1f %8.1f %8.1f %10d  %s" % (pol, len(g), m, min(g), max(g), collapsed,
          " ".join("%s=%d" % kv for kv in sorted(drops.items())) or "none"))
if med["headdrop"] > 0:
    print("codel/headdrop median goodput: %.2fx" % (med["codel"] / med["headdrop"]))
EOF
