#!/usr/bin/env bash
# Installs what is missing, builds, and runs the relay in the foreground on
# the embedded default configuration (conf/hyper-derp.ini: 127.0.0.1:3340,
# plain HTTP). Extra arguments go to hyper-derp, e.g. --port 3341.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
hd_install_packages "${HD_PACKAGES[@]}"

# build.ninja, not the directory: a setup that failed (a package missing)
# leaves build/ behind, and the next run must set it up again.
if [ ! -f build/build.ninja ]; then
	if ! meson setup build -Dtests=false; then
		missing=$(hd_missing_packages "${HD_PACKAGES[@]}" | paste -sd ' ')
		echo "run.sh: meson setup failed (the ERROR above names what is missing)." >&2
		echo "run.sh: the build needs these Debian packages (HD_PACKAGES in scripts/deps.sh):" >&2
		echo "run.sh:   ${HD_PACKAGES[*]}" >&2
		if [ -n "$missing" ]; then
			echo "run.sh: not installed: $missing" >&2
		else
			echo "run.sh: all are installed: what the ERROR names needs adding to HD_PACKAGES" >&2
		fi
		exit 1
	fi
fi
ninja -C build src/hyper-derp tools/hdbench tools/hdcli

# The default key file and management socket live under /var/lib and /run,
# which need root; elsewhere keep them in the build directory.
extra=()
if [ "$(id -u)" -ne 0 ]; then
	extra=(--key-file "$PWD/build/server.key" --mgmt-socket "$PWD/build/mgmt.sock")
fi
exec ./build/src/hyper-derp --config conf/hyper-derp.ini "${extra[@]}" "$@"
