#!/usr/bin/env bash
# setup.d/virtiofsd.sh: virtiofsd, the vhost-user file system daemon that shares a VM
# container's volumes with its guest (virtio-fs, as Kata shares them). Debian 12 does not
# package it; it is a Rust program on crates.io, built here into /usr/local/bin.
# Idempotent: skipped when that version is installed.
set -euo pipefail
VERSION=1.14.0
BIN=/usr/local/bin/virtiofsd
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup.d/virtiofsd.sh: building virtiofsd $VERSION (cargo install)"
CARGO_TARGET_DIR="$tmp/target" cargo install --locked --quiet --root "$tmp/out" virtiofsd --version "$VERSION"
install -m 0755 "$tmp/out/bin/virtiofsd" "$BIN"
echo "setup.d/virtiofsd.sh: installed $BIN"
