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
mkdir -p "$DEST/debs"
cd "$DEST/debs"
compgen -G "${pkg}_*.deb" >/dev/null || apt-get download -q "$pkg"
tmp=$(mktemp -d "$DEST/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "${pkg}"_*.deb "$tmp"
kver=$(ls "$tmp/lib/modules")
python3 - "$tmp/boot/vmlinuz-$kver" "$tmp/boot/vmlinux-$kver" <<'PY'
import subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
cands = [(b'\xfd7zXZ\x00', ['xz', '-dc']), (b'\x28\xb5\x2f\xfd', ['zstd', '-dc']),
         (b'\x02\x21\x4c\x18', ['lz4', '-dc']), (b'\x1f\x8b\x08', ['gzip', '-dc'])]
for magic, cmd in cands:
    off = data.find(magic)
    while off != -1:
        out = subprocess.run(cmd, input=data[off:], capture_output=True).stdout
        if out[:4] == b'\x7fELF':
            open(dst, 'wb').write(out)
            sys.exit(0)
        off = data.find(magic, off + 1)
sys.exit("setup.d/vmm.sh: no ELF payload in " + src)
PY
rm -rf "$DEST/boot" "$DEST/lib"
mv "$tmp/boot" "$DEST/boot"
echo "setup.d/vmm.sh: unpacked $pkg into $DEST"
