//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on RUN, COPY and ADD.
//!
//! As in BuildKit, the instruction's line is split into shell words (quotes kept, so a
//! quoted `"<<EOF"` is not a heredoc); each word of the form `[fd]<<[-]NAME` opens a
//! heredoc, and their bodies follow the instruction's line in order, each ended by a line
//! that is exactly `NAME` (after stripping leading tabs for `<<-`).

use super::ast::Heredoc;
use super::error::ParseErrorKind;
use super::words::{split_shell_words, PosError};

/// A heredoc opener found on an instruction's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The word as written (e.g. `<<-"EOF"`).
    pub word: String,
    pub name: String,
    pub expand: bool,
    pub strip_tabs: bool,
    pub fd: Option<u32>,
    /// Byte offset of the word in the logical line.
    pub start: usize,
}

/// Parses one shell word as a heredoc opener.
pub(crate) fn parse_marker(word: &str) -> Option<Marker> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name: String = rest
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\'))
        .collect();
    if name.is_empty() {
        return None;
    }
    Some(Marker {
        word: word.to_string(),
        expand: name.len() == rest.len(),
        name,
        strip_tabs,
        fd: word[..digits].parse().ok(),
        start: 0,
    })
}

/// Finds the heredoc openers in `text` (the arguments, at `base` in the logical line).
pub(crate) fn find_markers(text: &str, base: usize) -> Vec<Marker> {
    if !text.contains("<<") {
        return Vec::new();
    }
    let Ok(words) = split_shell_words(text, base, '\\') else {
        return Vec::new();
    };
    words
        .into_iter()
        .filter_map(|w| {
            parse_marker(&w.text).map(|mut m| {
                m.start = w.start;
                m
            })
        })
        .collect()
}

/// Reads the bodies of `markers` from `lines[*i..]`, leaving `*i` after the last terminator.
pub(crate) fn read_bodies(
    markers: &[Marker],
    lines: &[&str],
    i: &mut usize,
) -> Result<Vec<Heredoc>, PosError> {
    let mut docs = Vec::new();
    for m in markers {
        let mut content = String::new();
        loop {
            let Some(line) = lines.get(*i) else {
                return Err((m.start, ParseErrorKind::UnterminatedHeredoc(m.name.clone())));
            };
            *i += 1;
            let line = if m.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line == m.name {
                break;
            }
            content.push_str(line);
            content.push('\n');
        }
        docs.push(Heredoc {
            name: m.name.clone(),
            content,
            expand: m.expand,
            strip_tabs: m.strip_tabs,
            fd: m.fd,
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_forms() {
        let m = parse_marker("<<EOF").unwrap();
        assert_eq!(
            (m.name.as_str(), m.expand, m.strip_tabs, m.fd),
            ("EOF", true, false, None)
        );
        let m = parse_marker("<<-\"END\"").unwrap();
        assert_eq!(
            (m.name.as_str(), m.expand, m.strip_tabs),
            ("END", false, true)
        );
        let m = parse_marker("<<'X'").unwrap();
        assert!(!m.expand);
        let m = parse_marker("3<<FILE").unwrap();
        assert_eq!(m.fd, Some(3));
        assert!(parse_marker("<<<here").is_none());
        assert!(parse_marker("<<").is_none());
        assert!(parse_marker("a<<EOF").is_none());
    }

    #[test]
    fn finds_markers_outside_quotes_only() {
        let ms = find_markers("cat <<A > a && echo \"<<B\" && cat <<-C", 4);
        let names: Vec<_> = ms.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["A", "C"]);
        assert_eq!(ms[0].start, 8);
    }

    #[test]
    fn reads_bodies_in_order_and_strips_tabs() {
        let lines = ["RUN x", "one", "\ttwo", "A", "\t\tthree", "\tB", "after"];
        let ms = find_markers("<<A <<-B", 4);
        let mut i = 1;
        let docs = read_bodies(&ms, &lines, &mut i).unwrap();
        assert_eq!(docs[0].content, "one\n\ttwo\n");
        assert_eq!(docs[1].content, "three\n");
        assert_eq!(i, 6);
    }

    #[test]
    fn unterminated_body() {
        let lines = ["RUN <<EOF", "echo", "EOF "];
        let ms = find_markers("<<EOF", 4);
        let mut i = 1;
        let e = read_bodies(&ms, &lines, &mut i).unwrap_err();
        assert_eq!(e, (4, ParseErrorKind::UnterminatedHeredoc("EOF".into())));
    }
}
