#!/usr/bin/env bash
# bench.sh: strata-runc beside crun and runc in one interleaved run of
# ../shared/bench/oci/bench.sh (run, create/start/delete, exec, 100 sequential containers, CPU,
# peak RSS). Builds the release binary first: statically linked (glibc and libseccomp), which
# is how strata-runc is meant to be installed: no dynamic loader work and fewer pages touched
# per call.
#
# usage: crates/runtime/bench/bench.sh [N]      (results under /tmp/strata-bench-oci/)
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=${1:-30}
SHARED=${SHARED:-$(cd ../shared/bench/oci && pwd)}
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
  RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release -p strata-runtime --target x86_64-unknown-linux-gnu --target-dir target/static
BIN=$PWD/target/static/x86_64-unknown-linux-gnu/release/strata-runc
OUT=${OUT:-/tmp/strata-bench-oci/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$OUT N=$N BATCH=${BATCH:-100} ROUNDS=${ROUNDS:-3} bash "$SHARED/bench.sh" crun runc "$BIN"
