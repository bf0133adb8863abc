#!/usr/bin/env bash
# Installs the Debian packages hyper-derp needs to build, run and test, if
# any are missing. Sourced by run.sh and test.sh; safe to run on its own.
set -euo pipefail

# Build and run.
HD_PACKAGES=(
	gcc libc6-dev meson ninja-build pkg-config
	liburing-dev libssl-dev libsodium-dev libinih-dev
	openssl
)
# Tests, sanitizers, fuzzing and the WireGuard / XDP / DPDK parts.
HD_TEST_PACKAGES=(
	libcmocka-dev clang llvm libclang-rt-14-dev
	libbpf-dev libxdp-dev iproute2 ethtool
	wireguard-go wireguard-tools iputils-ping
	curl procps
	libdpdk-dev
)

hd_missing_packages() {
	local p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			echo "$p"
		fi
	done
}

hd_install_packages() {
	local missing
	missing=$(hd_missing_packages "$@")
	[ -z "$missing" ] && return 0
	echo "Installing missing packages: $(echo $missing | tr '\n' ' ')" >&2
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	hd_install_packages "${HD_PACKAGES[@]}" "${HD_TEST_PACKAGES[@]}"
fi
