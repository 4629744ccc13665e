//! One `.dockerignore` pattern: Go's `filepath.Clean`, then moby/patternmatcher's glob
//! rules (`*` and `?` stop at `/`, `[...]` classes, `\` escapes, `**` spans directories),
//! matched without a regex engine.

/// Go's `filepath.Clean` on `/`-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` (and `**/`) before more pattern: `(.*/)?`.
    DirStar,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: one character other than `/` in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
}

impl Glob {
    /// Compiles a glob, or says why it is malformed.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    toks.push(if i == chars.len() {
                        Tok::Rest
                    } else {
                        Tok::DirStar
                    });
                }
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                '\\' => {
                    let n = chars.get(i).ok_or("trailing backslash in pattern")?;
                    toks.push(Tok::Lit(*n));
                    i += 1;
                }
                '[' => {
                    let (tok, next) = class(&chars, i)?;
                    toks.push(tok);
                    i = next;
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        Ok(Glob { toks })
    }

    /// True when the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let mut memo = vec![None; (self.toks.len() + 1) * (s.len() + 1)];
        self.at(0, 0, &s, &mut memo)
    }

    fn at(&self, t: usize, p: usize, s: &[char], memo: &mut [Option<bool>]) -> bool {
        let key = t * (s.len() + 1) + p;
        if let Some(v) = memo[key] {
            return v;
        }
        let v = match self.toks.get(t) {
            None => p == s.len(),
            Some(Tok::Rest) => true,
            Some(Tok::Lit(c)) => s.get(p) == Some(c) && self.at(t + 1, p + 1, s, memo),
            Some(Tok::One) => s.get(p).is_some_and(|c| *c != '/') && self.at(t + 1, p + 1, s, memo),
            Some(Tok::Class { negated, ranges }) => {
                s.get(p).is_some_and(|c| {
                    *c != '/' && ranges.iter().any(|(a, b)| a <= c && c <= b) != *negated
                }) && self.at(t + 1, p + 1, s, memo)
            }
            Some(Tok::Star) => {
                let mut k = p;
                loop {
                    if self.at(t + 1, k, s, memo) {
                        break true;
                    }
                    if k == s.len() || s[k] == '/' {
                        break false;
                    }
                    k += 1;
                }
            }
            Some(Tok::DirStar) => {
                self.at(t + 1, p, s, memo)
                    || (p + 1..=s.len()).any(|k| s[k - 1] == '/' && self.at(t + 1, k, s, memo))
            }
        };
        memo[key] = Some(v);
        v
    }
}

/// Parses a `[...]` class whose `[` is just before `chars[i]`; returns it and the next index.
fn class(chars: &[char], mut i: usize) -> Result<(Tok, usize), String> {
    let mut negated = false;
    if matches!(chars.get(i), Some('^') | Some('!')) {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i).ok_or("missing closing ] in pattern")?;
        i += 1;
        if c == ']' && !first {
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i - 1).ok_or("missing closing ] in pattern")?
        } else {
            c
        };
        let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            i += 2;
            let h = chars[i - 1];
            if h == '\\' {
                i += 1;
                *chars.get(i - 1).ok_or("missing closing ] in pattern")?
            } else {
                h
            }
        } else {
            lo
        };
        if hi < lo {
            return Err(format!("bad range {lo}-{hi} in pattern"));
        }
        ranges.push((lo, hi));
    }
    Ok((Tok::Class { negated, ranges }, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().matches(s)
    }

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("a//b/./c/", "a/b/c"),
            ("./a", "a"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("", "."),
            ("/", "/"),
            ("a/b/../../..", ".."),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }

    #[test]
    fn star_and_question_stop_at_slash() {
        assert!(m("*.md", "README.md"));
        assert!(!m("*.md", "docs/README.md"));
        assert!(m("docs/*.md", "docs/a.md"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("*", "anything"));
        assert!(!m("*", "a/b"));
    }

    #[test]
    fn double_star() {
        assert!(m("**/*.log", "a.log"));
        assert!(m("**/*.log", "x/y/a.log"));
        assert!(m("**", "x/y"));
        assert!(m("a/**", "a/b/c"));
        assert!(!m("a/**", "a"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/xb"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("file[0-9].txt", "file7.txt"));
        assert!(!m("file[0-9].txt", "filex.txt"));
        assert!(m("file[^0-9].txt", "filex.txt"));
        assert!(m("[ab]*", "banana"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("[]]", "]"));
        assert!(Glob::new("file[0-9").is_err());
        assert!(Glob::new("x\\").is_err());
    }
}
