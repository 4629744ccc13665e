#!/usr/bin/env bash
# build-static.sh: strata-agent as a VM pod's initramfs carries it: a static, non-PIE musl
# executable (the guest has no libc). Prints its path on the last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=x86_64-unknown-linux-musl
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >&2
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build --release -p strata-agent --target "$TARGET" --target-dir target/static >&2
echo "$PWD/target/static/$TARGET/release/strata-agent"
