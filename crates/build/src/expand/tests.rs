//! Expansion tests.

use super::*;

fn env(k: &str) -> Option<String> {
    match k {
        "NAME" => Some("app".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("a  b".into()),
        "HOME" => Some("/root".into()),
        _ => None,
    }
}

fn w(s: &str) -> String {
    expand_word(s, '\\', &env).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn ws(s: &str) -> Vec<String> {
    expand_words(s, '\\', &env).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn plain_and_braced() {
    assert_eq!(w("$NAME"), "app");
    assert_eq!(w("${NAME}"), "app");
    assert_eq!(w("/srv/$NAME/bin"), "/srv/app/bin");
    assert_eq!(w("${NAME}_x"), "app_x");
    assert_eq!(w("$NAME_x"), "");
    assert_eq!(w("$UNSET"), "");
    assert_eq!(w("cost: $"), "cost: $");
    assert_eq!(w("$-x"), "$-x");
}

#[test]
fn defaults_and_alternatives() {
    assert_eq!(w("${UNSET:-def}"), "def");
    assert_eq!(w("${EMPTY:-def}"), "def");
    assert_eq!(w("${EMPTY-def}"), "");
    assert_eq!(w("${UNSET-def}"), "def");
    assert_eq!(w("${NAME:-def}"), "app");
    assert_eq!(w("${NAME:+alt}"), "alt");
    assert_eq!(w("${EMPTY:+alt}"), "");
    assert_eq!(w("${EMPTY+alt}"), "alt");
    assert_eq!(w("${UNSET+alt}"), "");
    assert_eq!(w("${UNSET:-$HOME/x}"), "/root/x");
    assert_eq!(w("${UNSET:-${NAME:-no}}"), "app");
    assert_eq!(w("${UNSET:-\"a b\"}"), "a b");
    assert_eq!(w("${UNSET:-a\\}b}"), "a}b");
}

#[test]
fn required_variables() {
    assert_eq!(w("${NAME:?must}"), "app");
    let e = expand_word("${UNSET:?set it}", '\\', &env).unwrap_err();
    assert_eq!(e.to_string(), "UNSET: set it");
    let e = expand_word("${EMPTY:?}", '\\', &env).unwrap_err();
    assert_eq!(e.to_string(), "EMPTY: is not allowed to be unset or empty");
    assert_eq!(w("${EMPTY?}"), "");
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(w("'$NAME'"), "$NAME");
    assert_eq!(w("\"$NAME\""), "app");
    assert_eq!(w("\\$NAME"), "$NAME");
    assert_eq!(w("a\\ b"), "a b");
    assert_eq!(w(r#""say \"hi\" \$x \\ \n""#), r#"say "hi" $x \ \n"#);
    assert_eq!(w("'a\\b'"), "a\\b");
    assert_eq!(w("\"\""), "");
    assert_eq!(w("x\"y z\"'w'"), "xy zw");
}

#[test]
fn backtick_escape() {
    let got = expand_word("C:\\dir\\$NAME `$NAME", '`', &env).unwrap();
    assert_eq!(got, "C:\\dir\\app $NAME");
    let got = expand_word("\"a `\" b\"", '`', &env).unwrap();
    assert_eq!(got, "a \" b");
}

#[test]
fn errors() {
    let e = |s: &str| expand_word(s, '\\', &env).unwrap_err().to_string();
    assert!(e("'abc").contains("single quote"));
    assert!(e("\"abc").contains("double quote"));
    assert!(e("${}").starts_with("bad substitution"));
    assert!(e("${NAME").starts_with("missing '}'"));
    assert!(e("${NAME:-x").starts_with("missing '}'"));
    assert!(e("${NAME/a/b}").starts_with("unsupported modifier (/)"));
    assert!(e("${NAME:=x}").starts_with("unsupported modifier (:=)"));
}

#[test]
fn word_splitting() {
    assert_eq!(ws("a b  c"), vec!["a", "b", "c"]);
    assert_eq!(ws("\"a b\" c"), vec!["a b", "c"]);
    assert_eq!(ws("$SPACED x"), vec!["a", "b", "x"]);
    assert_eq!(ws("\"$SPACED\" x"), vec!["a  b", "x"]);
    assert_eq!(ws("'' x"), vec!["", "x"]);
    assert_eq!(ws("$UNSET x"), vec!["x"]);
    assert_eq!(ws("a\\ b"), vec!["a b"]);
    assert_eq!(ws("  "), Vec::<String>::new());
    assert_eq!(ws("pre${SPACED}post"), vec!["prea", "bpost"]);
}

#[test]
fn lookup_in_pairs_prefers_later() {
    let pairs = vec![
        ("A".to_string(), "1".to_string()),
        ("A".to_string(), "2".to_string()),
    ];
    let f = lookup_in(&pairs);
    assert_eq!(expand_word("$A", '\\', &f).unwrap(), "2");
}
