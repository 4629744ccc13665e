//! Errors found while evaluating the stages: one line, naming the file and line.

use thiserror::Error;

use crate::expand::ExpandError;

/// An error in the stage graph, rendered `file:line: message` (or `file: message`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{}{kind}", line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".into()))]
pub struct StageError {
    /// The Dockerfile's name.
    pub file: String,
    /// The line of the offending instruction, when there is one.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: StageErrorKind,
}

/// What can be wrong with the stages.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StageErrorKind {
    /// A word that cannot be expanded.
    #[error("{what}: {source}")]
    Expand {
        /// What was being expanded (`FROM image`, `COPY --from`, ...).
        what: String,
        /// Why it failed.
        source: ExpandError,
    },
    /// FROM whose image expands to nothing.
    #[error("base name ({0}) should not be blank")]
    EmptyBase(String),
    /// Two stages with one name.
    #[error("duplicate stage name {0:?}")]
    DuplicateName(String),
    /// A numeric `--from` that does not name an earlier stage.
    #[error(
        "invalid --from={index}: stage index must be lower than the current stage's ({current})"
    )]
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The current stage's index.
        current: usize,
    },
    /// A stage that (through others) depends on itself.
    #[error("circular dependency detected on stage: {0}")]
    Circular(String),
    /// `--target` naming no stage.
    #[error("target stage {0:?} could not be found")]
    UnknownTarget(String),
    /// A base or `--from` image that is not a valid reference.
    #[error("{0}")]
    InvalidReference(String),
}
