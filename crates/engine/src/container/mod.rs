//! Containers: their record, and the lifecycle commands (one file each).

pub mod config;
pub mod copy;
pub mod create;
pub mod etc_files;
pub mod inspect;
pub mod manage;
pub mod parse;
pub mod remove;
pub mod rootfs;
pub mod start;
pub mod state;
pub mod stats;
pub mod status;
pub mod stop;

pub use config::ContainerConfig;
pub use state::{ContainerState, Status};

use crate::ids;

/// A container as the engine records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    /// Its id (64 hex digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created (nanoseconds since the epoch).
    pub created: i64,
    /// Its pod's id.
    pub pod: Option<String>,
    /// What the user asked for.
    pub config: ContainerConfig,
    /// Its state.
    pub state: ContainerState,
}

impl Container {
    /// Its short id.
    pub fn short_id(&self) -> &str {
        ids::short(&self.id)
    }

    /// Its hostname: the one given, else its short id (docker's default).
    pub fn hostname(&self) -> String {
        self.config
            .hostname
            .clone()
            .unwrap_or_else(|| self.short_id().to_string())
    }

    /// Its log file.
    pub fn log_path(&self, paths: &crate::paths::Paths) -> std::path::PathBuf {
        self.config
            .log_path
            .clone()
            .unwrap_or_else(|| paths.log(&self.id))
    }

    /// Its cgroup path: relative to each hierarchy's root, or with the systemd driver
    /// `SLICE:strata:ID` (the runtime's scope `strata-ID.scope` in that slice).
    pub fn cgroup_path(&self) -> String {
        match (
            &self.config.cgroup_parent,
            self.config.systemd_cgroup,
            &self.pod,
        ) {
            (Some(slice), true, _) => format!("{slice}:strata:{}", self.id),
            (None, true, _) => format!("system.slice:strata:{}", self.id),
            (Some(parent), false, _) => format!("/{}/{}", parent.trim_matches('/'), self.id),
            (None, false, Some(p)) => format!("{}/{}", crate::pod::cgroup_parent(p), self.id),
            (None, false, None) => format!("{}/{}", crate::paths::cgroup_root(), self.id),
        }
    }
}
