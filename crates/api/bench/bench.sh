#!/bin/bash
# bench.sh: the Docker API (issue 13's Performance section), in one interleaved run with
# shared/bench/engine/timeit.py:
#   run   `docker run --rm busybox true` through `strata system service`'s socket beside
#         `podman run --rm busybox true` (and, for reference, `strata run --rm busybox true`,
#         the same engine without the API), all on their default bridge networks;
#   rss   the API server's resident memory when idle: right after it starts serving, and
#         again once the runs are over and it has been idle for IDLE_S seconds.
# Strata runs as a release build on a private root and run root loaded with the offline
# busybox image of scripts/busybox-image.sh (no registry); podman 4.3.1 (runc, CNI) uses the
# private store and containers.conf of shared/bench/engine/lib.sh, loaded from the same archive.
# The docker CLI (client only: no dockerd) talks to the service through DOCKER_HOST.
#
# usage: crates/api/bench/bench.sh           ENV: N (21), IDLE_S (12), OUT, STRATA (release build)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../../../scripts/bench-env.sh
. "$HERE/../../../scripts/bench-env.sh"
N=${N:-21}
IDLE_S=${IDLE_S:-12}
OUT=${OUT:-${TMPDIR:-/tmp}/strata-api-bench/$(date +%Y%m%dT%H%M%S)}
if [ -z "${STRATA:-}" ]; then
	(cd "$REPO" && cargo build --release -p strata-cli -p strata-monitor -p strata-runtime >&2) || die "cargo build"
	STRATA=$STRATA_DEFAULT
fi
[ -x "$STRATA" ] || die "no strata binary at $STRATA"
command -v docker >/dev/null || die "no docker CLI (scripts/install-deps)"
command -v podman >/dev/null || die "no podman (scripts/install-deps)"
mkdir -p "$OUT"
W=$(mktemp -d /tmp/strata-api-bench.XXXXXX)
IMAGES=${STRATA_SETUP_IMAGES:-$REPO/target/e2e-images}
"$REPO/scripts/busybox-image.sh" "$IMAGES" || die "busybox-image.sh"
export STRATA_ROOT=$W/root STRATA_RUNROOT=$W/run
S=$STRATA
P="podman --runtime runc"
SOCK=$W/docker.sock
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$W/docker-config
unset DOCKER_API_VERSION DOCKER_CONTEXT
mkdir -p "$DOCKER_CONFIG"
echo "{}" >"$DOCKER_CONFIG/config.json" # podman reads it too (auth)
SUM=$OUT/summary.txt
JSON=$OUT/results.jsonl
SVC=
say() { echo "$*" | tee -a "$SUM"; }
T() { $TIMEIT --json "$JSON" --log "$OUT/logs" "$@" | tee -a "$SUM"; }
cleanup() {
	if [ -n "$SVC" ]; then kill "$SVC" 2>/dev/null; wait "$SVC" 2>/dev/null; fi
	$S rm -a -f >/dev/null 2>&1
	for n in $($S network ls -q 2>/dev/null); do $S network rm -f "$n" >/dev/null 2>&1; done
	umount -l "$W/run/netns" 2>/dev/null
	$S rmi -a -f >/dev/null 2>&1
	rm -rf "$W"
	true
}
trap cleanup EXIT
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup"; }

podman_conf
say "date: $(date -u +%FT%TZ)  host: $(uname -r), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null), $(podman --version) (runc, CNI), strata: $STRATA"
$S load -q -i "$IMAGES/busybox.oci.tar" >/dev/null || die "strata load"
$S tag localhost/busybox:latest busybox:latest || die "strata tag"
$P load -q -i "$IMAGES/busybox.oci.tar" >/dev/null 2>&1 || $P pull -q "oci-archive:$IMAGES/busybox.oci.tar" >/dev/null || die "podman load"
$P image exists busybox || $P tag "$($P images -q | head -1)" localhost/busybox:latest
$P run --rm busybox true || die "podman run"
$S run --rm busybox true || die "strata run"

"$S" system service "unix://$SOCK" >"$OUT/service.log" 2>&1 &
SVC=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || die "the API socket did not appear"
docker run --rm busybox true || die "docker run through the API"
sleep 2
rss0=$(rss_kib "$SVC"); pss0=$(pss_kib "$SVC")

say ""; say "=== run --rm busybox true, n=$N ==="
T --title "run --rm" -n "$N" -w 2 \
	--cmd podman "$P run --rm busybox true" \
	--cmd docker-api "docker run --rm busybox true" \
	--cmd strata-cli "$S run --rm busybox true"

sleep "$IDLE_S"
rss1=$(rss_kib "$SVC"); pss1=$(pss_kib "$SVC")
threads=$(awk '/^Threads/{print $2}' "/proc/$SVC/status")
med() { jq -r --arg l "$1" 'select(.title=="run --rm" and .label==$l) | .wall_s.median*1000' "$JSON" | tail -1; }
p=$(med podman); d=$(med docker-api); s=$(med strata-cli)
say ""
say "medians: podman $(printf %.1f "$p") ms, docker through strata's API $(printf %.1f "$d") ms (ratio $(awk -v a="$d" -v b="$p" 'BEGIN{printf "%.2f", a/b}')x, target <= 0.2x), strata run $(printf %.1f "$s") ms"
say "API server idle VmRSS: $rss0 KiB 2s after its first run (PSS $pss0), $rss1 KiB (PSS $pss1, $threads threads) ${IDLE_S}s after the runs (target <= 10240 KiB)"
say "results: $OUT"
