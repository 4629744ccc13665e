//! The JSON (exec) form: a JSON array of strings, parsed without a JSON library.

/// The outcome of trying to read a JSON array of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonArray {
    /// A well-formed array of strings.
    Strings(Vec<String>),
    /// The text does not start with `[`.
    NotJson,
    /// The text ends inside the array or one of its strings.
    Unterminated,
    /// Malformed (not strings, bad escape, trailing text...).
    Invalid(String),
}

/// Parses `text` (already trimmed) as a JSON array of strings.
pub(crate) fn parse_json_array(text: &str) -> JsonArray {
    if !text.starts_with('[') {
        return JsonArray::NotJson;
    }
    let mut p = Cursor {
        chars: text[1..].chars().collect(),
        k: 0,
    };
    let mut out = Vec::new();
    p.skip_ws();
    if p.peek() == Some(']') {
        p.k += 1;
        return p.finish(out);
    }
    loop {
        p.skip_ws();
        match p.peek() {
            None => return JsonArray::Unterminated,
            Some('"') => {}
            Some(c) => return JsonArray::Invalid(format!("expected a string, found '{c}'")),
        }
        p.k += 1;
        match p.string() {
            Ok(s) => out.push(s),
            Err(e) => return e,
        }
        p.skip_ws();
        match p.next() {
            None => return JsonArray::Unterminated,
            Some(',') => continue,
            Some(']') => return p.finish(out),
            Some(c) => return JsonArray::Invalid(format!("expected ',' or ']', found '{c}'")),
        }
    }
}

struct Cursor {
    chars: Vec<char>,
    k: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.k).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.k += 1;
        c
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.k += 1;
        }
    }

    fn finish(&mut self, out: Vec<String>) -> JsonArray {
        self.skip_ws();
        match self.peek() {
            None => JsonArray::Strings(out),
            Some(_) => JsonArray::Invalid("text after the closing ']'".into()),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonArray> {
        let mut v = 0;
        for _ in 0..4 {
            let c = self.next().ok_or(JsonArray::Unterminated)?;
            let d = c
                .to_digit(16)
                .ok_or_else(|| JsonArray::Invalid(format!("bad \\u escape digit '{c}'")))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Reads the rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Result<String, JsonArray> {
        let mut s = String::new();
        loop {
            let c = self.next().ok_or(JsonArray::Unterminated)?;
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let e = self.next().ok_or(JsonArray::Unterminated)?;
                    match e {
                        '"' | '\\' | '/' => s.push(e),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.peek() == Some('\\')
                                && self.chars.get(self.k + 1) == Some(&'u')
                            {
                                self.k += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            s.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(JsonArray::Invalid(format!("bad escape '\\{e}'"))),
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(JsonArray::Invalid("control character in string".into()))
                }
                c => s.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_arrays() {
        assert_eq!(parse_json_array(r#"["a", "b c"]"#), strings(&["a", "b c"]));
        assert_eq!(parse_json_array("[]"), strings(&[]));
        assert_eq!(
            parse_json_array(r#"[ "\"q\"\t\u00e9\ud83d\ude00" ]"#),
            strings(&["\"q\"\té😀"])
        );
    }

    #[test]
    fn classifies_failures() {
        assert_eq!(parse_json_array("echo"), JsonArray::NotJson);
        assert_eq!(parse_json_array(r#"["a", "b""#), JsonArray::Unterminated);
        assert_eq!(parse_json_array(r#"["a"#), JsonArray::Unterminated);
        assert!(matches!(parse_json_array("[a]"), JsonArray::Invalid(_)));
        assert!(matches!(
            parse_json_array(r#"["a"] x"#),
            JsonArray::Invalid(_)
        ));
        assert!(matches!(
            parse_json_array(r#"["a" "b"]"#),
            JsonArray::Invalid(_)
        ));
        assert!(matches!(parse_json_array("[1]"), JsonArray::Invalid(_)));
    }
}
