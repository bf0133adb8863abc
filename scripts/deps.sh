#!/usr/bin/env bash
# Installs the Debian packages hyper-derp needs to build, run and test, if
# any are missing. Sourced by run.sh and test.sh; safe to run on its own.
# scripts/fresh-box.sh checks on a bare Debian 12 root that these lists are
# enough.
set -euo pipefail

# The default build (meson setup build -Dtests=false) and running it:
# the compiler and C library headers (with the kernel's, linux-libc-dev),
# meson (python3 also runs bpf/embed_obj.py), the libraries, and clang +
# libbpf for the XDP programs of the WireGuard relay's fast path; libedit
# for hdcli's interactive shell.
HD_PACKAGES=(
	gcc libc6-dev meson ninja-build pkg-config python3
	liburing-dev libssl-dev libsodium-dev libinih-dev libbpf-dev libedit-dev
	clang
	openssl
)
# Tests, sanitizers, fuzzing and the WireGuard / XDP / DPDK parts.
HD_TEST_PACKAGES=(
	libcmocka-dev llvm libclang-rt-14-dev
	libxdp-dev iproute2 ethtool
	wireguard-go wireguard-tools iputils-ping
	curl procps
	python3-websockets # itest_websocket's client (test/integration/ws_derp_peer.py)
	libdpdk-dev
)
# Building and checking the Debian package (scripts/deb.sh check, run by
# test.sh): dpkg-buildpackage checks debian/control's Build-Depends (the
# HD_PACKAGES above) and build-essential; the check also needs curl and
# openssl (above).
HD_PACKAGING_PACKAGES=(
	build-essential dpkg-dev debhelper lintian
)

hd_missing_packages() {
	local p status
	for p in "$@"; do
		# dpkg-query prints nothing (and fails) for a package it has never
		# seen; a package of several architectures prints one status each.
		status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
		case "$status" in
		*"install ok installed"*) ;;
		*) echo "$p" ;;
		esac
	done
}

hd_install_packages() {
	local missing
	if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
		echo "No dpkg/apt here: install these (Debian 12 names) yourself: $*" >&2
		return 1
	fi
	missing=$(hd_missing_packages "$@" | paste -sd ' ')
	[ -z "$missing" ] && return 0
	echo "Installing missing packages: $missing" >&2
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			echo "Not root and no sudo: as root, run apt-get install $missing" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq
	# shellcheck disable=SC2086
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	hd_install_packages "${HD_PACKAGES[@]}" "${HD_TEST_PACKAGES[@]}" \
		"${HD_PACKAGING_PACKAGES[@]}"
fi
