//! `.dockerignore` with Docker's rules, and which ignore file applies to a build.
//!
//! Each line is a pattern; lines starting with `#` are comments, blank lines are skipped.
//! Patterns are cleaned like Go's `filepath.Clean` and a leading `/` is dropped, so they are
//! relative to the context root. `*` and `?` do not cross `/`, `[...]` is a class, `**`
//! spans any number of directories. A path is excluded when the last pattern that matches
//! it or one of its parent directories is not a `!` exception. An excluded directory must
//! still be walked when an exception may re-include something below it
//! ([`DockerIgnore::must_walk`]).

mod pattern;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use pattern::{clean, Glob};

/// A `.dockerignore` that cannot be read or has a malformed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IgnoreError {
    /// A pattern that does not compile.
    #[error("{file}:{line}: {message}")]
    Pattern {
        /// The ignore file's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The ignore file's path.
        file: String,
        /// The I/O error.
        message: String,
    },
}

/// One cleaned pattern.
#[derive(Debug, Clone)]
struct Rule {
    text: String,
    exclusion: bool,
    glob: Glob,
    /// Per-component globs (`None` for a `**` component), for [`DockerIgnore::must_walk`].
    components: Vec<Option<Glob>>,
}

/// The parsed rules of one ignore file.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

impl DockerIgnore {
    /// Parses ignore-file text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<DockerIgnore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let err = |message: String| IgnoreError::Pattern {
                file: file.to_string(),
                line: n + 1,
                message,
            };
            if raw.starts_with('#') {
                continue;
            }
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(err("illegal exclusion pattern: \"!\"".into()));
                }
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let glob = Glob::new(&cleaned).map_err(|m| err(format!("{m}: {cleaned:?}")))?;
            let components = cleaned
                .split('/')
                .map(|c| match c {
                    "**" => Ok(None),
                    c => Glob::new(c).map(Some),
                })
                .collect::<Result<_, _>>()
                .map_err(|m| err(format!("{m}: {cleaned:?}")))?;
            rules.push(Rule {
                text: cleaned,
                exclusion,
                glob,
                components,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Reads and parses an ignore file.
    pub fn load(path: &Path) -> Result<DockerIgnore, IgnoreError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| IgnoreError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        DockerIgnore::parse(&file, &text)
    }

    /// The cleaned patterns, each with whether it is a `!` exception.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, bool)> {
        self.rules.iter().map(|r| (r.text.as_str(), r.exclusion))
    }

    /// True when there is at least one `!` exception.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exclusion)
    }

    /// True when `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for r in &self.rules {
            // Only a pattern that could change the outcome needs evaluating.
            if r.exclusion != excluded {
                continue;
            }
            let hit = r.glob.matches(path)
                || (1..parts.len()).any(|i| r.glob.matches(&parts[..i].join("/")));
            if hit {
                excluded = !r.exclusion;
            }
        }
        excluded
    }

    /// Whether a walk of the context must descend into directory `dir`: it is not
    /// excluded, or an exception may re-include something below it.
    pub fn must_walk(&self, dir: &str) -> bool {
        if !self.is_excluded(dir) {
            return true;
        }
        let dir = clean(dir);
        let parts: Vec<&str> = dir.trim_start_matches('/').split('/').collect();
        self.rules
            .iter()
            .filter(|r| r.exclusion)
            .any(|r| may_match_below(&r.components, &parts))
    }
}

/// Could a pattern with these components match a path strictly below `dir`?
fn may_match_below(components: &[Option<Glob>], dir: &[&str]) -> bool {
    for (i, d) in dir.iter().enumerate() {
        match components.get(i) {
            None => return false,
            Some(None) => return true,
            Some(Some(g)) if !g.matches(d) => return false,
            Some(Some(_)) => {}
        }
    }
    components.len() > dir.len()
}

/// The ignore files that may apply to a build, most specific first: `<Dockerfile>.dockerignore`
/// next to the Dockerfile (BuildKit), then podman's `.containerignore` and docker's
/// `.dockerignore` at the context root. A relative `dockerfile` is taken relative to `context`.
pub fn ignore_file_candidates(context: &Path, dockerfile: &Path) -> Vec<PathBuf> {
    let df = if dockerfile.is_absolute() {
        dockerfile.to_path_buf()
    } else {
        context.join(dockerfile)
    };
    let mut specific = df.into_os_string();
    specific.push(".dockerignore");
    vec![
        PathBuf::from(specific),
        context.join(".containerignore"),
        context.join(".dockerignore"),
    ]
}

/// The ignore file that applies: the first of [`ignore_file_candidates`] for which `exists`
/// says yes.
pub fn select_ignore_file_with(
    context: &Path,
    dockerfile: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    ignore_file_candidates(context, dockerfile)
        .into_iter()
        .find(|p| exists(p))
}

/// The ignore file that applies, looking at the filesystem.
pub fn select_ignore_file(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    select_ignore_file_with(context, dockerfile, Path::is_file)
}
