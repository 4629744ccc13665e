#!/bin/sh
# build-initramfs.sh ROOT RUNC OUT: completes the guest tree ROOT (which already holds
# bundles/<name>/config.json) with busybox-static, the strata-runc binary under test and the
# shared libraries it needs (same paths as on the host), the container rootfs and the guest
# scripts, then packs it as a gzip'd newc cpio archive OUT. Used by cgroup_v2_qemu.rs.
set -eu
ROOT=$1
RUNC=$2
OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}

# busybox with its applet links, in the guest root and in the containers' rootfs.
populate_busybox() {
  mkdir -p "$1/bin"
  cp "$BUSYBOX" "$1/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"
  done
}
populate_busybox "$ROOT"
mkdir -p "$ROOT/sbin" "$ROOT/usr/bin" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/run" \
  "$ROOT/tmp" "$ROOT/newroot" "$ROOT/etc"

# The runtime under test, without its debug info (it re-executes itself from a memfd, so
# a 60 MiB debug binary would be copied on every container start under TCG).
strip --strip-debug -o "$ROOT/usr/bin/strata-runc" "$RUNC"
chmod 755 "$ROOT/usr/bin/strata-runc"
for lib in $(ldd "$RUNC" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done

# The containers' root filesystem, shared by every bundle (read-only).
RFS=$ROOT/rootfs
populate_busybox "$RFS"
mkdir -p "$RFS/proc" "$RFS/sys" "$RFS/dev" "$RFS/tmp" "$RFS/etc"
echo "root:x:0:0:root:/:/bin/sh" > "$RFS/etc/passwd"
cp "$HERE/container-checks.sh" "$RFS/checks.sh"
chmod 755 "$RFS/checks.sh"

cp "$HERE/init" "$ROOT/init"
cp "$HERE/guest-tests.sh" "$ROOT/guest-tests.sh"
chmod 755 "$ROOT/init" "$ROOT/guest-tests.sh"

(cd "$ROOT" && find . -print | cpio -o -H newc --quiet) | gzip -1 > "$OUT"
