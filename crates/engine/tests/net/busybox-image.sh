#!/bin/bash
# busybox-image.sh OUT: the network tests' image, built offline with umoci from Debian's
# busybox-static, as an OCI archive at OUT/busybox.oci.tar (tag "busybox"): one layer with
# /bin/busybox and every applet as a symlink, /etc/passwd, /etc/group, /tmp 1777,
# /var/www/index.html; Cmd ["sh"], ExposedPorts 80/tcp (for -P). Reproducible (fixed dates).
# Idempotent: reuses OUT when OUT/.done exists; serialised with flock.
set -euo pipefail
OUT=${1:?usage: busybox-image.sh OUT}
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
[ -f "$OUT/.done" ] && exit 0
L=$OUT/layout
W=$OUT/work
rm -rf "$L" "$W"
mkdir -p "$W"
TS=2000-01-01T00:00:00Z
EPOCH=946684800
umoci init --layout "$L"
umoci new --image "$L:busybox"
umoci unpack --image "$L:busybox" "$W/bb"
R=$W/bb/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,run,var/www}
install -m 0755 /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list-full); do
	[ "$a" = bin/busybox ] || ln -sf /bin/busybox "$R/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
echo 'hello from strata' >"$R/var/www/index.html"
chmod 1777 "$R/tmp"
chmod 0700 "$R/root"
find "$R" -exec touch -h -d "@$EPOCH" {} +
umoci repack --history.created "$TS" --image "$L:busybox" "$W/bb"
umoci config --created "$TS" --history.created "$TS" --image "$L:busybox" --os linux --architecture amd64 \
	--config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.cmd sh --config.exposedports 80/tcp
umoci gc --layout "$L"
rm -rf "$W"
tar -C "$L" -cf "$OUT/busybox.oci.tar.tmp" .
mv "$OUT/busybox.oci.tar.tmp" "$OUT/busybox.oci.tar"
touch "$OUT/.done"
