//! The stage graph of a multi-stage Dockerfile.
//!
//! [`StageGraph::new`] evaluates the meta ARGs and each FROM line, names stages (`AS`, case
//! insensitive), follows ARG and ENV scoping through each stage, and records what each stage
//! depends on: its base (`FROM <stage>`), `COPY --from=<stage|index|image>`, `RUN
//! --mount=...,from=<stage>`, and the same inside ONBUILD triggers of a parent stage. Then
//! [`StageGraph::build_order`] keeps only what a `--target` needs, in a valid order, and
//! [`StageGraph::waves`] groups those stages into sets that can build in parallel.

mod error;
mod graph;
mod plan;
mod reference;
mod resolve;
mod scope;
#[cfg(test)]
mod tests;

pub use error::{StageError, StageErrorKind};
pub use reference::ImageRef;
pub use scope::{declare_arg, BuildOptions, Platform, Scope, PROXY_ARGS};

use crate::parse::Instruction;

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An image reference (expanded).
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Where something a stage uses comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Another stage, by index.
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// How a stage uses another stage or an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `FROM`.
    Base,
    /// `COPY --from=`.
    CopyFrom,
    /// `RUN --mount=from=`.
    MountFrom,
}

/// One dependency of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// What is used.
    pub source: Source,
    /// How.
    pub kind: DependencyKind,
    /// The line of the instruction that uses it.
    pub line: usize,
}

/// One stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages (what `COPY --from=<index>` names).
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    /// The FROM line.
    pub line: usize,
    /// The expanded base.
    pub base: Base,
    /// The expanded `--platform`, if given.
    pub platform: Option<String>,
    /// The instructions after FROM.
    pub instructions: Vec<Instruction>,
    /// Base, COPY --from and mount dependencies, in source order.
    pub dependencies: Vec<Dependency>,
    /// ENV at the end of the stage, expanded (inherited from a parent stage included).
    pub env: Vec<(String, String)>,
    /// The user set by the last USER of this stage or its parent stages, if any.
    pub user: Option<String>,
}

impl Stage {
    /// The stage's name, or its index when it has none (for messages).
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }

    /// The stages this stage needs before it can build, deduplicated, ascending.
    pub fn stage_dependencies(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .dependencies
            .iter()
            .filter_map(|d| match d.source {
                Source::Stage(i) => Some(i),
                Source::Image(_) => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The evaluated stages of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    /// The file name, for errors.
    pub file: String,
    /// The meta ARGs (declared before the first FROM) with their values.
    pub meta_args: Vec<(String, String)>,
    /// The stages in file order.
    pub stages: Vec<Stage>,
    /// Build args given but never declared by an ARG (docker warns about these).
    pub unused_build_args: Vec<String>,
}

impl StageGraph {
    /// The stage named `name` (case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&Stage> {
        let name = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name.as_str()))
    }
}
