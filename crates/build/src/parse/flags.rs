//! Instruction flags (`--name=value`, `--name`) checked against what each instruction takes.

use super::error::ParseErrorKind;
use super::words::{PosError, Word};

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--name=value`, at most once.
    Str,
    /// `--name` or `--name=true|false`.
    Bool,
    /// `--name=value`, any number of times.
    Multi,
}

/// The flags each instruction accepts.
pub(crate) fn allowed_flags(instruction: &str) -> &'static [(&'static str, FlagKind)] {
    use FlagKind::*;
    match instruction {
        "FROM" => &[("platform", Str)],
        "RUN" => &[("mount", Multi), ("network", Str), ("security", Str)],
        "COPY" => &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", Multi),
        ],
        "ADD" => &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("checksum", Str),
            ("keep-git-dir", Bool),
            ("exclude", Multi),
        ],
        "HEALTHCHECK" => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        _ => &[],
    }
}

/// A flag's value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlagValue {
    pub value: String,
    /// Offset of the value.
    pub start: usize,
    /// Offset of the flag's `--`.
    pub flag_start: usize,
}

/// The flags of one instruction, validated.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, FlagValue)>,
    bools: Vec<(&'static str, bool)>,
}

impl Flags {
    /// Validates `words` (each `--name[=value]`) against the instruction's flags.
    pub fn parse(words: &[Word], instruction: &'static str) -> Result<Flags, PosError> {
        let allowed = allowed_flags(instruction);
        let mut flags = Flags::default();
        for w in words {
            let body = &w.text[2..];
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(name, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                let kind = ParseErrorKind::InvalidFlag {
                    flag: name.to_string(),
                    instruction,
                };
                return Err((w.start, kind));
            };
            let bad = |reason: &str| {
                let kind = ParseErrorKind::InvalidFlagValue {
                    flag: name.to_string(),
                    reason: reason.to_string(),
                };
                (w.start, kind)
            };
            match kind {
                FlagKind::Bool => {
                    let v = match value.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(_) => return Err(bad("expected true or false")),
                    };
                    if flags.bools.iter().any(|(n, _)| *n == name) {
                        return Err((w.start, ParseErrorKind::DuplicateFlag(name.into())));
                    }
                    flags.bools.push((name, v));
                }
                FlagKind::Str | FlagKind::Multi => {
                    let Some(value) = value else {
                        return Err(bad("missing a value"));
                    };
                    if kind == FlagKind::Str && flags.values.iter().any(|(n, _)| *n == name) {
                        return Err((w.start, ParseErrorKind::DuplicateFlag(name.into())));
                    }
                    let start = w.start + 3 + name.len();
                    let value = value.to_string();
                    let flag_start = w.start;
                    flags.values.push((
                        name,
                        FlagValue {
                            value,
                            start,
                            flag_start,
                        },
                    ));
                }
            }
        }
        Ok(flags)
    }

    /// The value of a single-valued flag.
    pub fn get(&self, name: &str) -> Option<&FlagValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of a single-valued flag, cloned.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.value.clone())
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> Vec<&FlagValue> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// A boolean flag (false when absent).
    pub fn bool(&self, name: &str) -> bool {
        self.bools.iter().any(|(n, v)| *n == name && *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Word> {
        ws.iter()
            .map(|w| Word {
                text: w.to_string(),
                start: 0,
            })
            .collect()
    }

    #[test]
    fn accepts_valid_flags() {
        let f = Flags::parse(
            &words(&[
                "--from=a",
                "--link",
                "--exclude=x",
                "--exclude=y",
                "--parents=false",
            ]),
            "COPY",
        )
        .unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.bool("link"));
        assert!(!f.bool("parents"));
        assert_eq!(f.all("exclude").len(), 2);
    }

    #[test]
    fn rejects_invalid_flags() {
        let e = Flags::parse(&words(&["--from=a"]), "ADD").unwrap_err().1;
        assert_eq!(e.to_string(), "flag --from is not valid for ADD");
        let e = Flags::parse(&words(&["--from"]), "COPY").unwrap_err().1;
        assert_eq!(e.to_string(), "invalid value for --from: missing a value");
        let e = Flags::parse(&words(&["--from=a", "--from=b"]), "COPY")
            .unwrap_err()
            .1;
        assert_eq!(e.to_string(), "duplicate flag --from");
        let e = Flags::parse(&words(&["--link=yes"]), "COPY").unwrap_err().1;
        assert!(e.to_string().contains("expected true or false"));
        let e = Flags::parse(&words(&["--x=1"]), "ENV").unwrap_err().1;
        assert_eq!(e.to_string(), "flag --x is not valid for ENV");
    }
}
