//! cgroups: the v1 and v2 drivers, chosen at run time from what the host mounts.
//!
//! - Pure v2 (`/sys/fs/cgroup` is cgroup2): one directory, resources as v2 files, devices as an
//!   eBPF program, freezing through `cgroup.freeze`.
//! - v1, including the hybrid layout of our machines (v1 controllers under
//!   `/sys/fs/cgroup/<ctrl>`, cgroup2 at `/sys/fs/cgroup/unified`): one directory per hierarchy;
//!   v1 files for the v1 controllers, and the unified directory for what only v2 has there
//!   (hugetlb on our machines). crun refuses this layout; runc copes, and so do we.
//!
//! [`Manager`] creates, fills, updates and removes a container's directories; the drivers
//! ([`v1`], [`v2`] and [`systemd`]) apply resources one controller a file, all through
//! [`fs`] (a directory of one hierarchy, and the reads and writes of its files).

pub mod fs;
pub mod layout;
pub mod manager;
pub mod path;
pub mod systemd;
pub mod v1;
pub mod v2;

pub use fs::CgroupDir;
pub use layout::Layout;
pub use manager::Manager;

/// Whether the container's cgroups are frozen (v1 freezer or v2 cgroup.freeze).
pub fn is_frozen(dirs: &[CgroupDir]) -> bool {
    dirs.iter().any(|d| d.is_frozen())
}
