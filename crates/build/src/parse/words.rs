//! Splitting instruction arguments into words, with their offsets for error positions.

use super::error::ParseErrorKind;

/// A word of an instruction's arguments and the byte offset where it starts in the
/// logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub start: usize,
}

/// A positioned error: byte offset in the logical line and what is wrong.
pub(crate) type PosError = (usize, ParseErrorKind);

/// BuildKit's `extractBuilderFlags`: leading words that start with `--` are flags (quotes
/// removed, `\` escapes the next character); `--` alone ends them. Returns the flags and
/// the offset of the rest of the line.
pub(crate) fn extract_flags(text: &str, base: usize) -> Result<(Vec<Word>, usize), PosError> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut flags = Vec::new();
    let mut k = 0;
    loop {
        while k < bytes.len() && bytes[k].1.is_whitespace() {
            k += 1;
        }
        if k >= bytes.len() {
            return Ok((flags, base + text.len()));
        }
        let at = bytes[k].0;
        if !text[at..].starts_with("--") {
            return Ok((flags, base + at));
        }
        let mut word = String::new();
        while k < bytes.len() && !bytes[k].1.is_whitespace() {
            let c = bytes[k].1;
            if c == '"' || c == '\'' {
                let open = bytes[k].0;
                k += 1;
                loop {
                    let Some(&(_, q)) = bytes.get(k) else {
                        let which = if c == '"' { "double" } else { "single" };
                        return Err((base + open, ParseErrorKind::UnterminatedQuote(which)));
                    };
                    k += 1;
                    if q == c {
                        break;
                    }
                    if q == '\\' && k < bytes.len() {
                        word.push(bytes[k].1);
                        k += 1;
                    } else {
                        word.push(q);
                    }
                }
                continue;
            }
            if c == '\\' && k + 1 < bytes.len() {
                k += 1;
            }
            word.push(bytes[k].1);
            k += 1;
        }
        if word == "--" {
            let rest = bytes.get(k).map_or(text.len(), |b| b.0);
            return Ok((flags, base + rest));
        }
        flags.push(Word {
            text: word,
            start: base + at,
        });
    }
}

/// Splits on whitespace only (BuildKit's `parseStringsWhitespaceDelimited`).
pub(crate) fn split_whitespace(text: &str, base: usize) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(Word {
                    text: text[s..i].to_string(),
                    start: base + s,
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: text[s..].to_string(),
            start: base + s,
        });
    }
    out
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the words (they are
/// removed later by expansion), as BuildKit's `parseWords` does for ENV, LABEL and ARG.
pub(crate) fn split_shell_words(
    text: &str,
    base: usize,
    escape: char,
) -> Result<Vec<Word>, PosError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = None;
    let mut quote: Option<(char, usize)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some((q, _)) = quote {
            word.push(c);
            if c == escape && q == '"' {
                if let Some((_, n)) = chars.next() {
                    word.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push(Word {
                    text: std::mem::take(&mut word),
                    start: base + s,
                });
            }
            continue;
        }
        start.get_or_insert(i);
        word.push(c);
        if c == escape {
            if let Some((_, n)) = chars.next() {
                word.push(n);
            }
        } else if c == '"' || c == '\'' {
            quote = Some((c, i));
        }
    }
    if let Some((q, at)) = quote {
        let which = if q == '"' { "double" } else { "single" };
        return Err((base + at, ParseErrorKind::UnterminatedQuote(which)));
    }
    if let Some(s) = start {
        out.push(Word {
            text: word,
            start: base + s,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(w: &[Word]) -> Vec<&str> {
        w.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn flags_stop_at_first_plain_word() {
        let (f, rest) = extract_flags("--from=build  --link a b", 4).unwrap();
        assert_eq!(texts(&f), vec!["--from=build", "--link"]);
        assert_eq!(f[1].start, 4 + 14);
        assert_eq!(rest, 4 + 21);
    }

    #[test]
    fn flags_remove_quotes_and_double_dash_ends() {
        let (f, rest) = extract_flags(r#"--chown="a b" -- --x"#, 0).unwrap();
        assert_eq!(texts(&f), vec!["--chown=a b"]);
        assert_eq!(rest, 16);
        let (f, rest) = extract_flags("--link", 0).unwrap();
        assert_eq!(texts(&f), vec!["--link"]);
        assert_eq!(rest, 6);
        assert!(extract_flags("--a=\"x", 0).is_err());
    }

    #[test]
    fn shell_words_keep_quotes() {
        let w = split_shell_words(r#"a="x y" b=\" c='z'"#, 0, '\\').unwrap();
        assert_eq!(texts(&w), vec![r#"a="x y""#, r#"b=\""#, "c='z'"]);
        assert_eq!(w[1].start, 8);
        let e = split_shell_words("a=\"x", 10, '\\').unwrap_err();
        assert_eq!(e.0, 12);
    }

    #[test]
    fn whitespace_words() {
        let w = split_whitespace(" a  \"b c\"", 3);
        assert_eq!(texts(&w), vec!["a", "\"b", "c\""]);
        assert_eq!(w[0].start, 4);
    }
}
