#!/bin/sh
# Runs inside the guest's containers (copied to /checks.sh in their rootfs); prints
# `RESULT key=value` lines that cgroup_v2_qemu.rs asserts on.
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
  echo "RESULT $p.mem_node=$(stat -c '%F %t:%T' /dev/testmem 2>&1)"
  if out=$(head -c1 /dev/testmem 2>&1 >/dev/null); then echo "RESULT $p.mem=allowed"; else echo "RESULT $p.mem=$out"; fi
  if out=$( (echo x >/dev/full) 2>&1); then echo "RESULT $p.full=written"; else echo "RESULT $p.full=$out"; fi
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
