#!/bin/bash
# SPDX-License-Identifier: MIT
#
# HD against DERP on the same relay, same load, one run (issue 14). One relay
# serves both (/derp and /hd on one port, [hd] require_token = false); each
# load runs over DERP and over HD with hdbench's one pair engine (hdbench
# --proto hd: the same pairs, sizes, window, acknowledgements and pacing,
# only the framing differs), alternating DERP HD / HD DERP over --runs so
# machine noise hits both. Loads (8 pairs, every packet content-checked):
#   window1k   1000 B, at most 16 unacknowledged per pair, every packet
#              acknowledged back through the relay (--ack): request/response
#   paced1k    the same at 2000 packets/s per pair
#   window16k  16 KiB, window 8, acknowledged
#   paced16k   16 KiB at 250 packets/s per pair, acknowledged
# Per protocol it prints medians: packets/s, Mbit/s of payload, the relay's
# CPU seconds per GB of payload (/proc/PID/stat), the whole machine's busy
# CPU seconds per GB minus hdbench's own CPU (from /proc/stat: on a shared
# machine this includes everyone else's work), p50/p99 round trip; and the
# ratio HD/DERP of each; and hdbench's own CPU s per GB (the clients' side). With perf installed, one more windowed run per
# protocol under `perf record` for the relay's top symbols.
#
#   perf/hd_vs_derp.sh                      # 3 runs of 3 s per load and protocol
#   perf/hd_vs_derp.sh --runs 5 --duration 5 --tls --workers 2
#
# Writes perf/results/<timestamp>-hd-vs-derp/{runs.csv,summary.csv,report.md}.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
DURATION=3
TLS=0
WORKERS=""
LOADS="window1k paced1k window16k paced16k"
PROFILE=1
usage() {
	sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'
	echo "options: --runs N --duration SEC --tls --workers N --loads \"...\" --no-profile"
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--tls) TLS=1 ;;
	--workers) WORKERS=$2; shift ;;
	--loads) LOADS=$2; shift ;;
	--no-profile) PROFILE=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/hd_vs_derp.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/hdbench
RELAY_BIN=$ROOT/build-perf/src/hyper-derp
HDBENCH=$ROOT/build-perf/tools/hdbench
PERF=$(command -v perf || true)
[ "$PROFILE" = 1 ] || PERF=""

OUT=$ROOT/perf/results/$(date -u +%Y%m%dT%H%M%SZ)-hd-vs-derp
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/hd-vs-derp.XXXXXX)
PID=""
cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TLS_FLAGS=()
{
	echo "[server]"
	echo "listen = 127.0.0.1"
	echo "port = 0"
	echo "key_file = $SCRATCH/relay.key"
	[ -z "$WORKERS" ] || echo "workers = $WORKERS"
	echo "[mgmt]"
	echo "socket ="
	echo "[hd]"
	echo "require_token = false"
	if [ "$TLS" = 1 ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			-keyout "$SCRATCH/tls.key" -out "$SCRATCH/tls.crt" >/dev/null 2>&1
		echo "[tls]"
		echo "cert = $SCRATCH/tls.crt"
		echo "key = $SCRATCH/tls.key"
		TLS_FLAGS=(--tls --tls-ca "$SCRATCH/tls.crt")
	fi
} >"$SCRATCH/relay.ini"
: >"$SCRATCH/relay.log"
"$RELAY_BIN" --config "$SCRATCH/relay.ini" >>"$SCRATCH/relay.log" 2>&1 &
PID=$!
PORT=""
for _ in $(seq 1 100); do
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$SCRATCH/relay.log" |
		head -1)
	[ -n "$PORT" ] && break
	sleep 0.1
done
if [ -z "$PORT" ]; then
	echo "perf/hd_vs_derp.sh: the relay did not start; its log:" >&2
	cat "$SCRATCH/relay.log" >&2
	exit 1
fi

load_args() {
	case $1 in
	window1k) echo "--pairs 8 --size 1000 --window 16 --ack" ;;
	paced1k) echo "--pairs 8 --size 1000 --window 16 --ack --rate 2000" ;;
	window16k) echo "--pairs 8 --size 16384 --window 8 --ack" ;;
	paced16k) echo "--pairs 8 --size 16384 --window 8 --ack --rate 250" ;;
	*) echo "perf/hd_vs_derp.sh: unknown load $1" >&2; exit 2 ;;
	esac
}

# Busy CPU seconds of the whole machine so far (user, nice, system, irq, softirq, steal).
machine_busy_s() {
	awk -v t="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat
}

jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(eval(sys.argv[1], {}, d))' "$1" "$2"; }

{
	echo "machine: $(nproc) CPUs, $(uname -r), $(date -u)"
	echo "relay: one process, ${WORKERS:-default} workers, $([ "$TLS" = 1 ] && echo TLS || echo plain TCP)"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"

echo "load,proto,run,packets_per_s,mbit_per_s,payload_gb,relay_cpu_s,hdbench_cpu_s,machine_cpu_s,p50_us,p99_us,lost" >"$OUT/runs.csv"
for run in $(seq 1 "$RUNS"); do
	for load in $LOADS; do
		# DERP first on odd runs, HD first on even ones.
		order="derp hd"
		[ $((run % 2)) = 0 ] && order="hd derp"
		for proto in $order; do
			a=$(machine_busy_s)
			# shellcheck disable=SC2046
			j=$("$HDBENCH" --proto "$proto" --port "$PORT" "${TLS_FLAGS[@]}" $(load_args "$load") \
				--duration "$DURATION" --relay-pid "$PID" --json 2>"$SCRATCH/err") || true
			b=$(machine_busy_s)
			if [ -z "$j" ] || [ "$(jget ok "$j")" != True ]; then
				echo "perf/hd_vs_derp.sh: $load $proto run $run failed:" >&2
				head -5 "$SCRATCH/err" >&2
				[ -n "$j" ] || continue
			fi
			size=$(jget size "$j")
			gb=$(python3 -c "print($(jget received "$j") * $size / 1e9)")
			hb=$(jget hdbench_cpu_s "$j")
			machine=$(python3 -c "print(max(0.0, $b - $a - $hb))")
			echo "$load,$proto,$run,$(jget packets_per_s "$j"),$(jget mbit_per_s "$j"),$gb,$(jget relay_cpu_s "$j"),$hb,$machine,$(jget 'latency_us["p50"]' "$j"),$(jget 'latency_us["p99"]' "$j"),$(jget lost "$j")" >>"$OUT/runs.csv"
		done
	done
	echo "perf/hd_vs_derp.sh: round $run of $RUNS done" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

: >"$OUT/profiles.txt"
if [ -n "$PERF" ]; then
	for proto in derp hd; do
		"$PERF" record -q -e cpu-clock -F 2000 -p "$PID" -o "$SCRATCH/$proto.perf" \
			-- sleep "$DURATION" >/dev/null 2>&1 &
		ppid=$!
		sleep 0.2
		# shellcheck disable=SC2046
		"$HDBENCH" --proto "$proto" --port "$PORT" "${TLS_FLAGS[@]}" $(load_args window1k) \
			--duration "$(python3 -c "print(max(1, $DURATION - 1))")" >/dev/null 2>&1 || true
		wait "$ppid" || true
		{
			echo "== $proto: the relay's top symbols, window1k"
			"$PERF" report -i "$SCRATCH/$proto.perf" --stdio --no-children --sort sym \
				2>/dev/null | grep -E '^ +[0-9.]+%' | head -15 || true
		} >>"$OUT/profiles.txt"
	done
else
	echo "perf not installed (or --no-profile): no profiles" >"$OUT/profiles.txt"
fi

python3 - "$OUT" "$RUNS" "$DURATION" <<'EOF'
import csv, statistics, sys
out, runs, dur = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(out + "/runs.csv")))
loads = list(dict.fromkeys(r["load"] for r in rows))
def vals(l, p, k):
    return [float(r[k]) for r in rows if r["load"] == l and r["proto"] == p]
def med(l, p, k):
    v = vals(l, p, k)
    return statistics.median(v) if v else float("nan")
def per_gb(l, p, k):
    # Per run, then the median: CPU seconds per GB of payload.
    v = [float(r[k]) / float(r["payload_gb"]) for r in rows
         if r["load"] == l and r["proto"] == p and float(r["payload_gb"]) > 0]
    return statistics.median(v) if v else float("nan")
def ratio(h, d):
    return h / d if d and d == d and d > 0 else float("nan")
cols = [("packets/s", lambda l, p: med(l, p, "packets_per_s"), "{:.0f}"),
        ("Mbit/s", lambda l, p: med(l, p, "mbit_per_s"), "{:.0f}"),
        ("relay CPU s/GB", lambda l, p: per_gb(l, p, "relay_cpu_s"), "{:.2f}"),
        ("machine CPU s/GB (minus hdbench)", lambda l, p: per_gb(l, p, "machine_cpu_s"), "{:.2f}"),
        ("hdbench CPU s/GB", lambda l, p: per_gb(l, p, "hdbench_cpu_s"), "{:.2f}"),
        ("p50 us", lambda l, p: med(l, p, "p50_us"), "{:.0f}"),
        ("p99 us", lambda l, p: med(l, p, "p99_us"), "{:.0f}")]
lines = ["# HD against DERP: one relay, the same load", "",
         f"Medians of {runs} runs of {dur} s per load and protocol, DERP and HD alternating "
         "(DERP first on odd runs). Latency is the round trip (packet and its acknowledgement "
         "through the relay). The machine is shared (2 vCPUs, other work running): the runs are "
         "short and the machine-wide CPU includes other processes; the relay's own CPU is the "
         "steadier figure. Lost packets fail hdbench and are counted.", ""]
with open(out + "/summary.csv", "w") as f:
    f.write("load,proto," + ",".join(c[0] for c in cols) + ",lost\n")
    for l in loads:
        lines += [f"## {l}", "",
                  "| | " + " | ".join(c[0] for c in cols) + " | lost |",
                  "|---|" + "---:|" * (len(cols) + 1)]
        for p in ("derp", "hd"):
            v = [c[1](l, p) for c in cols]
            lost = sum(int(float(x)) for x in vals(l, p, "lost"))
            f.write(f"{l},{p}," + ",".join(f"{x:.4g}" for x in v) + f",{lost}\n")
            lines.append(f"| {p.upper()} | " + " | ".join(c[2].format(x) for c, x in zip(cols, v)) + f" | {lost} |")
        r = [ratio(c[1](l, "hd"), c[1](l, "derp")) for c in cols]
        lines.append("| HD/DERP | " + " | ".join(f"{x:.2f}" for x in r) + " | |")
        lines.append("")
lines += ["## Profiles (perf record -e cpu-clock, one window1k run each)", "", "```"]
lines += open(out + "/profiles.txt").read().splitlines()
lines += ["```", ""] + open(out + "/env.txt").read().splitlines()
open(out + "/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "perf/hd_vs_derp.sh: every run in $OUT/runs.csv, report in $OUT/report.md"
