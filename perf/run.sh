#!/usr/bin/env bash
# perf/run.sh: hyper-derp's benchmark matrix, each figure next to the
# no-relay limit measured in the same run.
#
# For every cell (payload size x pairs x plain/TLS x workers) it runs, in
# this order and back to back so that they share the machine's state:
#   1. hdbench --direct   : the same traffic over direct loopback TCP (TLS
#                           for TLS cells), i.e. what the machine can do with
#                           no relay at all;
#   2. hdbench via relay  : the same, through hyper-derp;
#   3./4. the same two at a fixed, modest offered load, for latency.
# Then connection setup rate (plain, TLS) and idle connections (relay RSS per
# connection, CPU while idle). Results: perf/results/<timestamp>/ with CSVs,
# report.md and gnuplot PNGs (see perf/README.md).
#
# The relay and hdbench share this machine's CPUs: compare the ratios, and
# repeat (--repeat) when a figure matters; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() {
	cat <<'EOF'
usage: perf/run.sh [--quick] [options]
  --quick             short matrix (~3 min): 64/1400 bytes x 1/64 pairs
  --repeat N          run every cell N times, report medians (default 1)
  --sizes "A B"       payload sizes (default 64 1000 1400 16384)
  --pairs "A B"       sender/receiver pairs (default 1 8 64 1024)
  --workers "A B"     relay worker counts (default 1 2)
  --transports "A B"  plain and/or tls (default both)
  --duration SEC      seconds per throughput run (default 2; quick 1)
  --no-connections    skip the connection setup and idle tests
  --idle "N M"        idle connection counts (default 10000 100000; quick 10000)
  --out DIR           results directory (default perf/results/<timestamp>)
  --example           also copy the report to perf/results/example/
  --no-build          use the existing build-perf binaries
EOF
}

SIZES="64 1000 1400 16384"
PAIRS="1 8 64 1024"
WORKERS="1 2"
TRANSPORTS="plain tls"
DURATION=2
LAT_DURATION=2.5
REPEAT=1
CONNECTIONS=1
IDLE_COUNTS="10000 100000"
IDLE_TLS_COUNT=10000
HOLD=10
CONNECT_SECONDS=3
QUICK=0
EXAMPLE=0
BUILD=1
OUT=""
WINDOW=16
# Latency runs: total packets/s offered over all pairs (see latency_rate).
LAT_TOTAL_PPS=4000
LAT_TOTAL_PPS_LARGE=1000

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--repeat) REPEAT=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--pairs) PAIRS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--transports) TRANSPORTS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--no-connections) CONNECTIONS=0 ;;
	--idle) IDLE_COUNTS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--example) EXAMPLE=1 ;;
	--no-build) BUILD=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	SIZES="64 1400"
	PAIRS="1 64"
	DURATION=1
	LAT_DURATION=1.5
	IDLE_COUNTS="10000"
	IDLE_TLS_COUNT=0
	HOLD=3
	CONNECT_SECONDS=2
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/perf/results/$STAMP}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/hd-perf-XXXXXX)
RELAY_BIN=$ROOT/build-perf/src/hyper-derp
HDBENCH=$ROOT/build-perf/tools/hdbench
NOTES=$OUT/notes.txt
: >"$NOTES"

. "$ROOT/perf/relay.sh"

note() {
	echo "perf: $*" >&2
	echo "$*" >>"$NOTES"
}

cleanup() {
	relay_stop || true
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- setup ----

if [ "$BUILD" = 1 ]; then
	. "$ROOT/scripts/deps.sh"
	hd_install_packages "${HD_PACKAGES[@]}"
	. "$ROOT/perf/lib.sh"
	perf_build "$ROOT" src/hyper-derp tools/hdbench
fi
# Plots are optional: the report says so when gnuplot is missing.
if ! command -v gnuplot >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "perf: installing gnuplot-nox for the plots" >&2
	(apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
			apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1; }) ||
		true
fi

# Many connections: take the hard file limit (and more, where allowed).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$SCRATCH/tls.key" -out "$SCRATCH/tls.crt" >/dev/null 2>&1
printf '[server]\nmax_connections = 250000\n' >"$SCRATCH/relay.ini"

# ---- helpers ----

# Percent of all CPUs busy over one second, whoever uses them.
cpu_busy_pct() {
	local a b
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		busy = y[1] - x[1]; idle = y[2] - x[2];
		printf "%.0f\n", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}

# The busiest processes right now (a second sample of top, not lifetime averages).
busiest_processes() {
	top -b -n 2 -d 0.5 -o %CPU 2>/dev/null |
		awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 { printf "%s %s%%; ", $12, $9 }' |
		head -c 300
}

# jget KEY JSON: a number or string field of hdbench's one-line JSON.
jget() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$2"
}

median() {
	printf '%s\n' "$@" | grep -v '^$' | sort -g |
		awk '{v[NR] = $1} END {
			if (NR == 0) print "";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench LOGNAME ARGS...: runs hdbench --json; prints its JSON line (or nothing
# on a setup failure). Loss or a stall is exit 1: the JSON still tells.
bench() {
	local log="$SCRATCH/$1.err" json rc=0
	shift
	json=$("$HDBENCH" --json "$@" 2>"$log") || rc=$?
	if [ "$rc" -ge 2 ] || [ -z "$json" ]; then
		note "hdbench $* failed (exit $rc): $(head -c 300 "$log" | tr '\n' ' ')"
		return 0
	fi
	if [ "$rc" -eq 1 ]; then
		note "hdbench $*: $(grep -m3 FAIL "$log" | tr '\n' ' ')"
	fi
	echo "$json"
}

# Per-pair rate for latency runs: a fixed total, well below capacity.
latency_rate() {
	local size=$1 pairs=$2 total=$LAT_TOTAL_PPS
	[ "$size" -gt 4096 ] && total=$LAT_TOTAL_PPS_LARGE
	awk -v t="$total" -v p="$pairs" 'BEGIN { printf "%.4f\n", t / p }'
}

RUNS_CSV=$OUT/runs.csv
MATRIX_CSV=$OUT/matrix.csv
CONN_CSV=$OUT/connections.csv
echo "transport,workers,size,pairs,repeat,side,test,mbit_per_s,packets_per_s,sent,lost,stalled,relay_cpu_s_per_gb,p50_us,p99_us,p999_us,elapsed_s" >"$RUNS_CSV"
echo "transport,workers,size,pairs,window,repeats,mbit_per_s,packets_per_s,direct_mbit_per_s,direct_packets_per_s,fraction_of_direct,relay_cpu_s_per_gb,sent,lost,stalled_runs,latency_offered_pps,p50_us,p99_us,p999_us,direct_p50_us,direct_p99_us,direct_p999_us,latency_lost" >"$MATRIX_CSV"
echo "test,transport,workers,requested,measured,per_s,p50_ms,p99_ms,relay_cpu_us_per_handshake,rss_bytes_per_conn,idle_cpu_pct,kernel_slab_bytes_per_conn,closed_by_relay,failed,note" >"$CONN_CSV"

record_run() { # ctx side test json
	local ctx=$1 side=$2 test=$3 j=$4
	echo "$ctx,$side,$test,$(jget mbit_per_s "$j"),$(jget packets_per_s "$j"),$(jget sent "$j"),$(jget lost "$j"),$(jget stalled "$j"),$(jget relay_cpu_s_per_gb "$j" | sed 's/null//'),$(jget p50 "$j"),$(jget p99 "$j"),$(jget p999 "$j"),$(jget elapsed_s "$j")" >>"$RUNS_CSV"
}

# ---- the matrix ----

ncells=0
for _ in $TRANSPORTS; do for _ in $WORKERS; do for _ in $SIZES; do for _ in $PAIRS; do
	ncells=$((ncells + 1))
done; done; done; done
cell_no=0
start_s=$(date +%s)

run_cell() {
	local transport=$1 workers=$2 size=$3 pairs=$4 r tf rate common
	local mb=() pp=() dmb=() dpp=() frac=() cpu=() p50=() p99=() p999=() dp50=() dp99=() dp999=()
	local sent=0 lost=0 stalled=0 llost=0 j d
	tf=$(tls_flag "$transport")
	rate=$(latency_rate "$size" "$pairs")
	common=(--size "$size" --pairs "$pairs" --window "$WINDOW" --stall-timeout 2 $tf)
	for r in $(seq 1 "$REPEAT"); do
		local ctx="$transport,$workers,$size,$pairs,$r" tag="$transport-w$workers-$size-$pairs-$r"
		d=$(bench "$tag-dthr" --direct "${common[@]}" --duration "$DURATION")
		j=$(bench "$tag-rthr" --port "$RELAY_PORT" --relay-pid "$RELAY_PID" "${common[@]}" \
			--duration "$DURATION")
		record_run "$ctx" direct throughput "$d"
		record_run "$ctx" relay throughput "$j"
		if [ -n "$j" ]; then
			mb+=("$(jget mbit_per_s "$j")")
			pp+=("$(jget packets_per_s "$j")")
			cpu+=("$(jget relay_cpu_s_per_gb "$j")")
			sent=$((sent + $(jget sent "$j")))
			lost=$((lost + $(jget lost "$j")))
			[ "$(jget stalled "$j")" = true ] && stalled=$((stalled + 1))
		fi
		if [ -n "$d" ]; then
			dmb+=("$(jget mbit_per_s "$d")")
			dpp+=("$(jget packets_per_s "$d")")
		fi
		if [ -n "$j" ] && [ -n "$d" ]; then
			frac+=("$(awk -v a="$(jget mbit_per_s "$j")" -v b="$(jget mbit_per_s "$d")" \
				'BEGIN { if (b > 0) printf "%.4f\n", a / b }')")
		fi

		d=$(bench "$tag-dlat" --direct "${common[@]}" --rate "$rate" --duration "$LAT_DURATION")
		j=$(bench "$tag-rlat" --port "$RELAY_PORT" --relay-pid "$RELAY_PID" "${common[@]}" \
			--rate "$rate" --duration "$LAT_DURATION")
		record_run "$ctx" direct latency "$d"
		record_run "$ctx" relay latency "$j"
		if [ -n "$j" ]; then
			p50+=("$(jget p50 "$j")")
			p99+=("$(jget p99 "$j")")
			p999+=("$(jget p999 "$j")")
			llost=$((llost + $(jget lost "$j")))
		fi
		if [ -n "$d" ]; then
			dp50+=("$(jget p50 "$d")")
			dp99+=("$(jget p99 "$d")")
			dp999+=("$(jget p999 "$d")")
		fi
		if ! relay_alive; then
			note "relay died during $transport workers=$workers size=$size pairs=$pairs; log tail: $(tail -c 600 "$RELAY_LOG" | tr '\n' ' ')"
			RELAY_PID=""
			relay_start "$transport" "$workers" "$transport-w$workers-restart-$size-$pairs"
		fi
	done
	echo "$transport,$workers,$size,$pairs,$WINDOW,$REPEAT,$(median "${mb[@]}"),$(median "${pp[@]}"),$(median "${dmb[@]}"),$(median "${dpp[@]}"),$(median "${frac[@]}"),$(median "${cpu[@]}"),$sent,$lost,$stalled,$(awk -v r="$rate" -v p="$pairs" 'BEGIN { printf "%.0f", r * p }'),$(median "${p50[@]}"),$(median "${p99[@]}"),$(median "${p999[@]}"),$(median "${dp50[@]}"),$(median "${dp99[@]}"),$(median "${dp999[@]}"),$llost" >>"$MATRIX_CSV"
	cell_no=$((cell_no + 1))
	printf 'perf: [%d/%d %ds] %-5s w%s %5sB x%-4s %8.1f Mbit/s = %5.1f%% of direct, %6.2f CPU s/GB, lost %s; p50/p99/p999 %s/%s/%s us\n' \
		"$cell_no" "$ncells" "$(($(date +%s) - start_s))" "$transport" "$workers" "$size" "$pairs" \
		"$(median "${mb[@]}" | sed 's/^$/0/')" \
		"$(awk -v f="$(median "${frac[@]}")" 'BEGIN { printf "%.1f", f * 100 }')" \
		"$(median "${cpu[@]}" | sed 's/^$/0/')" "$lost" \
		"$(median "${p50[@]}")" "$(median "${p99[@]}")" "$(median "${p999[@]}")" >&2
}

BACKGROUND_START="$(cpu_busy_pct)% busy ($(busiest_processes))"
echo "perf: before the run, with nothing of ours running, the machine was $BACKGROUND_START" >&2
echo "perf: $ncells cells x $REPEAT repeat(s), ${DURATION} s throughput + ${LAT_DURATION} s latency runs each, relay and direct; results in $OUT" >&2
for transport in $TRANSPORTS; do
	for workers in $WORKERS; do
		relay_start "$transport" "$workers" "$transport-w$workers"
		for size in $SIZES; do
			for pairs in $PAIRS; do
				run_cell "$transport" "$workers" "$size" "$pairs"
			done
		done
		relay_stop
	done
done

# ---- connections ----

# Largest idle count this machine's file limit allows (both processes hold one fd each).
idle_cap() {
	local relay_limit
	relay_limit=$(awk '/Max open files/ { print $4 }' "/proc/$RELAY_PID/limits")
	awk -v a="$relay_limit" -v b="$FD_LIMIT" 'BEGIN {
		m = a < b ? a : b; m -= 1000; if (m < 0) m = 0; print int(m / 1000) * 1000 }'
}

connect_rate() {
	local transport=$1 j
	relay_start "$transport" 2 "$transport-connect"
	j=$(bench "connect-$transport" --port "$RELAY_PORT" --relay-pid "$RELAY_PID" \
		$(tls_flag "$transport") --connect-rate max --duration "$CONNECT_SECONDS")
	relay_stop
	echo "connect_rate,$transport,2,,$(jget handshakes "$j"),$(jget handshakes_per_s "$j"),$(jget p50 "$j"),$(jget p99 "$j"),$(jget relay_cpu_us_per_handshake "$j"),,,,,$(jget failed "$j")," >>"$CONN_CSV"
	echo "perf: connection setup over $transport: $(jget handshakes_per_s "$j") handshakes/s, $(jget relay_cpu_us_per_handshake "$j") us relay CPU each" >&2
}

idle_test() {
	local transport=$1 want=$2 n cap why="" j
	relay_start "$transport" 2 "$transport-idle-$want"
	cap=$(idle_cap)
	n=$want
	if [ "$n" -gt "$cap" ]; then
		n=$cap
		why="RLIMIT_NOFILE is $FD_LIMIT here and raising it needs CAP_SYS_RESOURCE: $n of $want"
		note "idle $want over $transport: measured $n connections ($why)"
	fi
	j=$(bench "idle-$transport-$want" --port "$RELAY_PORT" --relay-pid "$RELAY_PID" \
		$(tls_flag "$transport") --idle "$n" --hold "$HOLD")
	relay_stop
	echo "idle,$transport,2,$want,$(jget connected "$j"),$(jget setup_per_s "$j"),,,,$(jget rss_bytes_per_conn "$j"),$(jget idle_cpu_pct "$j"),$(jget kernel_slab_bytes_per_conn "$j"),$(jget closed_by_relay "$j"),$(jget failed "$j"),$why" >>"$CONN_CSV"
	echo "perf: $(jget connected "$j") idle connections over $transport: $(jget rss_bytes_per_conn "$j") bytes RSS each, $(jget idle_cpu_pct "$j")% CPU idle" >&2
}

if [ "$CONNECTIONS" = 1 ]; then
	for transport in $TRANSPORTS; do
		connect_rate "$transport"
	done
	for n in $IDLE_COUNTS; do
		idle_test plain "$n"
	done
	if [ "$IDLE_TLS_COUNT" -gt 0 ] && [[ " $TRANSPORTS " == *" tls "* ]]; then
		idle_test tls "$IDLE_TLS_COUNT"
	fi
fi

# ---- report ----

{
	echo "date_utc=$STAMP"
	echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')"
	echo "cpus=$(nproc)"
	# lscpu names arm64 cores too (Neoverse-N1, ...); their /proc/cpuinfo
	# has no "model name" line, only the implementer and part numbers.
	echo "cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
	echo "arch=$(uname -m)"
	echo "kernel=$(uname -r)"
	echo "openssl=$(openssl version | awk '{ print $2 }')"
	echo "duration_s=$DURATION"
	echo "latency_duration_s=$LAT_DURATION"
	echo "latency_total_pps=$LAT_TOTAL_PPS"
	echo "latency_total_pps_large=$LAT_TOTAL_PPS_LARGE"
	echo "window=$WINDOW"
	echo "repeat=$REPEAT"
	echo "hold_s=$HOLD"
	echo "fd_limit=$FD_LIMIT"
	echo "elapsed_s=$(($(date +%s) - start_s))"
	echo "background_start=$BACKGROUND_START"
	echo "background_end=$(cpu_busy_pct)% busy ($(busiest_processes))"
} >"$OUT/meta.txt"
"$ROOT/perf/report.sh" "$OUT"

if [ "$EXAMPLE" = 1 ]; then
	rm -rf "$ROOT/perf/results/example"
	mkdir -p "$ROOT/perf/results/example"
	cp "$OUT"/*.csv "$OUT"/*.md "$OUT"/meta.txt "$OUT"/notes.txt "$ROOT/perf/results/example/"
	cp "$OUT"/*.png "$ROOT/perf/results/example/" 2>/dev/null || true
	echo "perf: copied to perf/results/example/" >&2
fi
echo "perf: done in $(($(date +%s) - start_s)) s: $OUT/report.md" >&2
