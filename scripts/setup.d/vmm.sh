#!/usr/bin/env bash
# setup.d/vmm.sh: Debian's stock cloud kernel for strata-vmm's stock-kernel test.
# Downloads linux-image-*-cloud-amd64 with `apt-get download` and unpacks it with
# `dpkg-deb -x` into /var/cache/strata/kernel (never /boot, never installed), then extracts
# the uncompressed ELF vmlinux from the bzImage. Idempotent and fast when already done.
set -euo pipefail
DEST=${STRATA_KERNEL_DIR:-/var/cache/strata/kernel}
if compgen -G "$DEST/boot/vmlinuz-*" >/dev/null && compgen -G "$DEST/boot/vmlinux-*" >/dev/null; then
  exit 0
fi
pkg_of() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
pkg=$(pkg_of)
if [ -z "$pkg" ]; then apt-get update -q >/dev/null; pkg=$(pkg_of); fi
[ -n "$pkg" ] || { echo "setup.d/vmm.sh: no linux-image-cloud-amd64 in apt" >&2; exit 1; }
# Debian's cloud kernels are LZ4-compressed; lz4 is needed to extract the ELF vmlinux.
if ! command -v lz4 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends lz4 >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends lz4 >/dev/null; }
fi
mkdir -p "$DEST/debs"
cd "$DEST/debs"
compgen -G "${pkg}_*.deb" >/dev/null || apt-get download -q -o APT::Sandbox::User=root "$pkg"
tmp=$(mktemp -d "$DEST/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "${pkg}"_*.deb "$tmp"
kver=$(ls "$tmp/lib/modules")
extract_vmlinux() {  # $1 bzImage, $2 output: the first compressed payload that is an ELF
  local src=$1 dst=$2 pat cmd off
  for pair in '\x02\x21\x4c\x18:lz4' '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd' '\x1f\x8b\x08:gzip'; do
    pat=${pair%%:*}; cmd=${pair##*:}
    command -v "$cmd" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "$pat" "$src" | cut -d: -f1); do
      tail -c +$((off + 1)) "$src" | "$cmd" -dc > "$dst" 2>/dev/null || true
      if [ "$(head -c 4 "$dst" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then return 0; fi
    done
  done
  rm -f "$dst"
  echo "setup.d/vmm.sh: no ELF payload in $src (need lz4, xz, zstd or gzip)" >&2
  return 1
}
extract_vmlinux "$tmp/boot/vmlinuz-$kver" "$tmp/boot/vmlinux-$kver"
rm -rf "$DEST/boot" "$DEST/lib"
mv "$tmp/boot" "$DEST/boot"
rm -f "$DEST/debs/${pkg}"_*.deb
echo "setup.d/vmm.sh: unpacked $pkg into $DEST"
