#!/usr/bin/env bash
# Soak test: churn + traffic against one relay for MINUTES, then compare the
# relay's RSS, open fds and counters at start and end.
#
#   perf/soak.sh MINUTES [--port P] [--workers N] [--tls]
#
# Traffic: 16 pairs at a fixed rate, every packet verified, for the whole run.
# Churn: handshake storms (open, handshake, close) and short-lived pairs that
# exchange packets and leave (PeerGone), back to back until the time is up.
# Exits 1 if any run lost or corrupted packets or the relay died; leaks show
# as RSS or fd growth in the table (judge them against the churn volume).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-}
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
	echo "usage: perf/soak.sh MINUTES [--port P] [--workers N] [--tls]" >&2
	exit 2
fi
shift
port=3390
workers=2
tls=()
while [ $# -gt 0 ]; do
	case "$1" in
	--port) port=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--tls) tls=(--tls); shift ;;
	*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

. scripts/deps.sh
hd_install_packages "${HD_PACKAGES[@]}"
. perf/lib.sh
perf_build "$PWD" src/hyper-derp tools/hdbench tools/hdcli

work=$(mktemp -d /tmp/hd-soak.XXXXXX)
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

relay_args=(--config conf/hyper-derp.ini --port "$port" --workers "$workers"
	--key-file "$work/server.key" --mgmt-socket "$work/mgmt.sock" --log-level warn)
if [ ${#tls[@]} -gt 0 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
	relay_args+=(--tls-cert "$work/tls.crt" --tls-key "$work/tls.key")
fi
./build-perf/src/hyper-derp "${relay_args[@]}" 2>"$work/relay.log" &
relay_pid=$!
for _ in $(seq 50); do
	[ -S "$work/mgmt.sock" ] && break
	sleep 0.1
done

snapshot() {
	local rss fds
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$relay_pid/status")
	fds=$(ls "/proc/$relay_pid/fd" | wc -l)
	echo "$rss $fds"
}
counters() {
	./build-perf/tools/hdcli --socket "$work/mgmt.sock" show status 2>/dev/null |
		grep -Ei "connections|packets|drops|bytes" | sed 's/^/    /'
}

read -r rss0 fds0 < <(snapshot)
echo "== soak: $minutes min, relay pid $relay_pid, port $port, $workers workers${tls:+, TLS}"
echo "   start: RSS $rss0 KiB, fds $fds0"
counters

secs=$((minutes * 60))
end=$((SECONDS + secs))
bench=(./build-perf/tools/hdbench --port "$port" "${tls[@]}")
failures=0
storms=0
pairs_runs=0

"${bench[@]}" --pairs 16 --size 1000 --rate 500 --duration "$secs" --stall-timeout 30 \
	--relay-pid "$relay_pid" >"$work/traffic.txt" 2>&1 &
traffic=$!

while [ $SECONDS -lt $end ]; do
	if ! "${bench[@]}" --connect-rate 200 --duration 5 >>"$work/churn.txt" 2>&1; then
		failures=$((failures + 1))
	fi
	storms=$((storms + 1))
	if ! "${bench[@]}" --pairs 8 --count 300 --size 200 >>"$work/churn.txt" 2>&1; then
		failures=$((failures + 1))
	fi
	pairs_runs=$((pairs_runs + 1))
	kill -0 "$relay_pid" 2>/dev/null || break
done
traffic_rc=0
wait "$traffic" || traffic_rc=$?

if ! kill -0 "$relay_pid" 2>/dev/null; then
	echo "FAIL: the relay died; its log:" >&2
	tail -20 "$work/relay.log" >&2
	exit 1
fi
sleep 2 # let closed connections finish
read -r rss1 fds1 < <(snapshot)
echo "   end:   RSS $rss1 KiB, fds $fds1"
counters
echo "   churn: $storms handshake storms (200/s for 5 s each), $pairs_runs short-lived 8-pair runs, $failures failed"
echo "   traffic (16 pairs for the whole run):"
grep -E "packets|throughput|latency|result" "$work/traffic.txt" | sed 's/^/    /'
printf '\n| | start | end | growth |\n| --- | --- | --- | --- |\n'
printf '| RSS (KiB) | %s | %s | %s |\n' "$rss0" "$rss1" "$((rss1 - rss0))"
printf '| open fds | %s | %s | %s |\n' "$fds0" "$fds1" "$((fds1 - fds0))"
if [ "$traffic_rc" -ne 0 ] || [ "$failures" -ne 0 ]; then
	echo "FAIL: traffic exit $traffic_rc, $failures churn runs failed" >&2
	exit 1
fi
echo "PASS"
