#!/usr/bin/env bash
# build-static.sh: strata-agent as a VM pod's initramfs carries it: a static, non-PIE musl
# executable with the runtime (and libseccomp) linked in; the guest has no libc. Prints its
# path on the last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/static-build.sh strata-agent strata-agent
