#!/usr/bin/env bash
# build-static.sh: builds strata-runc (and strata-monitor) as they are meant to be installed
# and benchmarked: each a fully static, non-PIE executable on musl (libseccomp linked in).
# The runtime is exec'd for every container operation and its peak memory is mostly the code
# pages it touches, so this build (1.9 MiB peak for `run`) is half the size in memory of a dynamic glibc one (4.6 MiB).
# strata-monitor is built the same way (one per running container: its resident memory is
# the code its poll loop touches), in a cargo run of its own.
#
# usage: crates/runtime/bench/build-static.sh     (prints strata-runc's path on the last line)
set -euo pipefail
cd "$(dirname "$0")/../../.."
scripts/static-build.sh strata-monitor strata-monitor strata-runtime strata-runc | tail -n1
