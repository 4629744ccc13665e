//! Parser directives: `# syntax=`, `# escape=`, `# check=` at the top of the file.
//!
//! As in BuildKit, directives are only recognised before the first line that is not one
//! (a plain comment, a blank line, an instruction, or an unknown directive); names are
//! case-insensitive and each may appear once.

use super::error::ParseErrorKind;

/// The parser directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (the frontend image; recorded, not acted upon).
    pub syntax: Option<String>,
    /// The escape character: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=` (BuildKit's check configuration; recorded, not acted upon).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Scans the directive block; remembers whether it is finished.
#[derive(Debug, Default)]
pub(crate) struct DirectiveScanner {
    pub directives: Directives,
    seen: Vec<String>,
    done: bool,
}

/// Splits `# name = value` into its trimmed parts.
fn split_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let value = value.trim();
    let mut chars = name.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

impl DirectiveScanner {
    /// Offers a physical line. Returns `Ok(true)` when it was a directive (and so consumed).
    pub fn offer(&mut self, line: &str) -> Result<bool, ParseErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(false);
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&name) {
            return Err(ParseErrorKind::Directive(format!(
                "only one {name} parser directive can be used"
            )));
        }
        match name.as_str() {
            "escape" => {
                self.directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseErrorKind::Directive(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        )))
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value),
            _ => self.directives.check = Some(value),
        }
        self.seen.push(name);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lines: &[&str]) -> Result<Directives, ParseErrorKind> {
        let mut s = DirectiveScanner::default();
        for l in lines {
            s.offer(l)?;
        }
        Ok(s.directives)
    }

    #[test]
    fn recognises_all_three() {
        let d = scan(&[
            "# syntax=docker/dockerfile:1",
            "#ESCAPE = `",
            "# check=skip=all",
        ])
        .unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn stops_at_first_non_directive() {
        let d = scan(&["# a comment", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
        let d = scan(&["# unknown=1", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
        let d = scan(&["", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn rejects_duplicates_and_bad_escape() {
        let e = scan(&["# escape=`", "# escape=\\"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "only one escape parser directive can be used"
        );
        let e = scan(&["# escape=x"]).unwrap_err();
        assert!(e.to_string().starts_with("invalid escape token 'x'"));
    }
}
