#!/bin/bash
# SPDX-License-Identifier: MIT
#
# In-place relaying against copying, in one run: two release relays side by
# side, identical but for limits.pinned_recv_buffers (256: packets relayed
# from their receive buffer; 0: every packet copied into a packet buffer),
# driven by the same hdbench cell alternately, so machine noise hits both.
# Prints a table of medians and the in-place/copy ratios and writes
# perf/results/<timestamp>-inplace/{runs,summary}.csv. docs/buffers.md says
# what the two paths are.
#
#   perf/inplace_ab.sh                      # 64/1400/16384 B, 1 and 2 workers, 5 runs of 5 s
#   perf/inplace_ab.sh --runs 3 --duration 3 --sizes 1400 --workers 1
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5
DURATION=5
SIZES="64 1400 16384"
WORKERS="1 2"
usage() {
	sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'
	echo "options: --runs N --duration SEC --sizes \"S ...\" --workers \"W ...\""
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/inplace_ab.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/scripts/deps.sh"
hd_install_packages "${HD_PACKAGES[@]}"
. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/hdbench
RELAY_BIN=$ROOT/build-perf/src/hyper-derp
HDBENCH=$ROOT/build-perf/tools/hdbench

OUT=$ROOT/perf/results/$(date -u +%Y%m%dT%H%M%SZ)-inplace
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/hd-inplace-ab.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# relay_up NAME PINNED WORKERS: starts a relay on a free port; sets PORT and PID.
relay_up() {
	local name=$1 pinned=$2 workers=$3 i
	cat >"$SCRATCH/$name.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = 0
		workers = $workers
		key_file = $SCRATCH/$name.key
		[limits]
		pinned_recv_buffers = $pinned
		[mgmt]
		socket =
		[log]
		level = info
	EOF
	# The log exists before the relay starts: the background child opens it later.
	: >"$SCRATCH/$name.log"
	"$RELAY_BIN" --config "$SCRATCH/$name.ini" >>"$SCRATCH/$name.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	PORT=""
	for i in $(seq 1 100); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' \
			"$SCRATCH/$name.log" | head -1)
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "perf/inplace_ab.sh: relay $name did not start; its log:" >&2
	cat "$SCRATCH/$name.log" >&2
	exit 1
}

relay_down() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(eval(sys.argv[1], {}, d))' "$1" "$2"; }

echo "variant,workers,size,pairs,run,packets_per_s,mbit_per_s,relay_cpu_s_per_gb,p99_us,lost,corrupt" >"$OUT/runs.csv"
for w in $WORKERS; do
	relay_up inplace 256 "$w"
	PORT_A=$PORT PID_A=$PID
	relay_up copy 0 "$w"
	PORT_B=$PORT PID_B=$PID
	for size in $SIZES; do
		pairs=8
		[ "$size" -le 64 ] && pairs=64
		for run in $(seq 1 "$RUNS"); do
			for v in inplace copy; do
				if [ $v = inplace ]; then port=$PORT_A pid=$PID_A; else port=$PORT_B pid=$PID_B; fi
				j=$("$HDBENCH" --port "$port" --pairs "$pairs" --size "$size" \
					--duration "$DURATION" --relay-pid "$pid" --json)
				echo "$v,$w,$size,$pairs,$run,$(jget packets_per_s "$j"),$(jget mbit_per_s "$j"),$(jget relay_cpu_s_per_gb "$j"),$(jget 'latency_us["p99"]' "$j"),$(jget lost "$j"),$(jget corrupt "$j")" >>"$OUT/runs.csv"
			done
		done
	done
	relay_down "$PID_A"
	relay_down "$PID_B"
done

python3 - "$OUT" <<'EOF'
import csv, statistics, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(out + "/runs.csv")))
cells = sorted({(int(r["workers"]), int(r["size"]), int(r["pairs"])) for r in rows})
def med(v, w, s, key):
    return statistics.median(float(r[key]) for r in rows
        if r["variant"] == v and int(r["workers"]) == w and int(r["size"]) == s)
with open(out + "/summary.csv", "w") as f:
    f.write("workers,size,pairs,inplace_pps,copy_pps,pps_ratio,inplace_cpu_s_per_gb,copy_cpu_s_per_gb,cpu_ratio,lost,corrupt\n")
    print("workers  size  pairs   in-place pkt/s   copy pkt/s  ratio   CPU s/GB in-place / copy  ratio")
    for w, s, p in cells:
        a, b = med("inplace", w, s, "packets_per_s"), med("copy", w, s, "packets_per_s")
        ca, cb = med("inplace", w, s, "relay_cpu_s_per_gb"), med("copy", w, s, "relay_cpu_s_per_gb")
        lost = sum(int(r["lost"]) for r in rows if int(r["workers"]) == w and int(r["size"]) == s)
        bad = sum(int(r["corrupt"]) for r in rows if int(r["workers"]) == w and int(r["size"]) == s)
        f.write(f"{w},{s},{p},{a:.0f},{b:.0f},{a/b:.3f},{ca:.3f},{cb:.3f},{ca/cb:.3f},{lost},{bad}\n")
        print(f"{w:7d} {s:5d} {p:6d} {a:16.0f} {b:12.0f} {a/b:6.2f}   {ca:8.3f} / {cb:<8.3f}       {ca/cb:5.2f}"
              + (f"   LOST {lost} CORRUPT {bad}" if lost or bad else ""))
EOF
echo "perf/inplace_ab.sh: medians of $RUNS runs of $DURATION s; every run in $OUT/runs.csv"
