#!/usr/bin/env bash
# setup.d/vmpod.sh: the guest kernel's modules for VM pods. setup.d/vmm.sh unpacks Debian's
# cloud kernel image (boot/) into /var/cache/strata/kernel; its virtio, vsock, erofs and
# overlay drivers are modules, which a VM pod's initramfs carries. This unpacks the same
# package's lib/modules/<version> beside it (with modules.dep). Idempotent.
set -euo pipefail
DEST=${STRATA_KERNEL_DIR:-/var/cache/strata/kernel}
kver=$(ls "$DEST/boot" 2>/dev/null | sed -n 's/^vmlinuz-//p' | head -1)
[ -n "$kver" ] || { echo "setup.d/vmpod.sh: no kernel in $DEST/boot (setup.d/vmm.sh first)" >&2; exit 1; }
[ -f "$DEST/lib/modules/$kver/modules.dep" ] && exit 0
pkg=linux-image-$kver
mkdir -p "$DEST/debs"
cd "$DEST/debs"
compgen -G "${pkg}_*.deb" >/dev/null || apt-get download -q -o APT::Sandbox::User=root "$pkg" \
  || { apt-get update -q >/dev/null && apt-get download -q -o APT::Sandbox::User=root "$pkg"; }
tmp=$(mktemp -d "$DEST/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "${pkg}"_*.deb "$tmp"
[ -f "$tmp/lib/modules/$kver/modules.dep" ] || busybox depmod -b "$tmp" "$kver"
mkdir -p "$DEST/lib/modules"
rm -rf "$DEST/lib/modules/$kver"
mv "$tmp/lib/modules/$kver" "$DEST/lib/modules/$kver"
rm -f "$DEST/debs/${pkg}"_*.deb
echo "setup.d/vmpod.sh: unpacked the modules of $pkg into $DEST/lib/modules/$kver"
