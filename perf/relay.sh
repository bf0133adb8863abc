# shellcheck shell=bash
# Starting and stopping the relay under test, for perf/run.sh (sourced).
#
# One relay at a time: RELAY_PID and RELAY_PORT describe it. It runs from
# the release build with a throwaway key in the run's scratch directory, no
# management socket, and a connection limit above the idle tests' counts.

RELAY_PID=""
RELAY_PORT=""
RELAY_LOG=""

# A free TCP port below 32768 (hdbench's own sockets take ephemeral ports above).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	echo "perf: no free port found" >&2
	return 1
}

# relay_start TRANSPORT WORKERS NAME: starts a relay and waits until it
# completes a DERP handshake.
relay_start() {
	local transport=$1 workers=$2 name=$3 args=() i
	RELAY_PORT=$(free_port)
	RELAY_LOG="$SCRATCH/relay-$name.log"
	args=(--config "$SCRATCH/relay.ini" --port "$RELAY_PORT" --workers "$workers"
		--key-file "$SCRATCH/server.key" --mgmt-socket '' --log-level warn)
	if [ "$transport" = tls ]; then
		args+=(--tls-cert "$SCRATCH/tls.crt" --tls-key "$SCRATCH/tls.key")
	fi
	"$RELAY_BIN" "${args[@]}" >"$RELAY_LOG" 2>&1 &
	RELAY_PID=$!
	for i in $(seq 1 100); do
		if ! kill -0 "$RELAY_PID" 2>/dev/null; then
			echo "perf: the relay exited at start; its log:" >&2
			cat "$RELAY_LOG" >&2
			return 1
		fi
		if "$HDBENCH" --port "$RELAY_PORT" $(tls_flag "$transport") --connect-rate max \
			--count 1 --threads 1 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "perf: the relay did not answer on port $RELAY_PORT" >&2
	return 1
}

relay_alive() {
	[ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null
}

# Stops the relay with SIGTERM (it drains and exits 0); SIGKILL after 10 s.
relay_stop() {
	local i status=0
	[ -n "$RELAY_PID" ] || return 0
	if kill -0 "$RELAY_PID" 2>/dev/null; then
		kill -TERM "$RELAY_PID" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$RELAY_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$RELAY_PID" 2>/dev/null; then
			echo "perf: the relay ignored SIGTERM for 10 s; killing it" >&2
			kill -KILL "$RELAY_PID" 2>/dev/null || true
		fi
	fi
	wait "$RELAY_PID" 2>/dev/null || status=$?
	if [ "$status" -ne 0 ]; then
		note "relay ($RELAY_LOG) exited with status $status"
	fi
	RELAY_PID=""
}

tls_flag() {
	[ "$1" = tls ] && echo --tls || true
}
