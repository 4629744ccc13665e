#!/usr/bin/env bash
# bench.sh: strata-runc beside crun and runc in one interleaved run of
# ../shared/bench/oci/bench.sh (run, create/start/delete, exec, 100 sequential containers, CPU,
# peak RSS). Builds the binary first with build-static.sh (static, non-PIE, musl), which is how
# strata-runc is meant to be installed.
#
# usage: crates/runtime/bench/bench.sh [N]      (results under /tmp/strata-bench-oci/)
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=${1:-30}
SHARED=${SHARED:-$(cd ../shared/bench/oci && pwd)}
BIN=$(crates/runtime/bench/build-static.sh | tail -n1)
OUT=${OUT:-/tmp/strata-bench-oci/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$OUT N=$N BATCH=${BATCH:-100} ROUNDS=${ROUNDS:-3} bash "$SHARED/bench.sh" crun runc "$BIN"
