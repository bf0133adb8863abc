#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What client admission ([admission] verify_client_url) costs the handshake:
# hdbench --connect-rate opens, completes and closes DERP connections as
# fast as it can against the relay without admission, then with a local
# admission controller (Python, on loopback) asked for every new key
# (cache_ms = 0), then with a controller that takes DELAY ms per answer.
# Each new connection is a new node key, so the cache never answers.
# Prints handshakes per second and handshake times for each.
#
# Usage: perf/admission.sh [--seconds S] [--delay MS] [--threads N]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=3
DELAY_MS=50
THREADS=4
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECONDS_PER_RUN=$2; shift ;;
	--delay) DELAY_MS=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	-h | --help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "perf/admission.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

. "$ROOT/perf/lib.sh"
perf_build "$ROOT" src/hyper-derp tools/hdbench
RELAY=$ROOT/build-perf/src/hyper-derp
BENCH=$ROOT/build-perf/tools/hdbench

SCRATCH=$(mktemp -d /tmp/hd-admission-perf.XXXXXX)
PID="" CTL=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$CTL" ] && kill "$CTL" 2>/dev/null && wait "$CTL" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# controller_up DELAY_MS: a threaded HTTP controller admitting everyone.
controller_up() {
	cat >"$SCRATCH/ctl.py" <<-EOF
		import http.server, sys, time
		delay = int(sys.argv[1]) / 1000.0
		class H(http.server.BaseHTTPRequestHandler):
		    protocol_version = "HTTP/1.1"  # keep-alive, as Go servers (Headscale) answer
		    def do_POST(self):
		        self.rfile.read(int(self.headers.get("Content-Length", "0")))
		        time.sleep(delay)
		        body = b'{"Allow":true}'
		        # One write, head and body, as Go's server sends a small answer:
		        # a separate body write would wait on Nagle for the head's ACK.
		        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
		    def log_message(self, *a):
		        pass
		http.server.ThreadingHTTPServer.daemon_threads = True
		http.server.ThreadingHTTPServer.request_queue_size = 1024
		s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
		print(s.server_address[1], flush=True)
		s.serve_forever()
	EOF
	python3 "$SCRATCH/ctl.py" "$1" >"$SCRATCH/ctl.port" 2>"$SCRATCH/ctl.log" &
	CTL=$!
	for _ in $(seq 1 50); do
		CTL_PORT=$(head -1 "$SCRATCH/ctl.port")
		[ -n "$CTL_PORT" ] && return 0
		sleep 0.1
	done
	echo "perf/admission.sh: the controller did not start" >&2
	exit 1
}

controller_down() {
	kill "$CTL" 2>/dev/null || true
	wait "$CTL" 2>/dev/null || true
	CTL=""
}

relay_up() {
	cat >"$SCRATCH/relay.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = 0
		workers = 1
		key_file = $SCRATCH/relay.key
		[limits]
		max_pending_per_ip = 0
		$1
		[mgmt]
		socket =
		[log]
		level = warn
	EOF
	: >"$SCRATCH/relay.log"
	"$RELAY" --config "$SCRATCH/relay.ini" --log-level info >>"$SCRATCH/relay.log" 2>&1 &
	PID=$!
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$SCRATCH/relay.log" | head -1)
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "perf/admission.sh: the relay did not start; its log:" >&2
	cat "$SCRATCH/relay.log" >&2
	exit 1
}

relay_down() {
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

run() {
	local label=$1 out
	out=$("$BENCH" --server 127.0.0.1 --port "$PORT" --connect-rate max \
		--duration "$SECONDS_PER_RUN" --threads "$THREADS" --relay-pid "$PID" 2>&1) || {
		echo "perf/admission.sh: hdbench failed ($label):" >&2
		echo "$out" >&2
		exit 1
	}
	printf '%s\n' "== $label" "$out" | grep -E '^==|handshake|/s' || printf '%s\n' "$out"
}

echo "admission cost: $SECONDS_PER_RUN s per run, $THREADS hdbench threads, one relay worker"
relay_up ""
run "no admission"
relay_down

controller_up 0
relay_up "[admission]
verify_client_url = http://127.0.0.1:$CTL_PORT/verify
cache_ms = 0"
run "admission controller, answering at once"
relay_down
controller_down

controller_up "$DELAY_MS"
relay_up "[admission]
verify_client_url = http://127.0.0.1:$CTL_PORT/verify
cache_ms = 0"
run "admission controller, ${DELAY_MS} ms per answer"
relay_down
controller_down
