//! The expansion state machine behind [`super::expand_word`] and [`super::expand_words`].

use super::ExpandError;

/// Accumulates output words; knows whether splitting is on.
struct Out {
    words: Vec<String>,
    cur: String,
    in_word: bool,
    split: bool,
}

impl Out {
    /// A character that is part of a word whatever it is (quoted or escaped).
    fn raw(&mut self, c: char) {
        self.cur.push(c);
        self.in_word = true;
    }

    /// Marks that a word exists even if it stays empty (`""`).
    fn touch(&mut self) {
        self.in_word = true;
    }

    /// An unquoted expansion result: whitespace in it separates words when splitting.
    fn unquoted(&mut self, s: &str) {
        for c in s.chars() {
            if self.split && c.is_whitespace() {
                self.boundary();
            } else {
                self.raw(c);
            }
        }
    }

    fn boundary(&mut self) {
        if self.in_word {
            self.words.push(std::mem::take(&mut self.cur));
            self.in_word = false;
        }
    }
}

/// Walks the characters of the input.
pub(super) struct Lexer<'a> {
    chars: Vec<char>,
    k: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    split: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(
        text: &str,
        escape: char,
        lookup: &'a dyn Fn(&str) -> Option<String>,
        split: bool,
    ) -> Self {
        Lexer {
            chars: text.chars().collect(),
            k: 0,
            escape,
            lookup,
            split,
        }
    }

    fn text(&self) -> String {
        self.chars.iter().collect()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.k += 1;
        c
    }

    /// Expands the whole input.
    pub fn run(&mut self) -> Result<Vec<String>, ExpandError> {
        let split = self.split;
        let mut out = self.process(None, split)?;
        out.boundary();
        Ok(out.words)
    }

    /// Processes until `stop` (unquoted, consumed) or the end.
    fn process(&mut self, stop: Option<char>, split: bool) -> Result<Out, ExpandError> {
        let mut out = Out {
            words: Vec::new(),
            cur: String::new(),
            in_word: false,
            split,
        };
        while let Some(c) = self.bump() {
            if Some(c) == stop {
                return Ok(out);
            }
            match c {
                c if c == self.escape => {
                    if let Some(n) = self.bump() {
                        out.raw(n);
                    }
                }
                '\'' => self.single_quoted(&mut out)?,
                '"' => self.double_quoted(&mut out)?,
                '$' => {
                    let v = self.dollar()?;
                    out.unquoted(&v);
                }
                c if split && c.is_whitespace() => out.boundary(),
                c => out.raw(c),
            }
        }
        match stop {
            Some(_) => Err(ExpandError::MissingBrace(self.text())),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self, out: &mut Out) -> Result<(), ExpandError> {
        out.touch();
        loop {
            match self.bump() {
                None => return Err(ExpandError::UnterminatedQuote("single")),
                Some('\'') => return Ok(()),
                Some(c) => out.raw(c),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut Out) -> Result<(), ExpandError> {
        out.touch();
        loop {
            match self.bump() {
                None => return Err(ExpandError::UnterminatedQuote("double")),
                Some('"') => return Ok(()),
                Some('$') => {
                    let v = self.dollar()?;
                    v.chars().for_each(|c| out.raw(c));
                }
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.k += 1;
                        out.raw(n);
                    }
                    _ => out.raw(c),
                },
                Some(c) => out.raw(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek().filter(char::is_ascii_digit) {
            self.k += 1;
            name.push(c);
            return name;
        }
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.k += 1;
            name.push(c);
        }
        name
    }

    /// After a `$`: the substitution's value.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        self.k += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution(self.text()));
        }
        let value = (self.lookup)(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.k += 1;
        }
        let op = self
            .bump()
            .ok_or_else(|| ExpandError::MissingBrace(self.text()))?;
        if op == '}' && !colon {
            return Ok(value.unwrap_or_default());
        }
        if !matches!(op, '-' | '+' | '?') {
            let modifier = if colon {
                format!(":{op}")
            } else {
                op.to_string()
            };
            return Err(ExpandError::UnsupportedModifier {
                modifier,
                word: self.text(),
            });
        }
        let word = self.process(Some('}'), false)?.cur;
        // With ':' an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        Ok(match op {
            '-' if set => value.unwrap_or_default(),
            '-' => word,
            '+' if set => word,
            '+' => String::new(),
            _ if set => value.unwrap_or_default(),
            _ => {
                let message = if word.is_empty() {
                    let how = if colon { "unset or empty" } else { "unset" };
                    format!("is not allowed to be {how}")
                } else {
                    word
                };
                return Err(ExpandError::Required { name, message });
            }
        })
    }
}
