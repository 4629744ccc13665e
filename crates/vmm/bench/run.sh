#!/bin/bash
# strata-vmm beside QEMU microvm in one run, on the same microguest (prints GUEST-INIT-READY,
# then exits through the i8042): time to the guest's line, time to exit, peak RSS
# (boot-bench.sh -g micro), and VMs started+stopped per second one at a time (rate-bench.sh).
#
# Usage: crates/vmm/bench/run.sh [-n BOOTS] [-r RATE_TOTAL]
# Uses the team's reference scripts (shared/bench/vmm), copied to a writable work dir.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
N=20; RT=200
while getopts "n:r:" o; do case $o in n) N=$OPTARG ;; r) RT=$OPTARG ;; *) exit 2 ;; esac; done
SHARED=${SHARED:-$REPO/../shared/bench/vmm}
WORK=${WORK:-${TMPDIR:-/tmp}/strata-vmm-bench}
mkdir -p "$WORK"
cp -r "$SHARED"/. "$WORK"/
chmod -R u+w "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release -p strata-vmm >&2)
BIN=$CARGO_TARGET_DIR/release/strata-vmm
echo "== boot (n=$N): qemu-microvm vs strata-vmm"
CUSTOM_CMD="$BIN --kernel @MICRO@ --mem 256" "$WORK/boot-bench.sh" -g micro -n "$N" qemu-microvm custom
echo "== rate (total=$RT, one at a time)"
CUSTOM_CMD="$BIN --kernel @MICRO@ --mem 128" "$WORK/rate-bench.sh" -n "$RT" -P 1 qemu-microvm custom
