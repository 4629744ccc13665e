//! The parser's typed error: one line, `file:line:column: message`.

use thiserror::Error;

/// A syntax error in a Dockerfile, with the position of the offending text.
///
/// Rendered as `Dockerfile:3:1: unknown instruction: FORM (did you mean FROM?)`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {kind}")]
pub struct ParseError {
    /// The file name the error is reported against (as given to the parser).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// The reasons a Dockerfile fails to parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// An instruction keyword that does not exist.
    #[error("unknown instruction: {name}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownInstruction {
        /// The keyword as written.
        name: String,
        /// The closest known instruction, when one is close.
        suggestion: Option<String>,
    },
    /// A JSON array that never closes.
    #[error("unterminated JSON array")]
    UnterminatedJson,
    /// A JSON array that is malformed where only JSON is accepted.
    #[error("{instruction} requires the arguments to be a JSON array of strings: {reason}")]
    InvalidJson {
        /// The instruction name.
        instruction: &'static str,
        /// What the JSON parser found.
        reason: String,
    },
    /// A quote (single or double) that never closes.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    /// A heredoc whose terminating word never appears.
    #[error("unterminated heredoc: missing terminator {0}")]
    UnterminatedHeredoc(String),
    /// A flag that the instruction does not take.
    #[error("flag --{flag} is not valid for {instruction}")]
    InvalidFlag {
        /// The flag name without dashes.
        flag: String,
        /// The instruction name.
        instruction: &'static str,
    },
    /// A flag given a value it cannot take, or none when it needs one.
    #[error("invalid value for --{flag}: {reason}")]
    InvalidFlagValue {
        /// The flag name without dashes.
        flag: String,
        /// Why the value is wrong.
        reason: String,
    },
    /// A flag given twice where only one is allowed.
    #[error("duplicate flag --{0}")]
    DuplicateFlag(String),
    /// Anything but ARG before the first FROM.
    #[error("{0} before the first FROM: only ARG may precede FROM")]
    BeforeFrom(&'static str),
    /// Wrong number or shape of arguments.
    #[error("{instruction} {reason}")]
    InvalidArguments {
        /// The instruction name.
        instruction: &'static str,
        /// What is wrong with them.
        reason: String,
    },
    /// A parser directive with a bad value, or given twice.
    #[error("{0}")]
    Directive(String),
    /// A RUN --mount specification that is invalid.
    #[error("invalid --mount: {0}")]
    InvalidMount(String),
    /// ONBUILD wrapping an instruction that it cannot wrap.
    #[error("ONBUILD {0} is not allowed")]
    OnbuildNotAllowed(&'static str),
    /// A file with no FROM at all.
    #[error("no FROM instruction: a Dockerfile needs at least one stage")]
    NoFrom,
}
