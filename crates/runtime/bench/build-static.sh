#!/usr/bin/env bash
# build-static.sh: builds strata-runc (and strata-monitor) as they are meant to be installed
# and benchmarked: each a fully static, non-PIE executable on musl (libseccomp linked in).
# The runtime is exec'd for every container operation and its peak memory is mostly the code
# pages it touches, so this build (1.9 MiB peak for `run`) is half the size in memory of a dynamic glibc one (4.6 MiB).
# Falls back to a static glibc build when the musl target cannot be installed.
#
# usage: crates/runtime/bench/build-static.sh     (prints the binary's path on the last line)
set -euo pipefail
cd "$(dirname "$0")/../../.."
TARGET=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" >&2 || {
    echo "build-static: no musl target; building a static glibc binary instead" >&2
    TARGET=x86_64-unknown-linux-gnu
  }
fi
# libseccomp.a alone in a directory, with a pkg-config file pointing there: otherwise the
# system library directory lands on the link line and, for musl, glibc's libc.a with it.
DEPS=$PWD/target/seccomp-static
mkdir -p "$DEPS/pkgconfig"
SYSLIB=/usr/lib/x86_64-linux-gnu
cp -u "$SYSLIB/libseccomp.a" "$DEPS/"
sed "s|^libdir=.*|libdir=$DEPS|" "$SYSLIB/pkgconfig/libseccomp.pc" >"$DEPS/pkgconfig/libseccomp.pc"
static_build() {
  PKG_CONFIG_LIBDIR=$DEPS/pkgconfig LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$DEPS \
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release -p "$1" --target "$TARGET" --target-dir target/static >&2
}
# strata-monitor the same way (one per running container: its resident memory is the code
# its poll loop touches), in a cargo run of its own so strata-runc's dependencies are
# resolved exactly as before.
static_build strata-monitor
echo "$PWD/target/static/$TARGET/release/strata-monitor" >&2
static_build strata-runtime
echo "$PWD/target/static/$TARGET/release/strata-runc"
