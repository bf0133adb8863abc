#!/usr/bin/env bash
# Helpers shared by fresh-box.sh and deb.sh (sourced).

# Copies the checkout SRC into the existing directory DEST as a user's
# clone has it: tracked and untracked files, not what .gitignore names
# (build directories, keys).
hd_copy_checkout() {
	local src=$1 dest=$2
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$src" ls-files -z --cached --others --exclude-standard |
			tar -C "$src" --null -T - -cf - | tar -C "$dest" -xf -
	else
		tar -C "$src" --exclude='./build*' -cf - . | tar -C "$dest" -xf -
	fi
}

# Sends the relay PID (a child of this shell) SIGTERM: it must drain and
# exit 0 within 30 s. Shows the end of LOG and fails otherwise.
hd_stop_relay() {
	local pid=$1 log=$2 rc=0 me
	me=$(basename "$0" .sh)
	kill -TERM "$pid"
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$me: the relay did not stop within 30 s of SIGTERM" >&2
		return 1
	fi
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -20 "$log" >&2
		echo "$me: the relay exited $rc on SIGTERM" >&2
		return 1
	fi
}
