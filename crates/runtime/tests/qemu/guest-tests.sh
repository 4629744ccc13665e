#!/bin/sh
# Stage 2 (PID 1 on a tmpfs root): mounts a pure cgroup v2 layout, drives strata-runc and
# prints `RESULT key=value` lines on the serial console for cgroup_v2_qemu.rs, then powers off.
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
R="strata-runc --root /run/strata-runc"
CG=/sys/fs/cgroup/strata-v2
res() { echo "RESULT $1=$2"; }
status() { $R state "$1" 2>&1 | grep -o '"status": *"[a-z]*"' | sed 's/.*"\([a-z]*\)"$/\1/'; }
gone() { if [ -e "$CG/$1" ]; then echo no; else echo yes; fi; }

res boot ok
res kernel "$(uname -r)"
res controllers "$(tr ' ' , </sys/fs/cgroup/cgroup.controllers)"

# (a) memory, pids, cpu limits read from inside the container.
$R run -b /bundles/a a; res a.exit $?
res a.cgroup_gone "$(gone a)"

# (b) device control by the eBPF program.
$R run -b /bundles/b b; res b.exit $?
res b.cgroup_gone "$(gone b)"

# (b') the same with the default spec's rule list, whose first rule is a deny-all wildcard.
$R run -b /bundles/w w; res w.exit $?
res w.cgroup_gone "$(gone w)"

# (c) live update.
$R run -d -b /bundles/c c </dev/null; res c.run $?
res c.before "$(cat $CG/c/memory.max 2>&1)"
$R update --memory 33554432 c; res c.update $?
res c.after "$(cat $CG/c/memory.max 2>&1)"
echo '{"pids":{"limit":10}}' | $R update -r - c; res c.update_pids $?
res c.pids_after "$(cat $CG/c/pids.max 2>&1)"
# The device program replaced live: /dev/mem (made in the container) closed, then allowed.
try_mem='mknod /dev/mem2 c 1 1 2>/dev/null; (: </dev/mem2) 2>/dev/null && echo open || echo denied'
res c.dev_before "$($R exec c /bin/sh -c "$try_mem" 2>&1)"
echo '{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":1,"access":"r"}]}' |
  $R update -r - c
res c.update_devices $?
res c.dev_after "$($R exec c /bin/sh -c "$try_mem" 2>&1)"
$R delete -f c; res c.delete $?
res c.cgroup_gone "$(gone c)"

# (d) pause and resume through cgroup.freeze.
$R run -d -b /bundles/d d </dev/null; res d.run $?
$R pause d; res d.pause $?
res d.paused_status "$(status d)"
res d.freeze "$(cat $CG/d/cgroup.freeze 2>&1)"
res d.events "$(grep frozen $CG/d/cgroup.events 2>&1)"
$R resume d; res d.resume $?
res d.resumed_status "$(status d)"
res d.thawed "$(cat $CG/d/cgroup.freeze 2>&1)"
$R delete -f d; res d.delete $?
res d.cgroup_gone "$(gone d)"

# (f) the other v2 files: memory.low, memory.swap.max, memory.high (unified map), cpuset,
# io.weight, hugetlb.
$R run -b /bundles/f f; res f.exit $?
res f.cgroup_gone "$(gone f)"

# (g) a resource v2 cannot grant (cpu realtime): one line, nothing left behind.
$R run -b /bundles/g g 2>/tmp/g.err; res g.exit $?
res g.stderr "$(tr '\n' ' ' </tmp/g.err)"
res g.cgroup_gone "$(gone g)"

# (h) --systemd-cgroup's slice:prefix:name, placed with the cgroupfs driver; ps and exec.
HS=/sys/fs/cgroup/machine.slice/machine-strata.slice/strata-h.scope
$R --systemd-cgroup run -d -b /bundles/h h </dev/null; res h.run $?
res h.memory.max "$(cat $HS/memory.max 2>&1)"
res h.ps "$($R ps --format json h 2>&1 | tr -d ' \n')"
res h.init_pid "$(cat $HS/cgroup.procs 2>&1 | tr '\n' ,)"
res h.exec_cgroup "$($R exec h cat /proc/self/cgroup 2>&1)"
$R delete -f h; res h.delete $?
res h.cgroup_gone "$(if [ -e $HS ]; then echo no; else echo yes; fi)"

# (i) no cgroupsPath: the id, under the runtime's own cgroup (the root here).
$R run -d -b /bundles/i i </dev/null; res i.run $?
res i.pids.max "$(cat /sys/fs/cgroup/i/pids.max 2>&1)"
$R delete -f i; res i.delete $?
res i.cgroup_gone "$(if [ -e /sys/fs/cgroup/i ]; then echo no; else echo yes; fi)"

# (e) the OOM killer inside a 16 MiB container.
$R run -b /bundles/e e 2>/tmp/e.err; res e.exit $?
res e.stderr "$(tr '\n' ' ' </tmp/e.err)"
res e.cgroup_gone "$(gone e)"

# No container cgroup may stay behind (the /strata-v2 parent itself stays, as with runc).
res leftover "$(find $CG -mindepth 1 -type d 2>&1 | tr '\n' ,)"
res done 1
sync
poweroff -f
sleep 5
reboot -f
