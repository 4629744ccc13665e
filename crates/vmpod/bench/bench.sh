#!/usr/bin/env bash
# bench.sh: a VM container's start against a bare boot of the same guest, side by side in
# one run (issue 12's figures), and its host memory beyond guest memory.
#
#   bare:   QEMU (microvm, the same acceleration, kernel and initramfs) from its spawn to
#           the agent, the guest's init, serving on its port ("strata-agent: serving" on
#           the console); booting the ELF vmlinux through its PVH note with strata's kernel
#           parameters and guest CPU, as strata does (the ratio's base; boot-bench.sh's -p),
#           and beside it the bzImage with the plain command line and `-cpu max`
#           (boot-bench.sh's default way, the issue's first comparison);
#   strata: `strata run --rm --isolation vm busybox echo ready` from its spawn to "ready"
#           (the container's process has run: boot, layers, overlay, the runtime in the guest).
# Then one detached VM container's host memory: QEMU's resident set less the guest RAM it
# holds (the guest RAM mapping's Rss in smaps), plus the shim's and the monitor's; and of
# that, the VM's own (anonymous pages: the file-backed ones are page cache all VMs share).
# Then VM pods (`pod create --isolation vm`): from the pod's creation to its first
# container's process (the pod VM boots with virtio-fs and a SCSI controller, its
# container's layers are hot-plugged SCSI disks), and another container
# started in the running pod VM (its layers attached, no boot); one running VM pod's host
# memory as a VM container's; and its idle host CPU (its container asleep) beside a bare
# guest's idle at its agent.
#
# usage: crates/vmpod/bench/bench.sh [-n RUNS]    (needs scripts/setup's busybox image)
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=10
while getopts "n:" o; do case $o in n) N=$OPTARG ;; *) exit 2 ;; esac; done
cargo build --release --workspace --bins >&2
export STRATA_AGENT; STRATA_AGENT=$(crates/agent/build-static.sh 2>/dev/null | tail -n1)
BIN=$PWD/target/release
W=$(mktemp -d /tmp/strata-vmbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
# The engine's cached assets (initramfs, layer disks) are made by a first run, not timed.
"$BIN/strata" run --rm --isolation vm busybox true >/dev/null
INITRD=$(ls -t /var/lib/strata/vm/initramfs-*.cpio | head -1)
BZIMAGE=$(ls /var/cache/strata/kernel/boot/vmlinuz-* | head -1)
PVH=$(ls /var/cache/strata/kernel/boot/vmlinux-* | head -1)
ACCEL=tcg; [ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] && ACCEL=kvm
# The guest CPU: boot-bench.sh's (`max` under TCG) for the bzImage's plain boot, and
# strata's (crates/vmpod/src/qemu.rs: TCG_CPU) for the PVH boot with strata's parameters.
CPU=max; STRATA_CPU=max,-erms,-fsrm; APPEND="console=ttyS0 quiet panic=-1 reboot=t pci=off"
if [ $ACCEL = tcg ]; then
  APPEND="$APPEND tsc_early_khz=$(awk -F': ' '/^cpu MHz/{printf "%d", $2*1000; exit}' /proc/cpuinfo)"
else CPU=host,-arch-capabilities; STRATA_CPU=$CPU; fi
# The kernel parameters strata's VMs add (crates/vmpod/src/qemu.rs: BOOT_PARAMS, Kata's).
PARAMS="cryptomgr.notests tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1"

ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f\n", (a-b)*1000}'; }
median() { sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

# Host CPU the processes $@ use while idle, in ms per second (over 10 s).
IDLE_S=10
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done; echo $t; }
idle_cpu() {
  local a b; a=$(ticks "$@"); sleep $IDLE_S; b=$(ticks "$@")
  awk -v d=$((b - a)) -v hz="$(getconf CLK_TCK)" -v s=$IDLE_S 'BEGIN{printf "%.1f\n", d * 1000 / hz / s}'
}

# $1: the kernel image, $2: the kernel command line, $3: the guest CPU; with $4 `idle`, the
# guest's idle host CPU at its agent (idle_cpu) instead of its boot time.
bare_once() {
  local t0 line pid
  rm -f "$W/agent.sock"
  t0=$EPOCHREALTIME
  exec {fd}< <(cd "$W" && exec qemu-system-x86_64 -M microvm -accel $ACCEL -cpu "$3" -smp 1 -m 256M \
      -nodefaults -no-user-config -no-reboot -display none -monitor none -serial stdio \
      -kernel "$1" -initrd "$INITRD" -append "$2" -device virtio-serial-device \
      -chardev socket,id=agent,path=agent.sock,server=on,wait=off \
      -device virtserialport,chardev=agent,name=strata.agent </dev/null 2>&1)
  pid=$!
  while IFS= read -r -u $fd line; do
    if [[ $line == *"strata-agent: serving"* ]]; then
      # (The newest QEMU: $pid may be the shell of the process substitution.)
      if [[ ${4:-} == idle ]]; then sleep 3; idle_cpu "$(pgrep -n -x qemu-system-x86)"
      else ms "$EPOCHREALTIME" "$t0"; fi
      break
    fi
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  exec {fd}<&-
}

strata_once() {
  local t0 line
  t0=$EPOCHREALTIME
  exec {fd}< <("$BIN/strata" run --rm --isolation vm busybox echo ready 2>&1)
  while IFS= read -r -u $fd line; do
    if [[ $line == ready ]]; then ms "$EPOCHREALTIME" "$t0"; break; fi
  done
  cat <&$fd >/dev/null; exec {fd}<&-
}

: >"$W/bare"; : >"$W/bzimage"; : >"$W/strata"
for _ in $(seq "$N"); do
  bare_once "$PVH" "$APPEND $PARAMS" "$STRATA_CPU" >>"$W/bare"
  bare_once "$BZIMAGE" "$APPEND" "$CPU" >>"$W/bzimage"
  strata_once >>"$W/strata"
done
b=$(median <"$W/bare"); z=$(median <"$W/bzimage"); s=$(median <"$W/strata")
echo "vm start ($ACCEL, $N runs each, interleaved): bare boot to init ${b} ms (the bzImage: ${z} ms), strata run to the process ${s} ms, ratio $(awk -v s="$s" -v b="$b" 'BEGIN{printf "%.2f", s/b}')x ($(awk -v s="$s" -v b="$z" 'BEGIN{printf "%.2f", s/b}')x the bzImage's boot)"

# A field of /proc/PID/status, in KiB.
field() { awk -v k="$2:" '$1==k{print $2}' /proc/"$1"/status; }

# Host memory of one running VM container beyond its guest's RAM.
id=$("$BIN/strata" run -d --isolation vm busybox sleep 600)
for _ in $(seq 600); do "$BIN/strata" describe "$id" | grep -q "VMM pid" && break; sleep 0.1; done
sleep 2
qemu=$("$BIN/strata" describe "$id" | sed -n 's/.*VMM pid \([0-9]*\).*/\1/p')
shim=$(awk '{print $4}' /proc/"$qemu"/stat)
mon=$(awk '{print $4}' /proc/"$shim"/stat)
guest=$(awk -v want=$((256 * 1024)) '/^[0-9a-f]+-/{size=0} /^Size:/{size=$2} /^Rss:/{ if (size==want) {print $2; exit} }' /proc/"$qemu"/smaps)
# The processes' file-backed pages (their binaries, libraries, the kernel and initramfs) are
# the page cache every VM on the host shares; their anonymous pages are this VM's own.
q=$(field "$qemu" VmRSS); qanon=$(field "$qemu" RssAnon); qfile=$(field "$qemu" RssFile)
sh=$(field "$shim" VmRSS); sha=$(field "$shim" RssAnon); m=$(field "$mon" VmRSS); ma=$(field "$mon" RssAnon)
echo "vm container memory: qemu ${q} KiB (guest RAM held ${guest:-0} KiB; anonymous ${qanon} KiB, file-backed ${qfile} KiB), shim ${sh} KiB (anonymous ${sha}), monitor ${m} KiB (anonymous ${ma}); overhead beyond guest RAM $(( (q - ${guest:-0} + sh + m) / 1024 )) MiB, of which this VM's own $(( (qanon - ${guest:-0} + sha + ma) / 1024 )) MiB"
"$BIN/strata" rm -f "$id" >/dev/null

# VM pods: the pod VM's start with its first container, and one more container in it.
pod_once() {
  local t0 t1 p
  p=vmbench-$RANDOM
  t0=$EPOCHREALTIME
  "$BIN/strata" pod create --isolation vm --name "$p" >/dev/null
  "$BIN/strata" run --rm --pod "$p" busybox echo ready | grep -q ready
  t1=$EPOCHREALTIME
  ms "$t1" "$t0" >>"$W/pod"
  "$BIN/strata" run --rm --pod "$p" busybox echo ready | grep -q ready
  ms "$EPOCHREALTIME" "$t1" >>"$W/member"
  "$BIN/strata" pod rm -f "$p" >/dev/null
}
: >"$W/pod"; : >"$W/member"
for _ in $(seq "$N"); do pod_once; done
pd=$(median <"$W/pod"); mb=$(median <"$W/member")
echo "vm pod ($N runs): pod create to its first container's process ${pd} ms ($(awk -v s="$pd" -v b="$b" 'BEGIN{printf "%.2f", s/b}')x the bare boot), another container in the running pod VM ${mb} ms"

# Host memory of one running VM pod beyond its guest RAM: its VM has virtio-fs, so QEMU's
# guest RAM is a shared memfd (RssShmem) and virtiofsd serves the share; plus the pod VM's
# shim and the infra's monitor (each container of the pod adds its own shim and monitor).
p=vmbench-mem-$RANDOM
"$BIN/strata" pod create --isolation vm --name "$p" >/dev/null
cid=$("$BIN/strata" run -d --pod "$p" busybox sleep 600)
for _ in $(seq 600); do "$BIN/strata" describe "$cid" | grep -q "VMM pid" && break; sleep 0.1; done
sleep 2
qemu=$("$BIN/strata" describe "$cid" | sed -n 's/.*VMM pid \([0-9]*\).*/\1/p')
shim=$(awk '{print $4}' /proc/"$qemu"/stat)
mon=$(awk '{print $4}' /proc/"$shim"/stat)
vfs=$(pgrep -P "$shim" virtiofsd | head -1)
guest=$(awk -v want=$((256 * 1024)) '/^[0-9a-f]+-/{size=0} /^Size:/{size=$2} /^Rss:/{ if (size==want) {print $2; exit} }' /proc/"$qemu"/smaps)
q=$(field "$qemu" VmRSS); qa=$(field "$qemu" RssAnon); qf=$(field "$qemu" RssFile); qs=$(field "$qemu" RssShmem)
v=$(field "$vfs" VmRSS); va=$(field "$vfs" RssAnon)
sh=$(field "$shim" VmRSS); sha=$(field "$shim" RssAnon); m=$(field "$mon" VmRSS); ma=$(field "$mon" RssAnon)
echo "vm pod memory: qemu ${q} KiB (guest RAM held ${guest:-0} KiB; anonymous ${qa}, file-backed ${qf}, shared ${qs} KiB), virtiofsd ${v} KiB (anonymous ${va}), pod shim ${sh} KiB (anonymous ${sha}), infra monitor ${m} KiB (anonymous ${ma}); overhead beyond guest RAM $(( (q - ${guest:-0} + v + sh + m) / 1024 )) MiB, of which this pod's own $(( (qa + qs - ${guest:-0} + va + sha + ma) / 1024 )) MiB"
# Idle: the pod VM with its container asleep, beside a bare guest idle at its agent.
q_idle=$(idle_cpu "$qemu")
h_idle=$(idle_cpu "$shim" "$mon" "$vfs")
b_idle=$(bare_once "$PVH" "$APPEND $PARAMS" "$STRATA_CPU" idle)
echo "idle host CPU (${IDLE_S} s, the pod's container asleep): its QEMU ${q_idle} ms/s, the pod shim, infra monitor and virtiofsd ${h_idle} ms/s; a bare guest idle at its agent: QEMU ${b_idle} ms/s"
"$BIN/strata" pod rm -f "$p" >/dev/null
