//! `demo`: the README's first command ends here. A container from a bundle built on the fly
//! from Debian's busybox-static, with limits, that prints its hostname, its PID 1 and its
//! cgroup limits as it sees them. Everything it creates is removed afterwards.

use super::spec_default::default_config;
use strata_runtime::container::{ops, CreateOpts};
use strata_runtime::state::Root;
use strata_runtime::{Error, Result};

const SCRIPT: &str = r#"
echo "hostname: $(hostname)"
echo "pid 1:    $(cat /proc/1/comm) (this shell is pid $$)"
if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  echo "memory:   $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes"
  echo "pids:     $(cat /sys/fs/cgroup/pids/pids.max)"
  echo "cpu:      $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)/$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us) us"
else
  echo "memory:   $(cat /sys/fs/cgroup/memory.max) bytes"
  echo "pids:     $(cat /sys/fs/cgroup/pids.max)"
  echo "cpu:      $(cat /sys/fs/cgroup/cpu.max)"
fi
"#;

/// Builds the bundle, runs it, cleans up; returns the container's exit code.
pub fn run() -> Result<i32> {
    let busybox = "/bin/busybox";
    if !std::path::Path::new(busybox).exists() {
        return Err(Error::Other(
            "demo: /bin/busybox not found: install busybox-static (scripts/install-deps does)"
                .into(),
        ));
    }
    let tmp = std::env::temp_dir().join(format!("strata-demo-{}", std::process::id()));
    let res = (|| {
        let rootfs = tmp.join("bundle/rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).map_err(|e| Error::io("demo rootfs", e))?;
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox"))
            .map_err(|e| Error::io("copy busybox", e))?;
        for applet in ["sh", "cat", "echo", "hostname"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .map_err(|e| Error::io("demo applet link", e))?;
        }
        let mut cfg = default_config(false);
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["/bin/sh", "-c", SCRIPT]);
        cfg["hostname"] = "strata-demo".into();
        cfg["linux"]["cgroupsPath"] = format!("/strata-demo-{}/c", std::process::id()).into();
        cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20});
        cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 64});
        cfg["linux"]["resources"]["cpu"] = serde_json::json!({"quota": 50000, "period": 100000});
        let bundle = tmp.join("bundle");
        std::fs::write(bundle.join("config.json"), cfg.to_string())
            .map_err(|e| Error::io("demo config", e))?;
        let root = Root::new(tmp.join("state"));
        let o = CreateOpts {
            id: "demo".into(),
            bundle,
            ..Default::default()
        };
        println!("strata-runc demo: busybox-static container, memory 64 MiB, 64 pids, half a CPU");
        ops::run(&root, &o, false, false)
    })();
    // The parent cgroups of the demo are ours too.
    for d in strata_runtime::cgroups::Layout::detect().hierarchies {
        let _ = std::fs::remove_dir(d.mount.join(format!("strata-demo-{}", std::process::id())));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    res
}
