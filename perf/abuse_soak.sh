#!/usr/bin/env bash
# Mixed-abuse soak: every hostile load of docs/bounds.md at once against one
# relay for MINUTES, while honest clients relay verified traffic beside it.
#
#   perf/abuse_soak.sh [MINUTES] [--port P] [--workers N] [--scale S]
#
# Attacks (tools/derp_abuse, reopened as the relay closes them), from
# 127.0.1.1-32 while the honest clients connect from 127.0.0.1: on loopback
# every client would otherwise share one source, and the per-source bounds
# would refuse the honest clients with the attackers.
#   many connections under one key, partial 64 KiB frames held open,
#   announced 256 KiB ClientInfos, dribbled HTTP heads, idle connections to
#   the metrics port, receivers that never read; beside them a scraper hits
#   /metrics, `hdcli show peers` and `hdcli peer close` of the crowded key
#   in a loop (each `show peers` timed). --scale multiplies the attack sizes (default 1: 6,800 slots).
#
# Honest traffic: 8 pairs x 200 packets/s of 1000 B, in back-to-back 30 s
# hdbench runs, each verifying every packet (loss, corruption, order).
# Every 30 s the report gets a row: honest packets/s and p99, relay RSS,
# fds, CPU, and hdcli/scrape failures. Exits 1 if an honest run lost a
# packet or failed, hdcli ever failed to answer, or the relay died.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
	minutes=$1
	shift
fi
port=3395
workers=2
scale=1
while [ $# -gt 0 ]; do
	case "$1" in
	--port) port=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	*) echo "usage: perf/abuse_soak.sh [MINUTES] [--port P] [--workers N] [--scale S]" >&2; exit 2 ;;
	esac
done
metrics_port=$((port + 1))

. scripts/deps.sh
hd_install_packages "${HD_PACKAGES[@]}" curl
. perf/lib.sh
perf_build "$PWD" src/hyper-derp tools/hdbench tools/hdcli tools/derp_abuse

work=$(mktemp -d /tmp/hd-abuse.XXXXXX)
relay_pid=
cleanup() {
	jobs -p | xargs -r kill 2>/dev/null || true
	if [ -n "$relay_pid" ]; then
		kill "$relay_pid" 2>/dev/null || true
		wait "$relay_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

./build-perf/src/hyper-derp --config conf/hyper-derp.ini --port "$port" --workers "$workers" \
	--key-file "$work/server.key" --mgmt-socket "$work/mgmt.sock" \
	--metrics-listen "127.0.0.1:$metrics_port" --log-level warn 2>"$work/relay.log" &
relay_pid=$!
for _ in $(seq 100); do
	[ -S "$work/mgmt.sock" ] && break
	sleep 0.1
done
hdcli=(./build-perf/tools/hdcli --socket "$work/mgmt.sock")

secs=$((minutes * 60))
start=$SECONDS
end=$((start + secs))

# The attackers, for the whole run.
./build-perf/tools/derp_abuse --port "$port" --metrics-port "$metrics_port" \
	--duration "$secs" --rate 500 --sources 32 \
	--same-key $((2000 * scale)) --partial $((2000 * scale)) \
	--client-info $((1000 * scale)) --http-hold $((1000 * scale)) \
	--idle-tcp $((200 * scale)) --slow-reader $((40 * scale)) \
	>"$work/abuse.txt" 2>&1 &
abuse_pid=$!

# The operator and Prometheus, also for the whole run: each failure is
# counted (an operator's hdcli must always get in).
(
	while [ $SECONDS -lt $end ]; do
		curl -s -m 5 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$metrics_port/metrics" >>"$work/scrape.txt" 2>/dev/null ||
			echo fail >>"$work/scrape.txt"
		t0=$(date +%s%N)
		if timeout 30 "${hdcli[@]}" show peers >/dev/null 2>>"$work/hdcli_err.txt"; then
			echo "ok $((($(date +%s%N) - t0) / 1000000))" >>"$work/hdcli.txt"
		else
			echo fail >>"$work/hdcli.txt"
		fi
		key=$(awk '/^same-key nodekey:/ {print $2}' "$work/abuse.txt" 2>/dev/null)
		# Exit 1 ("still connected") is expected: the attacker reconnects at once.
		if [ -n "$key" ]; then
			"${hdcli[@]}" peer close "$key" >/dev/null 2>&1 || true
		fi
		sleep 0.5
	done
) &

snapshot() { # RSS KiB, fds, CPU seconds of the relay
	local rss fds ticks
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$relay_pid/status")
	fds=$(ls "/proc/$relay_pid/fd" | wc -l)
	ticks=$(awk '{print $14 + $15}' "/proc/$relay_pid/stat")
	echo "$rss $fds $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}')"
}
count() { grep -c "$1" "$2" 2>/dev/null || true; }

echo "== abuse soak: $minutes min, relay pid $relay_pid, port $port, $workers workers, scale $scale"
printf '\n| t (s) | honest pkt/s | honest p99 (ms) | lost | RSS (MiB) | fds | relay CPU (s) | hdcli fails | scrape non-200 |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
failures=0
runs=0
while [ $((SECONDS + 5)) -lt $end ]; do
	chunk=$((end - SECONDS < 30 ? end - SECONDS : 30))
	rc=0
	./build-perf/tools/hdbench --port "$port" --pairs 8 --size 1000 --rate 200 \
		--duration "$chunk" --stall-timeout 20 --json >"$work/honest.json" 2>>"$work/honest.err" || rc=$?
	runs=$((runs + 1))
	[ "$rc" -ne 0 ] && failures=$((failures + 1))
	kill -0 "$relay_pid" 2>/dev/null || break
	read -r rss fds cpu < <(snapshot)
	pps=$(grep -o '"packets_per_s":[0-9.]*' "$work/honest.json" | cut -d: -f2 || true)
	p99=$(grep -o '"p99":[0-9.]*' "$work/honest.json" | cut -d: -f2 || true)
	lost=$(grep -o '"lost":[0-9]*' "$work/honest.json" | cut -d: -f2 || true)
	printf '| %d | %s | %s | %s | %d | %d | %s | %d | %d |\n' $((SECONDS - start)) "${pps:-?}" \
		"$(awk -v u="${p99:-0}" 'BEGIN {printf "%.2f", u / 1000}')" "${lost:-?}" \
		$((rss / 1024)) "$fds" "$cpu" "$(count fail "$work/hdcli.txt")" \
		"$(grep -vc '^200$' "$work/scrape.txt" 2>/dev/null || true)"
done
wait "$abuse_pid" 2>/dev/null || true

echo
echo "attacks (closed_by_relay: the relay's bounds at work):"
sed 's/^/    /' "$work/abuse.txt"
echo "relay counters that moved:"
"${hdcli[@]}" show counters 2>/dev/null | awk '$NF != 0' | grep -Ev '^(uptime|workers|recv_mode)' |
	sed 's/^/    /' || true
echo "hdcli show peers: $(count ok "$work/hdcli.txt") answered (slowest" \
	"$(awk '$1 == "ok" && $2 > m {m = $2} END {print m + 0}' "$work/hdcli.txt") ms)," \
	"$(count fail "$work/hdcli.txt") failed or took over 30 s;" \
	"/metrics: $(grep -c '^200$' "$work/scrape.txt" || true) scrapes served," \
	"$(grep -vc '^200$' "$work/scrape.txt" || true) not"

if ! kill -0 "$relay_pid" 2>/dev/null; then
	echo "FAIL: the relay died; its log:" >&2
	tail -20 "$work/relay.log" >&2
	exit 1
fi
if [ "$failures" -ne 0 ] || [ "$(count fail "$work/hdcli.txt")" -ne 0 ]; then
	echo "FAIL: $failures of $runs honest runs failed; hdcli failures: $(count fail "$work/hdcli.txt")" >&2
	tail -5 "$work/honest.err" "$work/hdcli_err.txt" >&2 || true
	exit 1
fi
echo "PASS: $runs honest runs, every packet verified"
