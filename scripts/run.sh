#!/usr/bin/env bash
# Installs what is missing, builds, and runs the relay in the foreground on
# the embedded default configuration (conf/hyper-derp.ini: 127.0.0.1:3340,
# plain HTTP). Extra arguments go to hyper-derp, e.g. --port 3341.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
hd_install_packages "${HD_PACKAGES[@]}"

if [ ! -d build ]; then
	meson setup build -Dtests=false
fi
ninja -C build src/hyper-derp tools/hdbench tools/hdcli

# The default key file and management socket live under /var/lib and /run,
# which need root; elsewhere keep them in the build directory.
extra=()
if [ "$(id -u)" -ne 0 ]; then
	extra=(--key-file "$PWD/build/server.key" --mgmt-socket "$PWD/build/mgmt.sock")
fi
exec ./build/src/hyper-derp --config conf/hyper-derp.ini "${extra[@]}" "$@"
