#!/bin/bash
# pull-bench.sh: pull of the 221 MB "big" image (a 200 MiB incompressible layer and a
# layer of 20,000 small files) from the local registry into an EMPTY store, strata vs
# `podman pull` vs `skopeo copy` (download only, to dir:), interleaved in one run with
# shared/bench/engine/timeit.py; then the pull of an image that is already present.
#
# Prereqs (as root): shared/bench/engine/registry.sh start; make-images.sh; a release
# build of strata (cargo build --release -p strata-cli).
# ENV: N (5) runs per command, PRESENT_N (21), STRATA (path of the binary),
#      STRATA_B (optional: a second binary, timed as strata-b, for A/B comparisons),
#      ENGINE_DIR (shared/bench/engine), OUT (results dir).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
REPO=$(cd "$HERE/../../.." && pwd -P)
ENGINE_DIR=${ENGINE_DIR:-$REPO/../shared/bench/engine}
[ -f "$ENGINE_DIR/lib.sh" ] || ENGINE_DIR=/work/shared/bench/engine
# shellcheck source=/dev/null
. "$ENGINE_DIR/lib.sh"
N=${N:-5}
PRESENT_N=${PRESENT_N:-21}
STRATA=${STRATA:-${CARGO_TARGET_DIR:-$REPO/target}/release/strata}
OUT=${OUT:-${TMPDIR:-/tmp}/strata-image-bench/$(date +%Y%m%dT%H%M%S)}
W=${W:-/tmp/spb} # short: podman refuses a runroot longer than 50 characters
[ -e "$W" ] && mv "$W" "$W.old.$$"
mkdir -p "$OUT" "$W"
[ -x "$STRATA" ] || die "no strata binary at $STRATA (cargo build --release -p strata-cli)"
registry_up "$REG" || die "registry $REG not running: $ENGINE_DIR/registry.sh start"
podman_conf

man=$(skopeo inspect --raw --tls-verify=false "docker://$IMG_BIG") || die "no $IMG_BIG: run make-images.sh"
comp=$(jq '[.layers[].size]|add' <<<"$man")
log "image $IMG_BIG: $(jq '.layers|length' <<<"$man") layers, $comp compressed bytes"
SR=$W/strata PR=$W/podman SD=$W/skopeo-dir T=$W/trash
# Stores are moved aside between runs and deleted at the end: this machine's ext4 has no
# journal, and there the inode allocator skips (slowly, block by block) every inode freed in
# the last minutes, so deleting 20,000 files right before a run would slow the next run's
# file creation several-fold, for every tool alike.
mkdir -p "$T"
SP="$STRATA --root $SR/root --runroot $SR/run --registries-conf $W/none.toml"
PP="podman --root $PR/root --runroot $PR/runroot --tmpdir $PR/tmp"
{
	echo "date: $(date -u +%FT%TZ)  host: $(uname -r), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "image: $IMG_BIG, compressed bytes $comp (MB/s = compressed bytes / wall)"
} | tee "$OUT/summary.txt"

AB=()
if [ -n "${STRATA_B:-}" ]; then
	SRB=$W/strata-b
	AB=(--setup strata-b "[ ! -e $SRB ] || mv $SRB $T/b.\$\$"
		--cmd strata-b "$STRATA_B --root $SRB/root --runroot $SRB/run --registries-conf $W/none.toml pull -q --tls-verify=false $IMG_BIG"
		--bytes strata-b "$comp")
fi
$TIMEIT -n "$N" -w 1 --json "$OUT/results.jsonl" --log "$OUT/logs" --title "pull big into an empty store" \
	--setup strata "[ ! -e $SR ] || mv $SR $T/s.\$\$" \
	--cmd strata "$SP pull -q --tls-verify=false $IMG_BIG" --bytes strata "$comp" \
	"${AB[@]}" \
	--setup podman "[ ! -e $PR ] || mv $PR $T/p.\$\$" \
	--cmd podman "$PP pull -q --tls-verify=false $IMG_BIG" --bytes podman "$comp" \
	--setup skopeo-dir "[ ! -e $SD ] || mv $SD $T/d.\$\$" \
	--cmd skopeo-dir "skopeo copy -q --src-tls-verify=false docker://$IMG_BIG dir:$SD" --bytes skopeo-dir "$comp" |
	tee -a "$OUT/summary.txt"

# Already present: the image is in both stores now.
$SP pull -q --tls-verify=false "$IMG_BIG" >/dev/null || die "strata pull failed"
$PP pull -q --tls-verify=false "$IMG_BIG" >/dev/null
$TIMEIT -n "$PRESENT_N" -w 2 --json "$OUT/results.jsonl" --title "pull of an image already present" \
	--cmd strata-present "$SP pull -q --tls-verify=false $IMG_BIG" \
	--cmd podman-present "$PP pull -q --tls-verify=false $IMG_BIG" | tee -a "$OUT/summary.txt"

echo "check: $($SP images --format json | jq -c '[.[] | {Names, Size}]') snapshots: $(du -sm "$SR/root/snapshots" | cut -f1) MiB" |
	tee -a "$OUT/summary.txt"
rm -rf "$SR" "${SRB:-$SR}" "$PR" "$SD" "$T" "$W".old.*
log "results in $OUT"
