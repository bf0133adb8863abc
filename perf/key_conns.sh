#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Many connections under one node key (issue 17): the dataplane ping p50/p99
# to that key, alone and while /metrics is scraped back to back, and the
# scrape rate, for each N. With several relays (--relay NAME=BIN, e.g. an
# old build and the current one), each N runs against each relay in turn,
# so machine noise hits all of them; compare ratios, not absolute figures.
#
#   perf/key_conns.sh                                   # N = 1 1000 15000, 3 s a phase
#   perf/key_conns.sh --conns "1 15000" --relay old=/tmp/old/hyper-derp --relay new=build-perf/src/hyper-derp
#
# Each N needs N + 10 file descriptors in this script's client and in the relay.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNS="1 1000 15000"
SECONDS_PER_PHASE=3
RELAYS=()
usage() {
	sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'
	echo "options: --conns \"N ...\" --seconds S --relay NAME=BIN (repeatable)"
}
while [ $# -gt 0 ]; do
	case $1 in
	--conns) CONNS=$2; shift ;;
	--seconds) SECONDS_PER_PHASE=$2; shift ;;
	--relay) RELAYS+=("$2"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "perf/key_conns.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/key_conns
PROBE=$ROOT/build-perf/tools/key_conns
[ ${#RELAYS[@]} -eq 0 ] && RELAYS=("current=$ROOT/build-perf/src/hyper-derp")

ulimit -n "$(ulimit -Hn)"
SCRATCH=$(mktemp -d /tmp/hd-key-conns.XXXXXX)
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# relay_up BIN N: starts a relay allowing N connections under one key; sets PORT, METRICS, PID.
relay_up() {
	local bin=$1 n=$2 i limit=""
	# Relays from before limits.max_conns_per_key have no limit to raise.
	if "$bin" --help 2>/dev/null | grep -q max_conns_per_key; then
		limit="max_conns_per_key = $((n + 10))"
	fi
	cat >"$SCRATCH/relay.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = 0
		workers = 2
		key_file = $SCRATCH/relay.key
		max_connections = $((n + 100))
		[limits]
		$limit
		[mgmt]
		socket =
		[metrics]
		listen = 127.0.0.1:0
		[log]
		level = warn
	EOF
	: >"$SCRATCH/relay.log"
	"$bin" --config "$SCRATCH/relay.ini" --log-level info >>"$SCRATCH/relay.log" 2>&1 &
	PID=$!
	PORT="" METRICS=""
	for i in $(seq 1 100); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$SCRATCH/relay.log" | head -1)
		METRICS=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$SCRATCH/relay.log" | head -1)
		[ -n "$PORT" ] && [ -n "$METRICS" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "perf/key_conns.sh: the relay did not start; its log:" >&2
	cat "$SCRATCH/relay.log" >&2
	exit 1
}

relay_down() {
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

printf "%-10s %6s  %22s  %22s  %9s\n" relay conns "ping alone p50/p99/max us" "ping+scrapes p50/p99/max" "scrapes/s"
for n in $CONNS; do
	for r in "${RELAYS[@]}"; do
		name=${r%%=*} bin=${r#*=}
		relay_up "$bin" "$n"
		line=$("$PROBE" --port "$PORT" --metrics "$METRICS" --conns "$n" --seconds "$SECONDS_PER_PHASE")
		relay_down
		# conns=N ping_us p50=A p99=B ... | with scrapes p50=C p99=D ... | scrapes_per_s=E ...
		set -- $(echo "$line" | sed 's/[a-z_0-9]*=//g; s/|//g; s/ping_us//; s/with scrapes//')
		printf "%-10s %6s  %22s  %22s  %9s\n" "$name" "$1" "$2/$3/$4" "$6/$7/$8" "${10}"
	done
done
