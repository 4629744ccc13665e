//! v2 hugetlb: hugetlb.<size>.max. On a hybrid host the unified hierarchy carries it only
//! where the v1 hierarchy does not; a limit that neither can take is refused.

use crate::cgroups::fs::write;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxHugepageLimit;
use std::path::Path;

/// Applies the limits; `full` is false on a hybrid host.
pub fn apply(p: &Path, limits: &[LinuxHugepageLimit], full: bool) -> Result<()> {
    for h in limits {
        let f = format!("hugetlb.{}.max", h.page_size());
        if p.join(&f).exists() {
            write(p, &f, &h.limit().to_string())?;
        } else if full || !has_v1_hugetlb() {
            return Err(Error::Other(format!(
                "cgroup {}: hugetlb limit for {}: the hugetlb controller is not enabled here",
                p.display(),
                h.page_size()
            )));
        }
    }
    Ok(())
}

fn has_v1_hugetlb() -> bool {
    Path::new("/sys/fs/cgroup/hugetlb").exists()
}
