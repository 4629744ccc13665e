#!/usr/bin/env bash
# static-build.sh: builds Rust packages as static, non-PIE musl executables with libseccomp
# linked in (how strata-runc and strata-monitor are installed, and how a VM pod's guest
# carries strata-agent, which has no libc). Falls back to a static glibc build when the musl
# target cannot be installed. Prints each binary's directory-qualified path, one a line.
#
# usage: scripts/static-build.sh PACKAGE BINARY [PACKAGE BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" >&2 || {
    echo "static-build: no musl target; building a static glibc binary instead" >&2
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
# One cargo run per package, so each resolves its dependencies' features on its own.
while [ $# -ge 2 ]; do
  PKG_CONFIG_LIBDIR=$DEPS/pkgconfig LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$DEPS \
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release -p "$1" --target "$TARGET" --target-dir target/static >&2
  echo "$PWD/target/static/$TARGET/release/$2"
  shift 2
done
