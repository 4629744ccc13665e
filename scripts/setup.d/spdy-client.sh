#!/usr/bin/env bash
# The CRI tests' SPDY/3.1 client (tests/spdy-client): Node.js and spdy-transport, from the
# npm registry, at the version package-lock.json pins. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends nodejs npm ||
    { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
fi
if [ ! -f tests/spdy-client/node_modules/spdy-transport/package.json ]; then
  npm ci --prefix tests/spdy-client --no-audit --no-fund --loglevel=error
fi
