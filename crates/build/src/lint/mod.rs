//! The course's Dockerfile practices, as warnings with a rule id, a position and a fix.
//!
//! [`lint`] checks a parsed Dockerfile; [`render`] prints one warning as
//! `Dockerfile:12: warning[apt-no-recommends]: <message>; <fix>`; [`summary`] counts them.

mod apt;
mod rules;
mod shell;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use crate::parse::{parse, Dockerfile, ParseError};

/// The practices checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `FROM image` without a tag, or with `:latest`.
    UnpinnedBase,
    /// `apt-get update` in a RUN that does not also install.
    AptUpdateAlone,
    /// `apt-get install` without `-y`.
    AptYes,
    /// `apt-get install` without `--no-install-recommends`.
    AptNoRecommends,
    /// `apt-get install` without removing `/var/lib/apt/lists` in the same RUN.
    AptLists,
    /// A copy of the whole context with no `.dockerignore`.
    CopyContextNoIgnore,
    /// A dependency manifest copied after the source in the same stage.
    ManifestAfterSource,
    /// The final stage runs as root.
    RootUser,
    /// ADD where COPY would do.
    AddNotCopy,
    /// A secret-looking name in ARG or ENV.
    SecretInArgEnv,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 10] = [
        Rule::UnpinnedBase,
        Rule::AptUpdateAlone,
        Rule::AptYes,
        Rule::AptNoRecommends,
        Rule::AptLists,
        Rule::CopyContextNoIgnore,
        Rule::ManifestAfterSource,
        Rule::RootUser,
        Rule::AddNotCopy,
        Rule::SecretInArgEnv,
    ];

    /// The rule's id, as printed in `warning[<id>]`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::UnpinnedBase => "unpinned-base",
            Rule::AptUpdateAlone => "apt-update-alone",
            Rule::AptYes => "apt-yes",
            Rule::AptNoRecommends => "apt-no-recommends",
            Rule::AptLists => "apt-lists",
            Rule::CopyContextNoIgnore => "copy-context-no-ignore",
            Rule::ManifestAfterSource => "manifest-after-source",
            Rule::RootUser => "root-user",
            Rule::AddNotCopy => "add-not-copy",
            Rule::SecretInArgEnv => "secret-in-arg-env",
        }
    }
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// The Dockerfile's name.
    pub file: String,
    /// The line of the instruction at fault.
    pub line: usize,
    /// Which practice.
    pub rule: Rule,
    /// What is wrong and why it matters.
    pub message: String,
    /// What to do instead.
    pub fix: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning[{}]: {}; {}",
            self.file,
            self.line,
            self.rule.id(),
            self.message,
            self.fix
        )
    }
}

/// What the linter needs to know beyond the Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintOptions {
    /// Whether the build context has an ignore file (see [`crate::dockerignore`]).
    pub has_dockerignore: bool,
    /// The `--target` stage, if any (otherwise the last stage is the final one).
    pub target: Option<String>,
}

/// Checks every practice; warnings come sorted by line, then rule.
pub fn lint(df: &Dockerfile, opts: &LintOptions) -> Vec<Lint> {
    let mut out = rules::check(df, opts);
    out.sort_by_key(|l| (l.line, l.rule));
    out
}

/// Parses then lints `src`.
pub fn lint_source(file: &str, src: &str, opts: &LintOptions) -> Result<Vec<Lint>, ParseError> {
    Ok(lint(&parse(file, src)?, opts))
}

/// One warning as a line of text.
pub fn render(lint: &Lint) -> String {
    lint.to_string()
}

/// How many warnings, in all and per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// All warnings.
    pub total: usize,
    /// Per rule id.
    pub by_rule: BTreeMap<&'static str, usize>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total == 0 {
            return write!(f, "no warnings");
        }
        let plural = if self.total == 1 { "" } else { "s" };
        let parts: Vec<String> = self
            .by_rule
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        write!(f, "{} warning{plural} ({})", self.total, parts.join(", "))
    }
}

/// Counts warnings.
pub fn summary(lints: &[Lint]) -> Summary {
    let mut s = Summary::default();
    for l in lints {
        s.total += 1;
        *s.by_rule.entry(l.rule.id()).or_default() += 1;
    }
    s
}

/// Every warning on its own line, then the summary line.
pub fn render_all(lints: &[Lint]) -> String {
    let mut out: String = lints.iter().map(|l| format!("{l}\n")).collect();
    out.push_str(&summary(lints).to_string());
    out.push('\n');
    out
}
