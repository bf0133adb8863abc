#!/usr/bin/env bash
# The Debian package (debian/, docs/deploy.md "Packaging").
#
#   scripts/deb.sh build OUTDIR [ARCH]
#                                 build hyper-derp_*.deb into OUTDIR and print
#                                 its path; the build runs on a copy of the
#                                 checkout in /tmp, so nothing lands here.
#                                 ARCH (arm64) cross-builds: scripts/arm64.sh
#                                 deb installs what that needs (docs/arm64.md)
#   scripts/deb.sh check          (root) build it, lintian (errors fail),
#                                 install it with apt, run the installed relay
#                                 with the installed config, hdcli show status,
#                                 systemd-analyze verify the unit, then purge.
#                                 test.sh runs this step; about a minute here.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
. scripts/lib.sh

# Copies the checkout to a scratch directory and builds the binary
# package there: dpkg-buildpackage writes next to the source tree.
deb_build() {
	local out=$1 arch=${2:-} scratch rc=0
	local cross=() env=()
	if [ -n "$arch" ]; then
		# The tests are not built (debian/rules); nocheck also keeps
		# dh_auto_test from trying to run arm64 programs on this machine.
		cross=(-a "$arch")
		env=("DEB_BUILD_OPTIONS=nocheck ${DEB_BUILD_OPTIONS:-}")
	fi
	mkdir -p "$out"
	scratch=$(mktemp -d /tmp/hd-debbuild.XXXXXX)
	mkdir "$scratch/hyper-derp"
	hd_copy_checkout "$src" "$scratch/hyper-derp"
	(cd "$scratch/hyper-derp" && env "${env[@]}" dpkg-buildpackage "${cross[@]}" -b -us -uc) \
		>"$out/build.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -30 "$out/build.log" >&2
		echo "deb.sh: dpkg-buildpackage failed (log: $out/build.log)" >&2
		rm -rf "$scratch"
		return 1
	fi
	mv "$scratch"/*.deb "$scratch"/*.changes "$scratch"/*.buildinfo "$out"/
	rm -rf "$scratch"
	ls "$out"/hyper-derp_*"${arch:+_$arch}".deb
}

deb_check() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "deb.sh check: must run as root (it installs the package)" >&2
		return 2
	fi
	# An operator's installed relay is not ours to replace or purge.
	case "$(dpkg-query -W -f='${Status}' hyper-derp 2>/dev/null || true)" in
	*installed* | *config-files* | *unpacked*)
		echo "deb.sh check: the hyper-derp package is on this machine already; not touching it" >&2
		return 1
		;;
	esac
	# Globals: the EXIT trap runs after this function has returned.
	had_user=0 had_group=0
	getent passwd hyper-derp >/dev/null && had_user=1
	getent group hyper-derp >/dev/null && had_group=1

	t0=$SECONDS relay_pid="" installed=0
	work=$(mktemp -d /tmp/hd-debcheck.XXXXXX)
	# shellcheck disable=SC2317 # called by the trap
	deb_check_cleanup() {
		local rc=$?
		if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
			kill -KILL "$relay_pid" 2>/dev/null || true
			wait "$relay_pid" 2>/dev/null || true
		fi
		if [ "$installed" -eq 1 ]; then
			DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hyper-derp >/dev/null 2>&1 ||
				echo "deb.sh check: apt-get purge hyper-derp failed" >&2
		fi
		# Debian keeps system users on purge; this machine gets back
		# exactly what it had.
		[ "$had_user" -eq 0 ] && getent passwd hyper-derp >/dev/null && userdel hyper-derp
		[ "$had_group" -eq 0 ] && getent group hyper-derp >/dev/null && groupdel hyper-derp
		rm -rf "$work"
		return "$rc"
	}
	trap deb_check_cleanup EXIT

	say() { printf '== [%3ds] %s\n' $((SECONDS - t0)) "$*"; }

	say "dpkg-buildpackage -b (on a copy in /tmp)"
	deb=$(deb_build "$work/out")
	say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

	# Errors fail; warnings and the rest are shown. (As root lintian adds
	# a line saying so.)
	local lint lint_rc=0
	lint=$(lintian --fail-on error "$work"/out/*.changes 2>&1) || lint_rc=$?
	grep -v '^running with root privileges' <<<"$lint" | sed 's/^/     /' || true
	if [ "$lint_rc" -ne 0 ]; then
		echo "deb.sh check: lintian reports errors" >&2
		return 1
	fi
	say "lintian: no errors"

	# apt reads the file as its unprivileged _apt user.
	chmod 755 "$work" "$work/out"
	installed=1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" \
		>"$work/install.log" 2>&1 || {
		cat "$work/install.log" >&2
		echo "deb.sh check: apt-get install failed" >&2
		return 1
	}
	say "installed: $(/usr/bin/hyper-derp --version)"

	# What the package promises (docs/deploy.md, "Packaging").
	local f
	for f in /usr/bin/hyper-derp /usr/bin/hdcli /usr/bin/hdbench; do
		[ -x "$f" ] || { echo "deb.sh check: $f missing" >&2; return 1; }
	done
	dpkg-query -W -f='${Conffiles}\n' hyper-derp | grep -q ' /etc/hyper-derp/hyper-derp.ini ' || {
		echo "deb.sh check: /etc/hyper-derp/hyper-derp.ini is not a conffile" >&2
		return 1
	}
	getent passwd hyper-derp >/dev/null || { echo "deb.sh check: no hyper-derp user" >&2; return 1; }
	if [ "$(stat -c '%U:%G %a' /var/lib/hyper-derp)" != "root:hyper-derp 770" ]; then
		echo "deb.sh check: /var/lib/hyper-derp is $(stat -c '%U:%G %a' /var/lib/hyper-derp)," \
			"the unit's StateDirectory= makes root:hyper-derp 770" >&2
		return 1
	fi
	systemd-analyze verify /lib/systemd/system/hyper-derp.service \
		/lib/systemd/system/hyper-derp-acme.service /lib/systemd/system/hyper-derp-acme.timer
	say "systemd-analyze verify hyper-derp.service hyper-derp-acme.service/.timer: OK"
	for f in /usr/lib/hyper-derp/hyper-derp-acme /usr/lib/hyper-derp/hyper-derp-acme-hook; do
		[ -x "$f" ] || { echo "deb.sh check: $f missing" >&2; return 1; }
	done

	# The installed relay with the installed config, as the unit starts it
	# (dropping to the package's user), but on loopback with a test
	# certificate, its key and socket in $work, STUN on a free port.
	local port sock probe
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 40000))
		! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj /CN=127.0.0.1 -days 1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
	# The dropped-to user creates the socket in the directory the relay
	# makes (run/), so it must be able to pass through $work.
	chmod 711 "$work"
	sock=$work/run/mgmt.sock
	/usr/bin/hyper-derp --config /etc/hyper-derp/hyper-derp.ini \
		--user hyper-derp --group hyper-derp \
		--listen 127.0.0.1 --port "$port" --workers 1 --pin-cores none \
		--key-file "$work/server.key" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
		--mgmt-socket "$sock" --stun-listen 127.0.0.1:0 \
		>"$work/relay.log" 2>&1 &
	relay_pid=$!
	probe=https://127.0.0.1:$port/derp/probe
	for _ in $(seq 100); do
		curl -kfsS --max-time 2 -o /dev/null "$probe" 2>/dev/null && [ -S "$sock" ] && break
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.2
	done
	curl -kfsS --max-time 2 -o /dev/null "$probe" || {
		cat "$work/relay.log" >&2
		echo "deb.sh check: the installed relay does not answer $probe" >&2
		return 1
	}
	/usr/bin/hdcli --socket "$sock" show status | sed 's/^/     /'
	if [ "$(ps -o user= -p "$relay_pid")" != hyper-derp ]; then
		echo "deb.sh check: the relay runs as $(ps -o user= -p "$relay_pid"), not hyper-derp" >&2
		return 1
	fi
	hd_stop_relay "$relay_pid" "$work/relay.log"
	relay_pid=""
	say "installed relay answered $probe (TLS, as hyper-derp), hdcli show status, exit 0 on SIGTERM"

	# The WireGuard table is in the state directory, where the dropped-to
	# user loads and saves it (a 0700 root directory stopped the relay at
	# start). Socket mode on a loopback UDP port; no packet is sent.
	local wg_port
	wg_port=$((20000 + RANDOM % 40000))
	cat >"$work/wg.ini" <<-EOF
		[server]
		listen = 127.0.0.1
		port = 0
		workers = 1
		pin_cores = none
		key_file = $work/server.key
		user = hyper-derp
		group = hyper-derp
		[mgmt]
		socket = $work/run-wg/mgmt.sock
		[wireguard]
		enabled = true
		mode = socket
		listen_port = $wg_port
		table_file = /var/lib/hyper-derp/wg-table.conf
	EOF
	/usr/bin/hyper-derp --config "$work/wg.ini" >"$work/relay-wg.log" 2>&1 &
	relay_pid=$!
	for _ in $(seq 100); do
		[ -S "$work/run-wg/mgmt.sock" ] && break
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.2
	done
	if ! /usr/bin/hdcli --socket "$work/run-wg/mgmt.sock" wg peer add deb-check 127.0.0.1:9 >/dev/null ||
		! grep -q deb-check /var/lib/hyper-derp/wg-table.conf; then
		cat "$work/relay-wg.log" >&2
		echo "deb.sh check: the relay cannot keep its WireGuard table in /var/lib/hyper-derp" >&2
		return 1
	fi
	hd_stop_relay "$relay_pid" "$work/relay-wg.log"
	relay_pid=""
	say "WireGuard table saved in /var/lib/hyper-derp by the dropped-to user"

	installed=0
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hyper-derp >"$work/purge.log" 2>&1 || {
		cat "$work/purge.log" >&2
		echo "deb.sh check: apt-get purge failed" >&2
		return 1
	}
	for f in /usr/bin/hyper-derp /etc/hyper-derp /var/lib/hyper-derp /lib/systemd/system/hyper-derp.service; do
		if [ -e "$f" ]; then
			echo "deb.sh check: $f is still there after purge" >&2
			return 1
		fi
	done
	say "purged: binaries, /etc/hyper-derp, /var/lib/hyper-derp and the unit are gone"
}

case "${1:-}" in
build) deb_build "${2:?usage: scripts/deb.sh build OUTDIR [ARCH]}" "${3:-}" ;;
check) deb_check ;;
*)
	echo "usage: scripts/deb.sh build OUTDIR [ARCH] | scripts/deb.sh check" >&2
	exit 2
	;;
esac
