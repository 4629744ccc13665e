//! Physical lines to logical lines: comments, blank lines and continuations.
//!
//! BuildKit joins a line that ends with the escape character (then optional blanks) to the
//! next one without a separator, skips comment and blank lines inside a continuation, and
//! keeps the leading blanks of continued lines. Each logical line keeps a map back to the
//! physical positions so errors can say `line:column`.

/// One instruction's text after joining continuations, with its source positions.
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    /// The joined text, leading blanks of the first line removed.
    pub text: String,
    /// `(offset in text, 1-based line, 1-based column of that offset)`, ascending.
    segments: Vec<(usize, usize, usize)>,
    /// Last physical line that contributed.
    pub end_line: usize,
}

impl Logical {
    /// First physical line.
    #[cfg(test)]
    pub fn line(&self) -> usize {
        self.segments[0].1
    }

    /// The `(line, column)` of a byte offset into [`Logical::text`].
    pub fn pos(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= offset)
            .unwrap_or(&self.segments[0]);
        let chars = self.text[seg.0..offset].chars().count();
        (seg.1, seg.2 + chars)
    }
}

/// Splits source text into physical lines (without `\n` or a trailing `\r`).
pub(crate) fn physical_lines(src: &str) -> Vec<&str> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut lines: Vec<&str> = src
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if src.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// True for a line that is blank or a comment (`#` after optional blanks).
pub(crate) fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// If `line` ends with the escape character (then optional blanks), the line without them.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// Reads the logical line that starts at `lines[*i]` (which must not be blank or a comment)
/// and leaves `*i` on the first line after it.
pub(crate) fn read_logical(lines: &[&str], i: &mut usize, escape: char) -> Logical {
    let first = lines[*i];
    let trimmed = first.trim_start();
    let lead = first.chars().count() - trimmed.chars().count();
    let mut segments = vec![(0, *i + 1, lead + 1)];
    let mut end_line = *i + 1;
    let mut text = String::new();
    let mut continued = match strip_continuation(trimmed, escape) {
        Some(head) => {
            text.push_str(head);
            true
        }
        None => {
            text.push_str(trimmed);
            false
        }
    };
    *i += 1;
    while continued && *i < lines.len() {
        let line = lines[*i];
        *i += 1;
        if is_blank_or_comment(line) {
            continue;
        }
        segments.push((text.len(), *i, 1));
        end_line = *i;
        match strip_continuation(line, escape) {
            Some(head) => text.push_str(head),
            None => {
                text.push_str(line);
                continued = false;
            }
        }
    }
    let len = text.trim_end().len();
    text.truncate(len);
    Logical {
        text,
        segments,
        end_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(src: &str, escape: char) -> Logical {
        let lines = physical_lines(src);
        let mut i = 0;
        read_logical(&lines, &mut i, escape)
    }

    #[test]
    fn joins_continuations_without_separator() {
        let l = logical("RUN a && \\\n    b \\  \n  c\nRUN d\n", '\\');
        assert_eq!(l.text, "RUN a &&     b   c");
        assert_eq!(l.line(), 1);
        assert_eq!(l.end_line, 3);
    }

    #[test]
    fn skips_comments_and_blanks_inside_continuation() {
        let l = logical("RUN a \\\n# note\n\n   b\n", '\\');
        assert_eq!(l.text, "RUN a    b");
        assert_eq!(l.end_line, 4);
        assert_eq!(l.pos(7), (4, 2));
    }

    #[test]
    fn backtick_escape() {
        let l = logical("RUN dir c:\\ `\n  /b\n", '`');
        assert_eq!(l.text, "RUN dir c:\\   /b");
        let l = logical("RUN dir c:\\\nRUN x\n", '`');
        assert_eq!(l.text, "RUN dir c:\\");
    }

    #[test]
    fn positions_track_leading_blanks_and_lines() {
        let l = logical("  FROM x\n", '\\');
        assert_eq!(l.pos(0), (1, 3));
        assert_eq!(l.pos(5), (1, 8));
    }

    #[test]
    fn physical_lines_handle_crlf_and_bom() {
        assert_eq!(physical_lines("\u{feff}a\r\nb\n"), vec!["a", "b"]);
        assert_eq!(physical_lines("a"), vec!["a"]);
    }
}
