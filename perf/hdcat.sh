#!/bin/bash
# SPDX-License-Identifier: MIT
#
# hdcat's throughput (docs/hdcat.md): SIZE MiB from one hdcat's stdin to
# another's stdout through a relay on loopback, plain and TLS. Prints MiB/s
# and the CPU seconds per GiB spent by the two hdcats and by the relay.
# Loopback on a shared machine: compare runs, not absolute figures.
#
#   perf/hdcat.sh               # 256 MiB each way
#   perf/hdcat.sh --mib 1024
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIB=256
while [ $# -gt 0 ]; do
	case $1 in
	--mib) MIB=$2; shift ;;
	-h | --help) sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "perf/hdcat.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/hdcat/hdcat
RELAY=$ROOT/build-perf/src/hyper-derp
HDCAT=$ROOT/build-perf/tools/hdcat/hdcat
SCRATCH=$(mktemp -d /tmp/perf-hdcat-XXXXXX)
RELAY_PID=
cleanup() {
	[ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null && wait "$RELAY_PID" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$SCRATCH/tls.key" -out "$SCRATCH/tls.crt" >/dev/null 2>&1

# CPU seconds (user + system) of a pid so far, from /proc (clock ticks).
cpu_of() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"
}

run() {
	local mode=$1 tlsargs=() port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$SCRATCH/relay.ini" <<-INI
	[server]
	listen = 127.0.0.1
	port = $port
	key_file = $SCRATCH/server.key
	[hd]
	require_token = false
	INI
	if [ "$mode" = tls ]; then
		printf '[tls]\ncert = %s\nkey = %s\n' "$SCRATCH/tls.crt" "$SCRATCH/tls.key" >>"$SCRATCH/relay.ini"
		tlsargs=(--tls --ca "$SCRATCH/tls.crt")
	fi
	"$RELAY" --config "$SCRATCH/relay.ini" --log-level warn >>"$SCRATCH/relay.log" 2>&1 &
	RELAY_PID=$!
	for _ in $(seq 100); do
		grep -q "listening" "$SCRATCH/relay.log" 2>/dev/null && break
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	local relay_cpu0 t0 t1 relay_cpu1 id
	relay_cpu0=$(cpu_of "$RELAY_PID")
	: >"$SCRATCH/l.err"
	"$HDCAT" --relay "127.0.0.1:$port" "${tlsargs[@]}" --key "$SCRATCH/l.json" --listen \
		</dev/null >/dev/null 2>"$SCRATCH/l.err" &
	local lpid=$!
	for _ in $(seq 100); do
		id=$(sed -n 's/.*listening as peer id \([0-9]*\).*/\1/p' "$SCRATCH/l.err")
		[ -n "$id" ] && break
		sleep 0.1
	done
	t0=$(date +%s.%N)
	head -c "$((MIB << 20))" /dev/zero |
		/usr/bin/time -f "%U %S" -o "$SCRATCH/c.time" \
			"$HDCAT" --relay "127.0.0.1:$port" "${tlsargs[@]}" --key "$SCRATCH/c.json" \
			--to-id "$id" >/dev/null 2>"$SCRATCH/c.err"
	wait "$lpid"
	t1=$(date +%s.%N)
	relay_cpu1=$(cpu_of "$RELAY_PID")
	kill "$RELAY_PID"
	wait "$RELAY_PID" 2>/dev/null || true
	RELAY_PID=
	awk -v mib="$MIB" -v t0="$t0" -v t1="$t1" -v r0="$relay_cpu0" -v r1="$relay_cpu1" \
		-v mode="$mode" -v ct="$(cat "$SCRATCH/c.time")" 'BEGIN {
		split(ct, c, " "); s = t1 - t0; gib = mib / 1024
		printf "hdcat %-5s %5d MiB in %6.2f s: %7.1f MiB/s; CPU s/GiB: sender %.2f, relay %.2f\n",
			mode, mib, s, mib / s, (c[1] + c[2]) / gib, (r1 - r0) / gib }'
}

run plain
run tls
