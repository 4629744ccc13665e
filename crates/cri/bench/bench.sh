#!/bin/bash
# bench.sh: strata's CRI server beside containerd 1.6's CRI plugin, driven by the same CRI
# client (crates/cri/examples/cri_bench.rs) in one run: the RPCs of a pod's life
# (RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer,
# StopPodSandbox, RemovePodSandbox), ListContainers with 100 containers, and each server's
# resident memory with 50 running pods. containerd runs from a temporary root on its own
# socket, with a bridge CNI network from Debian's plugins and a pause image made here (the
# local registry's busybox running `sleep`); strata cri on its own root and socket.
# Prereqs (as root): shared/bench/engine/registry.sh start; make-images.sh; release builds:
#   cargo build --release -p strata-cli --example cri_bench -p strata-cri
#   crates/runtime/bench/build-static.sh
# ENV: RUNS (10) rounds per server, interleaved in ROUNDS (3) alternating blocks; PODS (50).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../../../scripts/bench-env.sh
. "$HERE/../../../scripts/bench-env.sh"
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
PODS=${PODS:-50}
STRATA=${STRATA:-$STRATA_DEFAULT}
CLIENT=${CLIENT:-$REPO/target/release/examples/cri_bench}
OUT=${OUT:-${TMPDIR:-/tmp}/strata-cri-bench/$(date +%Y%m%dT%H%M%S)}
W=${W:-/tmp/scb}
for b in "$STRATA" "$CLIENT" "$STATIC_DIR/strata-monitor"; do
	[ -x "$b" ] || die "no $b (see the prerequisites at the top of this script)"
done
registry_up "$REG" || die "registry $REG not running: $ENGINE_DIR/registry.sh start"
rm -rf "$W"
mkdir -p "$OUT" "$W"
RES=$OUT/results.jsonl
say() { echo "$*" | tee -a "$OUT/summary.txt"; }

# The pause image: busybox whose default process sleeps.
PAUSE=$REG/pause:bench
L=$W/layout
cp -r "$ENGINE_TMP/images/layout" "$L"
umoci config --image "$L:busybox" --tag pause --config.entrypoint sleep --config.cmd 1000000000 >/dev/null ||
	die "umoci config"
skopeo copy -q --dest-tls-verify=false "oci:$L:pause" "docker://$PAUSE" || die "push $PAUSE"

# containerd with its CRI plugin.
CT=$W/containerd
mkdir -p "$CT/net.d"
cat >"$CT/net.d/10-bench.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "cri-bench", "plugins": [
 {"type": "bridge", "bridge": "scb0", "isGateway": true, "ipMasq": false,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.231.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
 {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
cat >"$CT/config.toml" <<EOF
version = 2
root = "$CT/root"
state = "$CT/state"
[grpc]
  address = "$CT/containerd.sock"
[ttrpc]
  address = "$CT/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CT/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REG"]
    endpoint = ["http://$REG"]
EOF
containerd --config "$CT/config.toml" >"$OUT/containerd.log" 2>&1 &
CPID=$!
# strata cri, its own root and socket, on an engine network of its own.
export STRATA_MONITOR=$STATIC_DIR/strata-monitor STRATA_RUNC=$STATIC_DIR/strata-runc
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REG" >"$W/registries.toml"
SR="--root $W/strata/root --runroot $W/strata/run --registries-conf $W/registries.toml"
printf 'network = "cri-bench"\n' >"$W/cri.toml"
# shellcheck disable=SC2086
$STRATA $SR network create --subnet 10.232.0.0/16 cri-bench >/dev/null || die "strata network create"
# shellcheck disable=SC2086
$STRATA $SR cri --config "$W/cri.toml" --socket "$W/strata.sock" >"$OUT/strata-cri.log" 2>&1 &
SPID=$!
stop_all() {
	kill "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	# shellcheck disable=SC2086
	$STRATA $SR pod rm -a -f >/dev/null 2>&1
	# shellcheck disable=SC2086
	$STRATA $SR rm -a -f >/dev/null 2>&1
	# shellcheck disable=SC2086
	$STRATA $SR network rm -f cri-bench >/dev/null 2>&1
	umount -l "$W/strata/run/netns" 2>/dev/null
	kill "$CPID" 2>/dev/null
	for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $CT/containerd.sock" || true); do kill "$p" 2>/dev/null; done
	wait "$CPID" 2>/dev/null
	for m in $(awk -v d="$W" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null; done
	ip link del scb0 2>/dev/null
	rm -rf "$W" /tmp/cri-bench-logs
}
trap stop_all EXIT
for s in "$CT/containerd.sock" "$W/strata.sock"; do
	for _ in $(seq 100); do [ -S "$s" ] && break; sleep 0.1; done
	[ -S "$s" ] || die "no socket $s (logs in $OUT)"
done
say "date: $(date -u +%FT%TZ)  host: $(uname -r), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "containerd: $(containerd --version | cut -d' ' -f3) (CRI plugin, runc), strata: $STRATA"

for r in $(seq "$ROUNDS"); do
	"$CLIENT" --socket "$CT/containerd.sock" --image "$IMG_BUSYBOX" --runs "$RUNS" --label containerd >>"$RES" || die "containerd round $r"
	"$CLIENT" --socket "$W/strata.sock" --image "$IMG_BUSYBOX" --runs "$RUNS" --label strata >>"$RES" || die "strata round $r"
done
"$CLIENT" --socket "$CT/containerd.sock" --image "$IMG_BUSYBOX" --runs 0 --list 100 --label containerd >>"$RES" || die "containerd list"
"$CLIENT" --socket "$W/strata.sock" --image "$IMG_BUSYBOX" --runs 0 --list 100 --label strata >>"$RES" || die "strata list"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for side in containerd strata; do
	if [ $side = containerd ]; then sock=$CT/containerd.sock pid=$CPID; else sock=$W/strata.sock pid=$SPID; fi
	coproc C { "$CLIENT" --socket "$sock" --image "$IMG_BUSYBOX" --runs 0 --pods "$PODS" --label "$side"; }
	read -r line <&"${C[0]}"
	say "$side: $line; server VmRSS with $PODS pods: $(rss "$pid") KiB"
	echo "{\"label\":\"$side\",\"op\":\"rss_kib_${PODS}_pods\",\"ms\":[$(rss "$pid")]}" >>"$RES"
	echo done >&"${C[1]}"
	wait "$C_PID" 2>/dev/null
done

python3 - "$RES" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys, statistics
d = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    if "op" in o:
        d.setdefault((o["op"], o["label"]), []).extend(o["ms"])
ops = sorted({op for op, _ in d})
print(f"{'op':28} {'containerd':>12} {'strata':>12} {'ratio':>7}")
for op in ops:
    c, s = d.get((op, "containerd")), d.get((op, "strata"))
    if not c or not s:
        continue
    mc, ms = statistics.median(c), statistics.median(s)
    print(f"{op:28} {mc:12.2f} {ms:12.2f} {ms / mc:7.2f}x  (n={len(c)}/{len(s)})")
PY
log "results in $OUT"
