#!/bin/bash
# The TCP engine against the kernel's TCP through a TUN device, in a
# network namespace of its own (tcp_tun_test.c). Root only: skipped (77)
# otherwise. Usage: tcp_tun.sh TCP_TUN_TEST
set -euo pipefail
bin=$1
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root and /dev/net/tun"
	exit 77
fi
ns="hdtcp-$$-$RANDOM"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
run ip tuntap add dev hdtun0 mode tun
run ip addr add 10.77.0.1/24 dev hdtun0
run ip -6 addr add fd77::1/64 dev hdtun0 nodad
run ip link set hdtun0 up
pass=0 fail=0
for fam in 4 6; do
	for scenario in transfer impaired inject vanish vanish-idle zero-window partial; do
		echo "== $scenario IPv$fam"
		if run timeout 150 "$bin" "$scenario" "$fam"; then
			pass=$((pass + 1))
		else
			echo "FAILED: $scenario IPv$fam"
			fail=$((fail + 1))
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
