#!/bin/bash
# SPDX-License-Identifier: MIT
#
# CPU per relayed byte at real load, for several worker/spin settings side by
# side in one run. Every setting is a relay of its own (all started at once,
# on their own ports); each load runs against each relay in turn, RUNS times
# round-robin, so machine noise hits them all alike. Loads (8 pairs):
#   window  1000 B, at most 16 packets per pair unacknowledged, every packet
#           acknowledged back through the relay (hdbench --ack): the
#           request/response shape of a tunnel at moderate load
#   paced   the same at a fixed 2000 packets/s per pair
#   sat1400, sat16k   unwindowed saturation (hdbench default window), 1400 B
#           and 16 KiB payloads: throughput must not suffer
#   idle    no clients: relay CPU over DURATION seconds
# Then one extra windowed run per relay under `perf record` (cpu-clock) for
# the top symbols. With --base DIR, a relay built from DIR (another checkout,
# e.g. the commit before a change) runs with its default configuration as
# setting "base". Writes perf/results/<timestamp>-efficiency/{runs.csv,
# summary.csv,report.md}; docs/polling.md explains the settings.
#
#   perf/efficiency.sh                           # 5 runs of 5 s
#   perf/efficiency.sh --runs 3 --base /tmp/old-checkout
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5
DURATION=5
BASE=""
RATE=2000
# name:workers:pin_cores:idle_spin_us ("-" = the key is not set: the default)
SETTINGS="default:-:-:- w1-spin0:1:auto:0 w1-spin50:1:auto:50 w2-spin0:2:auto:0 w2-spin50:2:auto:50 w2-nopin:2:none:-"
LOADS="window paced sat1400 sat16k idle"
usage() {
	sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'
	echo "options: --runs N --duration SEC --base DIR --settings \"name:w:pin:spin ...\" --loads \"...\""
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--base) BASE=$2; shift ;;
	--settings) SETTINGS=$2; shift ;;
	--loads) LOADS=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/efficiency.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
build() {
	perf_build "$1" src/hyper-derp tools/hdbench
}
build "$ROOT"
HDBENCH=$ROOT/build-perf/tools/hdbench
if [ -n "$BASE" ]; then
	build "$BASE"
	SETTINGS="base:-:-:- $SETTINGS"
fi
PERF=$(command -v perf || true)

OUT=$ROOT/perf/results/$(date -u +%Y%m%dT%H%M%SZ)-efficiency
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/hd-efficiency.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A PORT_OF PID_OF
# relay_up NAME WORKERS PIN SPIN: starts a relay on a free port.
relay_up() {
	local name=$1 workers=$2 pin=$3 spin=$4 bin=$ROOT/build-perf/src/hyper-derp i port=""
	[ "$name" = base ] && bin=$BASE/build-perf/src/hyper-derp
	{
		echo "[server]"
		echo "listen = 127.0.0.1"
		echo "port = 0"
		echo "key_file = $SCRATCH/$name.key"
		[ "$workers" = - ] || echo "workers = $workers"
		[ "$pin" = - ] || echo "pin_cores = $pin"
		[ "$spin" = - ] || echo "idle_spin_us = $spin"
		echo "[mgmt]"
		echo "socket ="
	} >"$SCRATCH/$name.ini"
	: >"$SCRATCH/$name.log"
	"$bin" --config "$SCRATCH/$name.ini" >>"$SCRATCH/$name.log" 2>&1 &
	PID_OF[$name]=$!
	PIDS+=("$!")
	for i in $(seq 1 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' \
			"$SCRATCH/$name.log" | head -1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "perf/efficiency.sh: relay $name did not start; its log:" >&2
		cat "$SCRATCH/$name.log" >&2
		exit 1
	fi
	PORT_OF[$name]=$port
}

cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }

load_args() {
	case $1 in
	window) echo "--pairs 8 --size 1000 --window 16 --ack" ;;
	paced) echo "--pairs 8 --size 1000 --window 16 --ack --rate $RATE" ;;
	sat1400) echo "--pairs 8 --size 1400" ;;
	sat16k) echo "--pairs 8 --size 16384" ;;
	esac
}

jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(eval(sys.argv[1], {}, d))' "$1" "$2"; }

NAMES=()
for s in $SETTINGS; do
	IFS=: read -r name w pin spin <<<"$s"
	relay_up "$name" "$w" "$pin" "$spin"
	NAMES+=("$name")
done
{
	echo "# machine: $(nproc) CPUs, $(uname -r); $(date -u)"
	echo "# settings: $SETTINGS"
	echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"

echo "setting,load,run,packets_per_s,mbit_per_s,relay_cpu_s,relay_cpu_s_per_gb,p50_us,p99_us,lost" >"$OUT/runs.csv"
for run in $(seq 1 "$RUNS"); do
	for load in $LOADS; do
		for name in "${NAMES[@]}"; do
			pid=${PID_OF[$name]}
			if [ "$load" = idle ]; then
				a=$(cpu_s "$pid")
				sleep "$DURATION"
				b=$(cpu_s "$pid")
				echo "$name,idle,$run,0,0,$(echo "$b - $a" | bc -l),0,0,0,0" >>"$OUT/runs.csv"
				continue
			fi
			# shellcheck disable=SC2046
			j=$("$HDBENCH" --port "${PORT_OF[$name]}" $(load_args "$load") \
				--duration "$DURATION" --relay-pid "$pid" --json) || true
			if [ -z "$j" ]; then
				echo "perf/efficiency.sh: $name $load run $run failed" >&2
				continue
			fi
			echo "$name,$load,$run,$(jget packets_per_s "$j"),$(jget mbit_per_s "$j"),$(jget relay_cpu_s "$j"),$(jget relay_cpu_s_per_gb "$j"),$(jget 'latency_us["p50"]' "$j"),$(jget 'latency_us["p99"]' "$j"),$(jget lost "$j")" >>"$OUT/runs.csv"
		done
	done
	echo "perf/efficiency.sh: round $run of $RUNS done" >&2
done

# Profiles: one more windowed run per relay, under perf record.
: >"$OUT/profiles.txt"
echo "setting,spin_clock_pct,loop_pct" >"$OUT/spin_share.csv"
# The idle spin and the clock reads (worker_idle is the spin since the
# adaptive polling; before it, the spin was the whole loop pass) ...
SPIN_SYMS='\] (worker_idle|worker_has_work|worker_now_ns|(__vdso_)?clock_gettime[^ ]*)[[:space:]]*$'
# ... and the whole loop with its ring polling, as issue 11 counted it.
LOOP_SYMS='\] (worker_main|worker_loop|worker_idle|worker_has_work|rings_have_work|spsc_ring_count|spsc_ring_dequeue_burst|worker_drain_peer_rings|worker_now_ns|(__vdso_)?clock_gettime[^ ]*)[[:space:]]*$'
if [ -n "$PERF" ]; then
	for name in "${NAMES[@]}"; do
		pid=${PID_OF[$name]}
		"$PERF" record -q -e cpu-clock -F 2000 -p "$pid" -o "$SCRATCH/$name.perf" \
			-- sleep "$DURATION" >/dev/null 2>&1 &
		ppid=$!
		sleep 0.2
		# shellcheck disable=SC2046
		"$HDBENCH" --port "${PORT_OF[$name]}" $(load_args window) \
			--duration "$((DURATION - 1))" >/dev/null || true
		wait "$ppid" || true
		"$PERF" report -i "$SCRATCH/$name.perf" --stdio --no-children --sort sym \
			2>/dev/null | grep -E '^ +[0-9.]+%' >"$SCRATCH/$name.syms" || true
		# The idle spin and the clock: the loop itself (the spin is inlined
		# into worker_main), its ring polling and every clock read.
		spin=$(grep -E "$SPIN_SYMS" "$SCRATCH/$name.syms" |
			awk '{ s += $1 } END { printf "%.1f", s }')
		loop=$(grep -E "$LOOP_SYMS" "$SCRATCH/$name.syms" |
			awk '{ s += $1 } END { printf "%.1f", s }')
		{
			echo "== $name: top symbols of the relay, windowed load"
			head -10 "$SCRATCH/$name.syms"
		} >>"$OUT/profiles.txt"
		echo "$name,$spin,$loop" >>"$OUT/spin_share.csv"
	done
else
	echo "perf not installed: no profiles" >"$OUT/profiles.txt"
fi

python3 - "$OUT" "$RUNS" "$DURATION" <<'EOF'
import csv, statistics, sys
out, runs, dur = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(out + "/runs.csv")))
names = list(dict.fromkeys(r["setting"] for r in rows))
loads = list(dict.fromkeys(r["load"] for r in rows))
def med(n, l, k):
    v = [float(r[k]) for r in rows if r["setting"] == n and r["load"] == l]
    return statistics.median(v) if v else float("nan")
ref = "base" if "base" in names else names[0]
lines = ["# Efficiency at real load", "",
         f"Medians of {runs} runs of {dur} s, settings alternated round-robin. "
         f"`vs {ref}`: relay CPU per GB relative to setting `{ref}`.", ""]
with open(out + "/summary.csv", "w") as f:
    f.write("load,setting,packets_per_s,mbit_per_s,relay_cpu_s_per_gb,cpu_vs_ref,p50_us,p99_us,relay_cpu_s,lost\n")
    for l in loads:
        lines += [f"## {l}", "",
                  "| setting | packets/s | Mbit/s | relay CPU s/GB | vs " + ref + " | p50 us | p99 us | relay CPU s | lost |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n in names:
            pps, mb, g = med(n, l, "packets_per_s"), med(n, l, "mbit_per_s"), med(n, l, "relay_cpu_s_per_gb")
            p50, p99, cpu = med(n, l, "p50_us"), med(n, l, "p99_us"), med(n, l, "relay_cpu_s")
            lost = sum(int(float(r["lost"])) for r in rows if r["setting"] == n and r["load"] == l)
            gr = med(ref, l, "relay_cpu_s_per_gb")
            ratio = g / gr if gr > 0 else float("nan")
            f.write(f"{l},{n},{pps:.0f},{mb:.1f},{g:.3f},{ratio:.3f},{p50:.1f},{p99:.1f},{cpu:.3f},{lost}\n")
            lines.append(f"| {n} | {pps:.0f} | {mb:.1f} | {g:.3f} | {ratio:.2f} | {p50:.1f} | {p99:.1f} | {cpu:.3f} | {lost} |")
        lines.append("")
share = list(csv.DictReader(open(out + "/spin_share.csv")))
if share:
    lines += ["## Share of the relay's profile in the idle spin and the loop", "",
              "One windowed run under perf record. Spin and clock: worker_idle (the spin; before the",
              "adaptive polling the spin was a whole loop pass, so base shows only its clock reads here),",
              "worker_now_ns, clock_gettime. Whole loop: also worker_main/worker_loop (real work inlined",
              "there too), worker_drain_peer_rings, spsc_ring_dequeue_burst, spsc_ring_count.", "",
              "| setting | spin and clock | whole loop and ring polling |", "|---|---:|---:|"]
    lines += [f"| {r['setting']} | {r['spin_clock_pct']}% | {r['loop_pct']}% |" for r in share]
    lines.append("")
lines += ["## Profiles (perf record -e cpu-clock, one windowed run each)", "", "```"]
lines += open(out + "/profiles.txt").read().splitlines()
lines += ["```", "", "Machine: " + open(out + "/env.txt").read().replace("\n", "; ")]
open(out + "/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "perf/efficiency.sh: every run in $OUT/runs.csv, report in $OUT/report.md"
