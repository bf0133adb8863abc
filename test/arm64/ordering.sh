#!/usr/bin/env bash
# The memory ordering the arm64 build relies on, read from the compiled code.
#
#   ordering.sh OBJDUMP ARCHIVE FUNCTION=INSN[,INSN...]... [ARCHIVE FUNCTION=...]...
#
# Fails unless each FUNCTION's disassembly in the ARCHIVE (or object) named
# before it contains each INSN (an extended regular expression). Why a test reads instructions: the tests run in
# qemu-user on an x86-64 host, whose memory model (TSO) never reorders a
# store with an older store or a load with an older load, so a release
# store or acquire load weakened to relaxed would still pass every
# two-thread test there; on a real arm64 core it would not. This checks
# that the orderings the code asks for reach the instructions (docs/arm64.md).
set -euo pipefail
objdump=$1
shift
archive="" fail=0
for spec in "$@"; do
	if [[ $spec != *=* ]]; then
		archive=$spec
		continue
	fi
	fn=${spec%%=*}
	insns=${spec#*=}
	asm=$("$objdump" -d --no-show-raw-insn --disassemble="$fn" "$archive")
	if ! grep -q "<$fn>:" <<<"$asm"; then
		echo "ordering.sh: $fn not found in $archive" >&2
		fail=1
		continue
	fi
	IFS=, read -r -a want <<<"$insns"
	for insn in "${want[@]}"; do
		if grep -Eq "^[[:space:]]+[0-9a-f]+:[[:space:]]+($insn)([[:space:]]|$)" <<<"$asm"; then
			echo "ok   $fn: $insn"
		else
			echo "FAIL $fn: no $insn instruction" >&2
			grep -E "^[[:space:]]+[0-9a-f]+:" <<<"$asm" >&2 || true
			fail=1
		fi
	done
done
exit "$fail"
