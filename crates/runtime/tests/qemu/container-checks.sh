#!/bin/sh
# Runs inside the guest's containers (copied to /checks.sh in their rootfs); prints
# `RESULT key=value` lines that cgroup_v2_qemu.rs asserts on.
# try_open '<'|'>' PATH: "open", or the shell's error message.
try_open() {
  if [ "$1" = '<' ]; then out=$( (: <"$2") 2>&1); else out=$( (: >"$2") 2>&1); fi && out=open
  echo "$out"
}

case "$1" in
limits)
  # The container's own cgroup, seen through its cgroup namespace.
  for f in memory.max pids.max cpu.max cpu.weight; do
    echo "RESULT a.$f=$(cat /sys/fs/cgroup/$f 2>&1)"
  done
  echo "RESULT a.self_cgroup=$(cat /proc/self/cgroup)"
  ;;
devices)
  # $2: the key prefix (b: typed deny rules, w: the default spec's wildcard deny-all).
  p=${2:-b}
  if head -c1 /dev/null >/dev/null; then echo "RESULT $p.null=ok"; else echo "RESULT $p.null=denied"; fi
  # A node from linux.devices is allowed implicitly (as runc): open it write-only (kmsg
  # needs no capability for that).
  echo "RESULT $p.kmsg_node=$(stat -c '%F %t:%T' /dev/testkmsg 2>&1)"
  echo "RESULT $p.kmsg=$(try_open '>' /dev/testkmsg)"
  # A node the container makes itself (mknod is allowed for every device by the defaults)
  # stays closed: /dev/mem, with CAP_SYS_RAWIO granted, so only the device program denies.
  if mknod /dev/mem2 c 1 1 2>/dev/null; then echo "RESULT $p.mknod=ok"; else echo "RESULT $p.mknod=failed"; fi
  echo "RESULT $p.mem=$(try_open '<' /dev/mem2)"
  echo "RESULT $p.full=$(try_open '>' /dev/full)"
  ;;
files)
  # $2: key prefix; then cgroup interface files of the container's own cgroup.
  p=$2
  shift 2
  for f in "$@"; do
    echo "RESULT $p.$f=$(tr '\n' ' ' </sys/fs/cgroup/$f 2>&1 | sed 's/ *$//')"
  done
  ;;
oom)
  # The shell holds a 64 MiB string: beyond the 16 MiB limit, the OOM killer ends it.
  x=$(head -c 67108864 /dev/zero | tr '\0' a)
  echo "RESULT e.survived=${#x}"
  ;;
*)
  echo "RESULT checks.unknown=$1"
  ;;
esac
