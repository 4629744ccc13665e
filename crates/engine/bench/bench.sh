#!/bin/bash
# bench.sh: the engine beside podman (and containerd's ctr where it has an equivalent), in one
# interleaved run per figure with shared/bench/engine/timeit.py:
#   run     `run --rm IMG /bin/true`: podman and strata on their default bridge network, strata
#           with --network none
#   exec    `exec ID true` into a running `sleep`
#   pod     pod create + `run -d -i` server `nc -l -p 8080` (-i: busybox's nc ends when its
#           stdin does) + `run --rm` client to localhost:8080 + `pod rm -f`, the whole round trip
#   mem     RSS/PSS of the monitor per running container (strata-monitor vs conmon), after
#           one exec into each (strata's exec runs through the monitor)
#   ps      `ps -a` with 100 containers
# Prereqs (as root): shared/bench/engine/registry.sh start; make-images.sh; release builds of
# strata and of the static strata-runc and strata-monitor (crates/runtime/bench/build-static.sh,
# which also builds strata-monitor).
# ENV: N (21), POD_N (10), MEM_M (5), PS_N (100), STRATA (target/release/strata), STATIC_DIR
# (directory of the static strata-monitor and strata-runc), OUT.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../../../scripts/bench-env.sh
. "$HERE/../../../scripts/bench-env.sh"
N=${N:-21}
POD_N=${POD_N:-10}
MEM_M=${MEM_M:-5}
PS_N=${PS_N:-100}
STRATA=${STRATA:-$STRATA_DEFAULT}
OUT=${OUT:-${TMPDIR:-/tmp}/strata-engine-bench/$(date +%Y%m%dT%H%M%S)}
W=${W:-/tmp/seb}
mkdir -p "$OUT"
rm -rf "$W"
mkdir -p "$W"
[ -x "$STRATA" ] || die "no strata binary at $STRATA (cargo build --release -p strata-cli)"
[ -x "$STATIC_DIR/strata-monitor" ] || die "no static strata-monitor in $STATIC_DIR (crates/runtime/bench/build-static.sh)"
registry_up "$REG" || die "registry $REG not running: $ENGINE_DIR/registry.sh start"
podman_conf
export STRATA_MONITOR=$STATIC_DIR/strata-monitor STRATA_RUNC=$STATIC_DIR/strata-runc
export STRATA_ROOT=$W/root STRATA_RUNROOT=$W/run
S=$STRATA
P="podman --runtime runc"
SUM=$OUT/summary.txt
JSON=$OUT/results.jsonl
say() { echo "$*" | tee -a "$SUM"; }
T() { $TIMEIT --json "$JSON" --log "$OUT/logs" "$@" | tee -a "$SUM"; }
stats() { sort -g | awk '{a[NR]=$1} END{ if(NR==0){print "NA NA NA"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print m, a[1], a[NR]}'; }
cleanup() {
	$S pod rm -a -f >/dev/null 2>&1
	$S rm -a -f >/dev/null 2>&1
	ids=$($P ps -aq --filter name=bench- 2>/dev/null); [ -n "$ids" ] && $P rm -f -t 0 $ids >/dev/null 2>&1
	ids=$($P pod ps -q --filter name=bench- 2>/dev/null); [ -n "$ids" ] && $P pod rm -f -t 0 $ids >/dev/null 2>&1
	for n in $($S network ls -q 2>/dev/null); do $S network rm -f "$n" >/dev/null 2>&1; done
	umount -l "$W/run/netns" 2>/dev/null
	true
}
trap cleanup EXIT

say "date: $(date -u +%FT%TZ)  host: $(uname -r), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "podman: $(podman --version) (runc, CNI), strata: $STRATA, monitor: $STRATA_MONITOR"
$P pull -q "$IMG_BUSYBOX" >/dev/null || die "podman pull"
$S pull -q --tls-verify=false "$IMG_BUSYBOX" >/dev/null || die "strata pull"
$S run --rm "$IMG_BUSYBOX" true || die "strata run on the default network"
$P run --rm "$IMG_BUSYBOX" true || die "podman run"

sec_run() {
	say ""; say "=== run --rm $IMG_BUSYBOX /bin/true, n=$N ==="
	T --title "run --rm" -n "$N" -w 2 \
		--cmd podman "$P run --rm $IMG_BUSYBOX /bin/true" \
		--cmd strata "$S run --rm $IMG_BUSYBOX /bin/true" \
		--cmd strata-none "$S run --rm --network none $IMG_BUSYBOX /bin/true"
}

sec_exec() {
	say ""; say "=== exec ID true, n=$N ==="
	local pid sid
	pid=$($P run -d --name bench-exec "$IMG_BUSYBOX" sleep 1000)
	sid=$($S run -d --name bench-exec "$IMG_BUSYBOX" sleep 1000)
	T --title "exec" -n "$N" -w 2 --cmd podman "$P exec $pid true" --cmd strata "$S exec $sid true"
	$P rm -f -t 0 "$pid" >/dev/null; $S rm -f "$sid" >/dev/null
}

pod_round() { # engine label i
	local E=$1 i=$3 t0 t1
	t0=$(date +%s%N)
	$E pod create --name "bench-pod-$i" >/dev/null &&
		$E run -d -i --pod "bench-pod-$i" --name "bench-pod-$i-srv" "$IMG_BUSYBOX" nc -l -p 8080 >/dev/null &&
		$E run --rm --pod "bench-pod-$i" "$IMG_BUSYBOX" sh -c \
			'i=0; until echo ping-from-peer | nc localhost 8080; do i=$((i+1)); [ $i -gt 100 ] && exit 1; usleep 20000; done' >/dev/null
	local rc=$?
	t1=$(date +%s%N)
	$E pod rm -f "bench-pod-$i" >/dev/null 2>&1
	echo "$(((t1 - t0) / 1000)) $rc" >>"$OUT/pod-$2.txt"
}

sec_pod() {
	say ""; say "=== pod round trip (create, server, client over localhost), n=$POD_N, interleaved ==="
	: >"$OUT/pod-podman.txt"; : >"$OUT/pod-strata.txt"
	pod_round "$P" podman 0; pod_round "$S" strata 0; : >"$OUT/pod-podman.txt"; : >"$OUT/pod-strata.txt"
	for i in $(seq "$POD_N"); do
		if [ $((i % 2)) = 0 ]; then pod_round "$P" podman "$i"; pod_round "$S" strata "$i"
		else pod_round "$S" strata "$i"; pod_round "$P" podman "$i"; fi
	done
	local p s
	p=$(awk '$2==0{print $1/1000}' "$OUT/pod-podman.txt" | stats)
	s=$(awk '$2==0{print $1/1000}' "$OUT/pod-strata.txt" | stats)
	say "ms median/min/max: podman $p | strata $s  (failed rounds: podman $(awk '$2!=0' "$OUT/pod-podman.txt" | wc -l), strata $(awk '$2!=0' "$OUT/pod-strata.txt" | wc -l))"
	echo "{\"title\":\"pod\",\"podman_ms\":\"$p\",\"strata_ms\":\"$s\"}" >>"$JSON"
}

sec_mem() {
	say ""; say "=== monitor memory per running container, M=$MEM_M ==="
	local i pid kind
	: >"$OUT/mem.txt"
	for i in $(seq "$MEM_M"); do
		$P run -d --name "bench-mem-$i" "$IMG_BUSYBOX" sleep 1000 >/dev/null
		$S run -d --name "bench-mem-$i" "$IMG_BUSYBOX" sleep 1000 >/dev/null
	done
	for i in $(seq "$MEM_M"); do
		$P exec "bench-mem-$i" true && $S exec "bench-mem-$i" true || die "exec for mem"
	done
	sleep 1
	for i in $(seq "$MEM_M"); do
		for kind in podman strata; do
			if [ $kind = podman ]; then pid=$($P inspect -f '{{.State.ConmonPid}}' "bench-mem-$i"); else pid=$($S inspect -f '{{.State.ConmonPid}}' "bench-mem-$i"); fi
			echo "$kind $(awk '/^VmRSS/{print $2}' "/proc/$pid/status") $(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")" >>"$OUT/mem.txt"
		done
	done
	say "conmon VmRSS KiB median/min/max: $(awk '$1=="podman"{print $2}' "$OUT/mem.txt" | stats)  PSS: $(awk '$1=="podman"{print $3}' "$OUT/mem.txt" | stats)"
	say "strata-monitor VmRSS KiB median/min/max: $(awk '$1=="strata"{print $2}' "$OUT/mem.txt" | stats)  PSS: $(awk '$1=="strata"{print $3}' "$OUT/mem.txt" | stats)"
	for i in $(seq "$MEM_M"); do $P rm -f -t 0 "bench-mem-$i" >/dev/null; $S rm -f "bench-mem-$i" >/dev/null; done
}

sec_ps() {
	say ""; say "=== ps -a with $PS_N containers, n=$N ==="
	local i
	for i in $(seq "$PS_N"); do
		$S create --name "bench-ps-$i" --network none "$IMG_BUSYBOX" true >/dev/null
		$P create --name "bench-ps-$i" --network none "$IMG_BUSYBOX" true >/dev/null
	done
	T --title "ps -a ($PS_N containers)" -n "$N" -w 2 --cmd podman "$P ps -a" --cmd strata "$S ps -a"
	$S rm -a -f >/dev/null
	$P rm -a -f >/dev/null 2>&1
}

SECTIONS=${*:-run exec pod mem ps}
for s in $SECTIONS; do "sec_$s"; done
say ""; say "results: $OUT"
