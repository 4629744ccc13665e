#!/bin/bash
# bench.sh: `strata build` beside `podman build` (buildah inside), interleaved in one run with
# shared/bench/engine/timeit.py, on one small Dockerfile (the base from the local registry, a
# RUN, a 10 MiB COPY, a source directory COPY and a RUN over it, config instructions):
#   cold     empty store: the base pulled, nothing cached
#   cached   nothing changed: every step from the cache
#   edit     one source file changed before each build: the steps from its COPY run again
#   nocache  --no-cache with the base present
# Prereqs (as root): shared/bench/engine/registry.sh start; make-images.sh; a release build
# of strata and the static strata-monitor/strata-runc (crates/runtime/bench/build-static.sh).
# ENV: N (9) runs per command, STRATA, STATIC_DIR, OUT, W (work directory).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../../../scripts/bench-env.sh
. "$HERE/../../../scripts/bench-env.sh"
N=${N:-9}
STRATA=${STRATA:-$STRATA_DEFAULT}
OUT=${OUT:-${TMPDIR:-/tmp}/strata-build-bench/$(date +%Y%m%dT%H%M%S)}
W=${W:-/tmp/sbb}
[ -x "$STRATA" ] || die "no strata binary at $STRATA (cargo build --release -p strata-cli)"
[ -x "$STATIC_DIR/strata-monitor" ] || die "no static strata-monitor in $STATIC_DIR (crates/runtime/bench/build-static.sh)"
registry_up "$REG" || die "registry $REG not running: $ENGINE_DIR/registry.sh start"
podman_conf
rm -rf "$W"
mkdir -p "$OUT" "$W/ctx/src"
export STRATA_MONITOR=$STATIC_DIR/strata-monitor STRATA_RUNC=$STATIC_DIR/strata-runc
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REG" >"$W/registries.toml"
S="$STRATA --root $W/s/root --runroot $W/s/run --registries-conf $W/registries.toml"
P="podman --runtime runc --root $W/p/root --runroot $W/p/runroot --tmpdir $W/p/tmp"
SUM=$OUT/summary.txt
say() { echo "$*" | tee -a "$SUM"; }
T() { $TIMEIT --json "$OUT/results.jsonl" --log "$OUT/logs" "$@" | tee -a "$SUM"; }
cleanup() {
	$S rm -a -f >/dev/null 2>&1
	$P rmi -a -f >/dev/null 2>&1
	umount -l "$W/s/run/netns" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

C=$W/ctx
head -c 10485760 /dev/urandom >"$C/blob10m"
for i in 1 2 3 4 5; do echo "source file $i" >"$C/src/f$i.txt"; done
cat >"$C/Dockerfile" <<EOF
FROM $IMG_BUSYBOX
RUN echo hi > /x
COPY blob10m /blob10m
COPY src/ /app/src/
RUN cat /app/src/* | wc -c > /app/size
ENV BENCH=1 GREETING=hello
USER 1000
ENTRYPOINT ["/bin/sh", "-c", "echo uid=\$(id -u) x=\$(cat /x) env=\$GREETING size=\$(wc -c < /blob10m) src=\$(cat /app/size)"]
EOF
cp "$C/Dockerfile" "$OUT/Dockerfile"
say "date: $(date -u +%FT%TZ)  host: $(uname -r), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "podman: $(podman --version) (buildah inside, runc), strata: $STRATA"

T --title "build cold (empty store: base pulled, no cache)" -n "$N" -w 0 \
	--setup strata "$S rm -a -f >/dev/null 2>&1; umount -l $W/s/run/netns 2>/dev/null; rm -rf $W/s" \
	--cmd strata "$S build -q -t bench-build $C" \
	--setup podman "$P rmi -a -f >/dev/null 2>&1; rm -rf $W/p" \
	--cmd podman "$P build -q -t bench-build $C"
T --title "build, fully cached" -n "$N" -w 1 \
	--cmd strata "$S build -q -t bench-build $C" \
	--cmd podman "$P build -q -t bench-build $C"
T --title "build after editing one source file" -n "$N" -w 1 \
	--setup strata "date +%s%N >> $C/src/f3.txt" \
	--cmd strata "$S build -q -t bench-build $C" \
	--setup podman "date +%s%N >> $C/src/f3.txt" \
	--cmd podman "$P build -q -t bench-build $C"
T --title "build --no-cache (base present)" -n "$N" -w 1 \
	--cmd strata "$S build -q --no-cache -t bench-nc $C" \
	--cmd podman "$P build -q --no-cache -t bench-nc $C"
say "check strata: $($S run --rm --network none bench-build 2>&1 | tr '\n' ' ')"
say "check podman: $($P run --rm --network none bench-build 2>&1 | tr '\n' ' ')"
say "strata images: $($S images | wc -l), cache entries: $(ls "$W/s/root/build-cache" | wc -l)"
log "results in $OUT"
