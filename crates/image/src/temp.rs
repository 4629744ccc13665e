//! Temporary names tied to the process that made them: a crashed or killed writer's
//! leftovers are recognised (its pid is gone) and collected by a later command.

use crate::error::{IoResultExt, Result};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique temporary name (pid, time, sequence).
pub fn temp_name(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}-{t}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a temporary entry named by [`temp_name`] belongs to a process that is gone
/// (or is older than a day, against pid reuse).
pub fn is_dead_temp(name: &str, path: &Path) -> bool {
    let pid = name
        .split_once('-')
        .and_then(|(_, rest)| rest.split('-').next())
        .and_then(|p| p.parse::<u32>().ok());
    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
    let ancient = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|a| a.as_secs() > 86400);
    !alive || ancient
}

/// Removes the entries of `dir` left by dead processes; returns how many.
pub fn clean_dead(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for e in fs::read_dir(dir)
        .op(format!("list {}", dir.display()))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if is_dead_temp(&name, &p) {
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            if r.is_ok() {
                n += 1;
            }
        }
    }
    Ok(n)
}
