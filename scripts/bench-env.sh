# bench-env.sh: what the engine-level benchmarks (crates/{engine,cri,api,build}/bench/bench.sh)
# share, sourced by them: REPO (this checkout), the shared bench library
# (../shared/bench/engine/lib.sh: log, die, stats, podman_conf, registry_up; ENGINE_DIR
# chooses another copy), and the release binaries' default places: STRATA and STATIC_DIR (the
# static strata-monitor and strata-runc of crates/runtime/bench/build-static.sh).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ENGINE_DIR=${ENGINE_DIR:-$REPO/../shared/bench/engine}
[ -f "$ENGINE_DIR/lib.sh" ] || ENGINE_DIR=/work/shared/bench/engine
# shellcheck source=/dev/null
. "$ENGINE_DIR/lib.sh"
STRATA_DEFAULT=$REPO/target/release/strata
STATIC_DIR=${STATIC_DIR:-$REPO/target/static/x86_64-unknown-linux-musl/release}
