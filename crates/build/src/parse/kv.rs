//! `key=value` lists: ENV, LABEL (both also in the legacy `KEY value` form) and ARG.

use super::ast::{ArgDecl, KeyValue};
use super::error::ParseErrorKind;
use super::words::{split_shell_words, PosError};

fn invalid(instruction: &'static str, at: usize, reason: String) -> PosError {
    (
        at,
        ParseErrorKind::InvalidArguments {
            instruction,
            reason,
        },
    )
}

/// Parses ENV or LABEL arguments (`text` at `base` in the logical line).
pub(crate) fn parse_key_values(
    instruction: &'static str,
    text: &str,
    base: usize,
    escape: char,
) -> Result<Vec<KeyValue>, PosError> {
    let words = split_shell_words(text, base, escape)?;
    let Some(first) = words.first() else {
        return Err(invalid(
            instruction,
            base,
            "requires at least one argument".into(),
        ));
    };
    if !first.text.contains('=') {
        // Legacy form: `ENV KEY the rest of the line`.
        let value = text[first.start - base + first.text.len()..].trim();
        if value.is_empty() {
            let reason = format!("{} needs a value: use {}=value", first.text, first.text);
            return Err(invalid(instruction, first.start, reason));
        }
        return Ok(vec![KeyValue {
            key: first.text.clone(),
            value: value.to_string(),
        }]);
    }
    words
        .iter()
        .map(|w| match w.text.split_once('=') {
            Some(("", _)) => Err(invalid(
                instruction,
                w.start,
                "names can not be blank".into(),
            )),
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
            None => {
                let reason = format!(
                    "can't find = in {:?}: must be of the form name=value",
                    w.text
                );
                Err(invalid(instruction, w.start, reason))
            }
        })
        .collect()
}

/// Parses ARG arguments: one or more `NAME` or `NAME=default`.
pub(crate) fn parse_args(text: &str, base: usize, escape: char) -> Result<Vec<ArgDecl>, PosError> {
    let words = split_shell_words(text, base, escape)?;
    if words.is_empty() {
        return Err(invalid(
            "ARG",
            base,
            "requires at least one argument".into(),
        ));
    }
    words
        .iter()
        .map(|w| {
            let (name, default) = match w.text.split_once('=') {
                Some((n, d)) => (n, Some(d.to_string())),
                None => (w.text.as_str(), None),
            };
            let valid = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if name.is_empty() || !valid {
                let reason = format!("has an invalid name {name:?}");
                return Err(invalid("ARG", w.start, reason));
            }
            Ok(ArgDecl {
                name: name.to_string(),
                default,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn env_forms() {
        let got = parse_key_values("ENV", r#"A=1 B="two words" C=\$x D="""#, 0, '\\').unwrap();
        assert_eq!(
            got,
            vec![
                kv("A", "1"),
                kv("B", "\"two words\""),
                kv("C", "\\$x"),
                kv("D", "\"\"")
            ]
        );
        let got = parse_key_values("ENV", "PATH  /usr/bin:/bin  more", 4, '\\').unwrap();
        assert_eq!(got, vec![kv("PATH", "/usr/bin:/bin  more")]);
    }

    #[test]
    fn env_errors() {
        let e = parse_key_values("ENV", "A=1 B", 4, '\\').unwrap_err();
        assert_eq!(e.0, 8);
        assert!(e.1.to_string().contains("can't find = in \"B\""));
        let e = parse_key_values("ENV", "=1", 0, '\\').unwrap_err();
        assert!(e.1.to_string().contains("blank"));
        let e = parse_key_values("ENV", "ONLY", 0, '\\').unwrap_err();
        assert!(e.1.to_string().contains("needs a value"));
        let e = parse_key_values("LABEL", "a=\"x", 0, '\\').unwrap_err();
        assert_eq!(e.1, ParseErrorKind::UnterminatedQuote("double"));
    }

    #[test]
    fn arg_forms() {
        let got = parse_args("A B=2 C=\"x y\"", 0, '\\').unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].default, None);
        assert_eq!(got[1].default.as_deref(), Some("2"));
        assert_eq!(got[2].default.as_deref(), Some("\"x y\""));
        assert!(parse_args("=1", 0, '\\').is_err());
        assert!(parse_args("", 0, '\\').is_err());
    }
}
