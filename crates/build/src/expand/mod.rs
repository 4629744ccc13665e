//! Shell-like word expansion, as BuildKit applies it to ENV, ARG, WORKDIR, COPY, ADD, USER,
//! EXPOSE, LABEL, VOLUME, STOPSIGNAL and FROM.
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `${VAR:?message}`, `${VAR?message}`; the escape character (`\` or `` ` ``)
//! makes the next character literal; single quotes suppress expansion; double quotes allow it
//! (and there the escape only affects `"`, `$` and itself); quotes are removed. Unset
//! variables expand to "". [`expand_words`] also splits into words on unquoted whitespace,
//! including whitespace that an unquoted expansion produces, as BuildKit's `ProcessWords`.

mod lexer;
#[cfg(test)]
mod tests;

use thiserror::Error;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// A quote that never closes.
    #[error("unexpected end of statement while looking for matching {0} quote")]
    UnterminatedQuote(&'static str),
    /// `${...` without its `}`.
    #[error("missing '}}' in substitution: {0}")]
    MissingBrace(String),
    /// `${}` or a name that is not a name.
    #[error("bad substitution: {0}")]
    BadSubstitution(String),
    /// An operator after `${NAME` that is not one of `-`, `+`, `?` (or their `:` forms).
    #[error("unsupported modifier ({modifier}) in substitution: {word}")]
    UnsupportedModifier {
        /// The operator found.
        modifier: String,
        /// The whole word.
        word: String,
    },
    /// `${NAME:?message}` with NAME unset (or empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable's name.
        name: String,
        /// The message given, or a default one.
        message: String,
    },
}

/// Expands one word: substitutions, escapes and quote removal, without splitting.
///
/// ```
/// let env = |k: &str| (k == "V").then(|| "1.2".to_string());
/// let got = strata_build::expand::expand_word(r#"app-${V:-dev}-'$V'"#, '\\', &env).unwrap();
/// assert_eq!(got, "app-1.2-$V");
/// ```
pub fn expand_word(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut lx = lexer::Lexer::new(word, escape, lookup, false);
    let words = lx.run()?;
    Ok(words.concat())
}

/// Expands `text` and splits it into words on unquoted whitespace.
///
/// ```
/// let env = |k: &str| (k == "PORTS").then(|| "80 443".to_string());
/// let got = strata_build::expand::expand_words("$PORTS \"8 9\"", '\\', &env).unwrap();
/// assert_eq!(got, vec!["80", "443", "8 9"]);
/// ```
pub fn expand_words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    let mut lx = lexer::Lexer::new(text, escape, lookup, true);
    lx.run()
}

/// A lookup over a list of `(name, value)` pairs where later pairs win.
pub fn lookup_in(pairs: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}
